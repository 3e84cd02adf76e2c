"""Removal by two responders, with in-memory fakes of our own ports: the request's state machine,
a live removal (RootCredentials fake), and each refusal: nothing removed, nothing resolved."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector import metrics
from detector.domain.delivery import KeyRecord
from detector.domain.interaction import Click, Refused, parse
from detector.domain.message import SlackMessage
from detector.domain.removal import (
    RemovalRequest,
    RemovalStatus,
    button_value,
    parse_value,
    planned_calls,
    resolution_note,
)
from detector.domain.triage import MAX_NOTE, utf16_len
from detector.errors import ExternalServiceError
from detector.triage import TriageDeps, answer, run_job
from sandbox.slack_interactions import SlackUser, block_actions, form_body, signed_headers
from tests.fakes import (
    Clock,
    FakeRootRemoval,
    FakeTriageSlack,
    FakeWorkflow,
    InMemoryTriageLedger,
    Posted,
)

SECRET = "s" * 32
TEAM, CHANNEL = "T0SANDBOX", "C0FAKE"
ALICE, RITA, BOB = (
    SlackUser("U0ALICE", "alice"),
    SlackUser("U0RITA", "rita"),
    SlackUser("U0BOB", "bob"),
)
ACCOUNT, KEY = "111122223333", "AKIAIOSFODNN7EXAMPLE"
FID = f"root-key-detector/{ACCOUNT}/root-access-key/0123456789abcdef01234567"
REMOVE, CONFIRM, CANCEL = "root_remove_key", "root_confirm_removal", "root_cancel_removal"


class World:
    """One key's alert, the fakes behind triage, and the jobs its clicks started."""

    def __init__(self, *, enabled: bool = True, dry_run: bool = False, key: str | None = KEY):
        self.clock = Clock()
        self.ledger = InMemoryTriageLedger(self.clock)
        self.slack = FakeTriageSlack(CHANNEL)
        self.workflow = FakeWorkflow()
        self.creds = FakeRootRemoval()
        self.creds.keys[ACCOUNT] = [KEY]
        self.jobs: list[dict[str, Any]] = []
        self.deps = TriageDeps(
            ledger=self.ledger,
            workflow=self.workflow,
            slack=self.slack,
            submit=self.jobs.append,
            signing_secret=lambda: SECRET,
            team_id=TEAM,
            channel_id=CHANNEL,
            responders=frozenset({ALICE.user_id, RITA.user_id}),
            clock=self.clock,
            removal_enabled=enabled,
            removal_dry_run=dry_run,
            root_credentials=lambda: self.creds,
        )
        seen = datetime.fromtimestamp(self.clock(), UTC)
        self.ledger.open_key(
            FID, account=ACCOUNT, key_id=key, event_id="e1", seen=seen, lease_s=60, claim=True
        )
        self.ref = self.slack.post(SlackMessage(text="Root access key created"))
        self.ledger.set_alert(FID, "e1", self.ref)
        self.ledger.record_state(
            FID,
            observed=seen,
            open_=True,
            finding={"ProductArn": "arn:aws:securityhub:us-east-1:1:product/1/default"},
            shown=SlackMessage(text="Root access key created").payload(),
        )
        # The alert as the detector draws it (the pipeline's drawing, redone by triage).
        from detector.triage import redraw  # noqa: PLC0415

        redraw(FID, self.deps)

    @property
    def alert(self) -> Posted:
        return self.slack.messages[0]

    def buttons(self) -> dict[str, str]:
        return {
            e["action_id"]: e.get("value", "")
            for b in self.alert.shows.payload()["blocks"]
            for e in b.get("elements", [])
            if "action_id" in e
        }

    def click(self, user: SlackUser, action: str, value: str | None = None) -> int:
        value = self.buttons()[action] if value is None else value
        payload = block_actions(
            user,
            channel=CHANNEL,
            message_ts=self.ref.ts,
            action_id=action,
            value=value,
            response_url="https://hooks.slack.com/actions/T0/1/x",
        )
        body = form_body(payload)
        event = {"headers": signed_headers(SECRET, body, at=self.clock()), "body": body.decode()}
        return int(answer(event, self.deps)["statusCode"])

    def run(self) -> list[str]:
        taken, self.jobs[:] = list(self.jobs), []
        return [run_job(job, self.deps) for job in taken]

    def replies(self) -> list[str]:
        return [str(m.message.payload()["blocks"]) for m in self.slack.replies(self.alert)]

    def told(self) -> str:
        return self.slack.told[-1][1]

    def record(self) -> KeyRecord:
        record = self.ledger.read_key(FID)
        assert record is not None
        return record

    def status(self) -> str:
        return str(self.alert.shows.payload()["blocks"])


