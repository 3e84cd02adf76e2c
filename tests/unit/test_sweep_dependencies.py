"""The sweep reports each account's dependencies: in its result lines, its summary and its
digest; a check AWS will not answer is said, and never fails the sweep."""

from __future__ import annotations

from detector import pipeline, retry
from detector.domain.dependencies import Facts, Selectors, Trail, Unreadable
from detector.errors import AwsCallError, Failure
from detector.sweep import Sweeper
from tests.fakes import FakeConfirmer, FakeSecurityHub, FakeSlack, InMemoryLedger

GOOD, BROKEN, DENIED, LOCKED = "111111111111", "222222222222", "333333333333", "444444444444"
REGION = "us-east-1"
TRAIL = Trail(
    "arn:aws:cloudtrail:us-east-1:111111111111:trail/t",
    REGION,
    multi_region=True,
    logging=True,
    selectors=Selectors(basic=({"ReadWriteType": "All"},)),
)


class _NoKeys:
    def root_keys_present(self, account_id: str) -> bool:
        return False


class _Reader:
    """Each account's facts, as its name says."""

    def read(self, account_id: str) -> Facts:
        if account_id == LOCKED:
            raise AwsCallError("sts.AssumeRole", "AccessDenied", "no", failure=Failure.PERMANENT)
        denied = Unreadable("AccessDeniedException")
        if account_id == DENIED:
            return Facts(REGION, "fwd", trails=denied, rule_state=denied, hub_enabled=denied)
        if account_id == BROKEN:
            return Facts(REGION, "fwd", trails=(), rule_state="DISABLED", hub_enabled=False)
        return Facts(REGION, "fwd", trails=(TRAIL,), rule_state="ENABLED", hub_enabled=True)


def _deps(slack: FakeSlack) -> pipeline.Dependencies:
    return pipeline.Dependencies(
        region=REGION,
        confirmer=FakeConfirmer(),
        findings=FakeSecurityHub(),
        alerter=slack,
        ledger=InMemoryLedger(),
        retry_env=retry.RetryEnv(sleep=lambda _s: None),
        lease_s=60,
    )


def test_each_accounts_checks_are_in_its_line_the_summary_and_the_digest() -> None:
    slack = FakeSlack()
    sweeper = Sweeper(_deps(slack), _NoKeys(), dependencies=_Reader())
    summary = sweeper.run([GOOD, BROKEN, DENIED, LOCKED])

    assert summary.counts == {"clean": 4}  # nothing failed: the checks never fail a sweep
    lines = {r.account: r.as_dict() for r in summary.results}
    assert lines[GOOD]["dependencies"] == {"trail": "ok", "rule": "ok", "security-hub": "ok"}
    assert "dependency_problems" not in lines[GOOD]
    assert lines[BROKEN]["dependency_problems"] == [
        f"no CloudTrail trail covers {REGION}",
        "rule fwd is DISABLED",
        f"Security Hub is not enabled in {REGION}",
    ]
    assert set(lines[DENIED]["dependencies"].values()) == {"unreadable"}
    assert "trails cannot be read (AccessDeniedException)" in lines[DENIED]["dependency_problems"]
    assert set(lines[LOCKED]["dependencies"].values()) == {"unreadable"}
    assert summary.as_dict()["dependencies"] == {
        "trail": {"ok": 1, "problem": 1, "unreadable": 2},
        "rule": {"ok": 1, "problem": 1, "unreadable": 2},
        "security-hub": {"ok": 1, "problem": 1, "unreadable": 2},
    }
    (digest,) = slack.top_level()  # nothing changed, but three accounts need attention
    text = str(digest.message.blocks)
    assert "3 account(s) need attention" in text
    assert f"{BROKEN}: no CloudTrail trail covers {REGION}; rule fwd is DISABLED" in text
    assert GOOD not in text


def test_no_digest_when_nothing_changed_and_every_check_is_ok() -> None:
    slack = FakeSlack()
    Sweeper(_deps(slack), _NoKeys(), dependencies=_Reader()).run([GOOD])
    assert slack.top_level() == []
