"""Alerts in bulk are paced within Slack's rate for chat.postMessage, not retried into failure.

The first sweep of an organization with many root keys posts an alert per key. The Slack
emulator answers as Slack documents (about one message per second per channel, short bursts,
then 429 with Retry-After); the emulator, the pacer and every wait share one clock that runs
fast, so 300 alerts at Slack's pace take a few real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from detector import pipeline, retry
from detector.adapters.pacing import Pacer
from detector.adapters.slack import SlackBotAlerter
from detector.errors import SweepError
from detector.sweep import Sweeper
from sandbox.slack_emulator import DEFAULT_TOKEN, SlackEmulator
from tests.fakes import FakeConfirmer, FakeSecurityHub, InMemoryLedger

CHANNEL = "C0SECALERTS"
ACCOUNTS = [f"{400000000000 + i:012d}" for i in range(300)]


class SharedClock:
    """Real time, run SPEED times faster: Slack's one-per-second pace in a few real seconds.

    Every thread really waits (sleep is real, shortened), so posts reach the emulator spread as
    they would in real time; a clock that jumped forward on each wait would let many threads
    post at one instant.
    """

    SPEED = 50.0

    def __init__(self) -> None:
        self._start = time.monotonic()

    def __call__(self) -> float:
        return 1000.0 + (time.monotonic() - self._start) * self.SPEED

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.SPEED)


class _EveryRootHoldsAKey:
    """The sweep's key inventory: root holds a key in every account."""

    def root_keys_present(self, account_id: str) -> bool:
        return True


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def slack(clock: SharedClock) -> Iterator[SlackEmulator]:
    with SlackEmulator(clock=clock) as emulator:
        yield emulator


def _sweeper(slack: SlackEmulator, clock: SharedClock, *, paced: bool) -> Sweeper:
    env = retry.RetryEnv(sleep=clock.sleep)
    alerter = SlackBotAlerter(
        lambda: DEFAULT_TOKEN,
        CHANNEL,
        env,
        base_url=slack.base_url,
        pacer=Pacer(clock=clock, sleep=clock.sleep) if paced else None,
    )
    deps = pipeline.Dependencies(
        region="us-east-1",
        confirmer=FakeConfirmer(),
        findings=FakeSecurityHub(),
        alerter=alerter,
        ledger=InMemoryLedger(),
        retry_env=env,
    )
    return Sweeper(deps, _EveryRootHoldsAKey(), concurrency=32)


def test_a_first_sweep_of_300_accounts_with_keys_alerts_all_300(
    slack: SlackEmulator, clock: SharedClock
) -> None:
    summary = _sweeper(slack, clock, paced=True).run(ACCOUNTS)

    assert summary.counts == {"alerted": 300}
    alerts = [m for m in slack.top_level(CHANNEL) if "Daily sweep" in str(m.blocks)]
    assert len(alerts) == 300
    posts = [r for r in slack.requests if r.method == "chat.postMessage"]
    refused = [r for r in posts if r.status == 429]
    # Paced within the limit, not retried into it. (Time runs SPEED times fast here: a thread
    # woken 20 ms late on a loaded machine is a second late, so a rare 429 can still happen;
    # unpaced, the same sweep is refused wholesale, see the test below.)
    assert len(refused) <= len(posts) // 20


def test_unpaced_the_same_sweep_is_refused_by_slack(
    slack: SlackEmulator, clock: SharedClock
) -> None:
    """The control: without the pacer, Slack's rate refuses the burst and alerts fail."""
    with pytest.raises(SweepError):
        _sweeper(slack, clock, paced=False).run(ACCOUNTS[:60])
    assert any(r.status == 429 for r in slack.requests)