def asked_and_confirmed(world: World) -> list[str]:
    assert world.click(ALICE, REMOVE) == 200
    assert world.run() == ["requested"]
    assert world.click(RITA, CONFIRM) == 200
    return world.run()


def test_two_responders_remove_the_key_and_resolve_the_finding_with_who_and_when() -> None:
    world = World()
    assert asked_and_confirmed(world) == ["removed"]
    assert world.creds.removals == [(ACCOUNT, KEY)]
    ((account, ident, status, note, _),) = world.workflow.updates
    assert (account, ident["Id"], status) == (ACCOUNT, FID, "RESOLVED")
    assert "asked by alice (U0ALICE) at " in note
    assert "confirmed by rita (U0RITA) at " in note
    asked, done = world.replies()
    assert "alice (U0ALICE) asks to remove root access key AKIA…MPLE" in asked
    assert "alice (U0ALICE)" in done
    assert "rita (U0RITA)" in done
    assert "iam.DeleteAccessKey AKIA…MPLE" in done  # the calls, the key masked
    assert KEY not in done
    assert "The finding is resolved" in done
    assert "removed" in world.status()
    assert "Workflow RESOLVED" in world.status()
    assert "Compliance stays" not in world.status()  # IAM no longer lists the key
    assert REMOVE not in world.buttons()
    assert RemovalRequest.from_dict(world.record().removal) is not None
    assert world.record().removal["status"] == "REMOVED"  # type: ignore[index]


def test_the_same_responder_cannot_confirm_their_own_request() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    assert world.click(ALICE, CONFIRM) == 403
    assert "a second responder must confirm" in world.told()
    assert world.jobs == []
    assert world.creds.removals == []
    assert world.record().removal["status"] == "PENDING"  # type: ignore[index]


def test_a_request_by_someone_no_longer_allowed_cannot_be_confirmed() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.deps = replace(world.deps, responders=frozenset({RITA.user_id, BOB.user_id}))
    assert world.click(RITA, CONFIRM) == 403
    assert "may no longer act" in world.told()
    assert world.jobs == []
    assert world.creds.removals == []


def test_a_late_confirmation_is_told_the_request_expired() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.clock.now += 3601
    assert world.click(RITA, CONFIRM) == 409
    assert "expired" in world.told()
    assert "1 hour" in world.told()
    assert world.jobs == []
    assert world.creds.removals == []
    assert "not confirmed in time" in world.status()
    assert world.click(RITA, REMOVE) == 200  # the alert offers Remove key again
    assert world.run() == ["requested"]


def test_a_delete_the_task_policy_does_not_allow_is_said_and_nothing_is_resolved() -> None:
    world = World()
    world.creds.deny = "DeleteAccessKey"
    assert asked_and_confirmed(world) == ["failed"]
    failed = world.replies()[-1]
    assert "AccessDenied" in failed
    assert "DeleteAccessKey" in failed
    assert "not resolved" in failed
    assert world.workflow.updates == []
    assert world.creds.keys[ACCOUNT] == [KEY]
    assert REMOVE in world.buttons()  # a new request may be made


def test_iam_still_listing_the_key_after_deletion_is_said_and_nothing_is_resolved() -> None:
    world = World()
    world.creds.keep = True
    assert asked_and_confirmed(world) == ["failed"]
    assert "IAM still lists the key" in world.replies()[-1]
    assert world.workflow.updates == []
    assert "failed" in world.status()


def test_a_confirmation_without_root_credentials_wired_fails_and_says_so() -> None:
    world = World()
    unwired = next(f.default for f in fields(TriageDeps) if f.name == "root_credentials")
    world.deps.root_credentials = unwired  # type: ignore[assignment]
    assert asked_and_confirmed(world) == ["failed"]
    assert "ConfigError" in world.replies()[-1]
    assert "the key was not removed" in world.replies()[-1]
    assert world.workflow.updates == []


def test_dry_run_makes_no_removal_call_and_names_each_one() -> None:
    world = World(dry_run=True)
    assert asked_and_confirmed(world) == ["dry-run"]
    assert world.creds.removals == []
    assert world.workflow.updates == []
    reply = world.replies()[-1]
    for call in planned_calls(ACCOUNT, KEY):
        assert call.split(" (")[0] in reply


def test_a_retried_confirmation_never_removes_twice() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (job,) = world.jobs
    world.slack.fail_posts = 1  # the reply fails after the removal: Lambda retries the job
    with pytest.raises(Exception, match="down"):
        world.run()
    world.jobs.append(job)
    world.jobs.append(job)  # and delivers it twice
    assert world.run() == ["removed", "unchanged"]
    assert world.creds.removals == [(ACCOUNT, KEY)]
    assert len(world.workflow.updates) == 1
    assert len(world.replies()) == 2


def test_a_key_already_removed_is_not_asked_again() -> None:
    world = World()
    asked_and_confirmed(world)
    assert world.click(ALICE, REMOVE, button_value(FID, KEY)) == 409
    assert "was removed" in world.told()
    assert world.jobs == []


def test_a_resolved_finding_offers_no_removal_and_refuses_one() -> None:
    world = World()
    world.ledger.claim_triage(FID, {"workflow": "RESOLVED"}, "RESOLVED", "j")
    from detector.triage import redraw  # noqa: PLC0415

    redraw(FID, world.deps)
    assert REMOVE not in world.buttons()
    assert world.click(ALICE, REMOVE, button_value(FID, KEY)) == 409
    assert "no longer open" in world.told()


def test_the_sweeps_unknown_key_finding_offers_no_removal_and_refuses_one() -> None:
    world = World(key=None)
    assert REMOVE not in world.buttons()
    assert world.click(ALICE, REMOVE, button_value(FID, KEY)) == 404
    assert "only a key it alerted on" in world.told()


def test_removal_off_draws_no_button_and_refuses_a_forged_click() -> None:
    world = World(enabled=False)
    assert REMOVE not in world.buttons()
    assert world.click(ALICE, REMOVE, button_value(FID, KEY)) == 403
    assert "not enabled" in world.told()
    assert world.jobs == []


def test_a_user_not_allowed_may_neither_ask_nor_confirm() -> None:
    world = World()
    assert world.click(BOB, REMOVE) == 403
    world.click(ALICE, REMOVE)
    world.run()
    assert world.click(BOB, CONFIRM) == 403
    assert "not allowed" in world.told()
    assert world.creds.removals == []


def test_a_confirmation_of_an_earlier_request_is_refused() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    old = world.buttons()[CONFIRM]
    world.click(RITA, CANCEL)
    assert world.run() == ["cancelled"]
    world.click(RITA, REMOVE)
    world.run()
    assert world.click(ALICE, CONFIRM, old) == 409
    assert "no longer pending" in world.told()
    assert world.creds.removals == []


def test_two_confirmations_at_once_remove_once() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    confirm = world.buttons()[CONFIRM]
    world.ledger.confirm_removal(  # another responder's confirmation wins the race
        FID,
        {**(world.record().removal or {}), "status": "CONFIRMED"},
        request_id=confirm.split("|")[2],
        confirmer_id="U0CAROL",
        now=int(world.clock()),
        lease_until=int(world.clock()) + 900,
    )
    assert world.click(RITA, CONFIRM, confirm) == 409
    assert world.jobs == []


def test_the_resolution_note_fits_security_hub() -> None:
    at = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    request = RemovalRequest("0" * 16, KEY, "U0A", "a" * 400, at, False, RemovalStatus.REMOVED)
    request = replace(request, confirmer="😀" * 400, confirmed=at)
    assert utf16_len(resolution_note(request)) <= MAX_NOTE


def test_a_request_round_trips_through_the_ledger_form() -> None:
    at = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    request = RemovalRequest("0123456789abcdef", KEY, "U0A", "alice (U0A)", at, True)
    assert RemovalRequest.from_dict(request.as_dict()) == request
    assert RemovalRequest.from_dict({"key_id": KEY}) is None
    assert RemovalRequest.from_dict("x") is None


@given(st.text(max_size=300))
def test_any_button_value_parses_or_is_refused_never_raises(value: str) -> None:
    parsed = parse_value(value)
    if parsed is not None:
        assert parsed[1].isalnum()


@given(
    st.from_regex(r"[A-Z0-9]{16,40}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{16}", fullmatch=True),
)
def test_a_button_value_round_trips(key: str, request: str) -> None:
    assert parse_value(button_value(FID, key, request)) == (FID, key, request)
    assert parse_value(button_value(FID, key)) == (FID, key, None)


def removal_body(action: str, value: str) -> bytes:
    return form_body(
        block_actions(
            ALICE,
            channel=CHANNEL,
            message_ts="1.000100",
            action_id=action,
            value=value,
            response_url="https://hooks.slack.com/actions/T0/1/x",
        )
    )


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (REMOVE, FID),  # no key
        (REMOVE, button_value(FID, KEY, "0123456789abcdef")),  # a request on Remove key
        (CONFIRM, button_value(FID, KEY)),  # no request on Confirm
        (CANCEL, button_value(FID, "akia-lower-case-key")),
        (CONFIRM, button_value(FID, KEY, "not-a-request-id")),
        (REMOVE, button_value("someone-elses/finding", KEY)),
        (REMOVE, "|".join([FID, KEY, "0123456789abcdef", "x"])),
    ],
)
def test_a_malformed_removal_value_is_400(action: str, value: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(removal_body(action, value))
    assert refused.value.status == 400


def test_a_removal_click_carries_its_finding_key_and_request() -> None:
    click = parse(removal_body(CONFIRM, button_value(FID, KEY, "0123456789abcdef")))
    assert isinstance(click, Click)
    assert (click.finding_id, click.key_id, click.request_id) == (FID, KEY, "0123456789abcdef")


def test_dry_run_never_asks_for_root_credentials() -> None:
    world = World(dry_run=True)

    def no_session() -> FakeRootRemoval:
        raise AssertionError("a dry run asked for root credentials")

    world.deps.root_credentials = no_session
    assert asked_and_confirmed(world) == ["dry-run"]


@pytest.mark.parametrize(
    "forge",
    [
        {"user_id": "U0ALICE"},  # the confirmer made to be the requester
        {"request_id": "0123456789abcdef"},
        {"action": "root_remove_key"},
        {"mac": "0" * 64},
    ],
)
def test_a_removal_job_the_function_did_not_sign_removes_nothing(forge: dict[str, str]) -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (job,) = world.jobs
    job.update(forge)
    assert world.run() == ["refused"]
    assert world.creds.removals == []
    assert world.workflow.updates == []


# -- the settings as they are when the job runs (a request asked or queued before they changed) --


def test_dry_run_turned_on_after_the_request_makes_no_removal() -> None:
    world = World(dry_run=False)
    world.click(ALICE, REMOVE)
    world.run()
    world.deps.removal_dry_run = True  # ROOT_KEY_REMOVAL_DRY_RUN=true since
    assert world.click(RITA, CONFIRM) == 200
    assert world.run() == ["dry-run"]
    assert world.creds.removals == []
    assert world.workflow.updates == []
    assert "No AWS call was made" in world.replies()[-1]
    assert world.record().removal["dry_run"] is True  # type: ignore[index]


def test_dry_run_turned_on_while_the_confirmation_is_queued_makes_no_removal() -> None:
    world = World(dry_run=False)
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    world.deps.removal_dry_run = True  # the job has not run yet (queued, or retried later)
    assert world.run() == ["dry-run"]
    assert world.creds.removals == []
    assert world.creds.keys[ACCOUNT] == [KEY]


def test_removal_turned_off_while_the_confirmation_is_queued_removes_nothing_and_says_so() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    world.deps.removal_enabled = False  # ROOT_KEY_REMOVAL=false since
    assert world.run() == ["failed"]
    assert world.creds.removals == []
    assert world.workflow.updates == []
    reply = world.replies()[-1]
    assert "key removal was turned off" in reply
    assert "nothing was deleted" in reply
    assert "A new request may be made" not in reply
    assert counted("refused") == 1


def test_a_retried_job_after_removal_was_turned_off_removes_nothing() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (job,) = world.jobs
    world.ledger.down = "ServiceUnavailable"  # the first attempt fails before any AWS call
    with pytest.raises(ExternalServiceError):
        world.run()
    world.ledger.down = None
    world.deps.removal_enabled = False
    world.jobs.append(job)  # Lambda's retry, after the setting changed
    assert world.run() == ["failed"]
    assert world.creds.removals == []


# -- a confirmation holds the key for its lease, not for good ------------------------------------


def confirmed_and_lost(world: World) -> None:
    """Asked, confirmed, and the confirmation's job lost (dead-lettered, or failed for good
    before it recorded anything)."""
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    world.jobs.clear()


def test_a_confirmation_whose_job_never_finished_frees_the_key_after_its_lease() -> None:
    world = World()
    confirmed_and_lost(world)
    assert world.click(ALICE, REMOVE, button_value(FID, KEY)) == 409
    assert "under way" in world.told()
    world.clock.now += 15 * 60 + 1
    reset_metrics()
    assert world.click(ALICE, CANCEL) == 409  # the alert still shows the pending request
    assert "did not finish within 15 minutes: its outcome is unknown" in world.told()
    assert "outcome unknown" in world.status()  # redrawn: Remove key is offered again
    assert world.click(RITA, REMOVE) == 200
    assert world.run() == ["requested"]
    asked = world.replies()[-1]
    assert "its outcome is unknown" in asked
    assert "rita (U0RITA)" in asked  # who confirmed the one whose outcome is unknown
    assert counted("failed") == 1
    assert world.click(ALICE, CONFIRM) == 200
    assert world.run() == ["removed"]
    assert world.creds.removals == [(ACCOUNT, KEY)]


def test_a_confirmation_job_that_runs_after_its_lease_removes_nothing_and_says_so() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    world.clock.now += 15 * 60 + 1  # its job ran late (retried, throttled)
    assert world.run() == ["failed"]
    assert world.creds.removals == []
    reply = world.replies()[-1]
    assert "15 minutes" in reply
    assert "nothing was deleted" in reply
    assert REMOVE in world.buttons()


def test_a_late_job_of_a_request_replaced_after_its_lease_does_nothing() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (late,) = world.jobs
    world.jobs.clear()
    world.clock.now += 15 * 60 + 1
    assert world.click(RITA, REMOVE, button_value(FID, KEY)) == 200
    world.run()
    world.jobs.append(late)
    assert world.run() == ["gone"]
    assert world.creds.removals == []
    assert world.record().removal["status"] == "PENDING"  # type: ignore[index]


def test_the_alert_redrawn_after_the_lease_says_the_outcome_is_unknown() -> None:
    world = World()
    confirmed_and_lost(world)
    world.clock.now += 15 * 60 + 1
    from detector.triage import redraw  # noqa: PLC0415

    redraw(FID, world.deps)
    assert "outcome unknown" in world.status()
    assert REMOVE in world.buttons()


# -- DELETING: a retry after the key was deleted --------------------------------------------------


def test_a_retry_after_the_key_was_deleted_reports_it_removed_and_resolves_the_finding() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (job,) = world.jobs
    world.ledger.fail_settles = 1  # DeleteAccessKey done, then the attempt dies before its record
    with pytest.raises(ExternalServiceError):
        world.run()
    assert world.creds.keys[ACCOUNT] == []
    world.jobs.append(job)  # Lambda's retry: IAM no longer lists the key
    assert world.run() == ["removed"]
    done = world.replies()[-1]
    assert "removed" in done
    assert "failed" not in done
    assert "alice (U0ALICE)" in done
    assert "rita (U0RITA)" in done
    ((_, ident, status, note, _),) = world.workflow.updates
    assert (ident["Id"], status) == (FID, "RESOLVED")
    assert "asked by alice (U0ALICE)" in note
    assert "confirmed by rita (U0RITA)" in note
    assert world.record().removal["status"] == "REMOVED"  # type: ignore[index]


def test_a_key_gone_before_the_first_delete_is_not_reported_removed_by_this_request() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    world.creds.keys[ACCOUNT] = []  # deleted by someone else before the job ran
    assert world.run() == ["failed"]
    assert "removed already" in world.replies()[-1]
    assert world.workflow.updates == []


# -- metrics ------------------------------------------------------------------------------------


def reset_metrics() -> None:
    metrics.RECORDER.document("fn", reset=True)


def counted(label: str) -> float:
    doc = metrics.RECORDER.document("fn", reset=False) or {}
    return float(doc.get(f"KeyRemovals.{label}", 0))


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    reset_metrics()
    yield
    reset_metrics()  # what these tests counted is never flushed by another test


def test_a_failed_removal_is_counted() -> None:
    world = World()
    world.creds.deny = "DeleteAccessKey"
    asked_and_confirmed(world)
    assert counted("requested") == 1
    assert counted("failed") == 1
    assert counted("removed") == 0


def test_removals_dry_runs_and_refusals_are_counted() -> None:
    world = World()
    asked_and_confirmed(world)
    assert counted("removed") == 1
    world.click(ALICE, REMOVE, button_value(FID, KEY))  # refused: removed already
    assert counted("refused") == 1
    dry = World(dry_run=True)
    reset_metrics()
    asked_and_confirmed(dry)
    assert counted("dry-run") == 1


def test_a_retried_job_counts_its_outcome_once() -> None:
    world = World()
    world.click(ALICE, REMOVE)
    world.run()
    world.click(RITA, CONFIRM)
    (job,) = world.jobs
    world.slack.fail_posts = 1
    with pytest.raises(Exception, match="down"):
        world.run()
    world.jobs.append(job)
    world.run()
    assert counted("removed") == 1
