"""The Slack pacer: bursts, then one post per interval per channel, never past the deadline."""

from __future__ import annotations

import pytest

from detector.adapters.pacing import Pacer
from detector.errors import AlertDeliveryError


class FakeTime:
    def __init__(self, *, advance: bool = True) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.advance = advance  # False: many threads reserve slots at one instant

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        if self.advance:
            self.now += seconds


def _pacer(t: FakeTime, **kw: object) -> Pacer:
    return Pacer(1.0, 3, clock=t.clock, sleep=t.sleep, **kw)  # type: ignore[arg-type]


def test_a_burst_goes_at_once_then_one_post_a_second() -> None:
    t = FakeTime()
    pacer = _pacer(t)
    for _ in range(6):
        pacer.wait("C1")
    assert t.slept == [1.0, 1.0, 1.0]  # three at once, then the rate
    assert t.now == 103.0


def test_channels_are_paced_apart() -> None:
    t = FakeTime()
    pacer = _pacer(t)
    for _ in range(3):
        pacer.wait("C1")
        pacer.wait("C2")
    assert t.slept == []


def test_an_idle_channel_refills_its_burst() -> None:
    t = FakeTime()
    pacer = _pacer(t)
    for _ in range(4):
        pacer.wait("C1")
    t.now += 60
    for _ in range(3):
        pacer.wait("C1")
    assert t.slept == [1.0]


def test_a_slot_past_the_invocations_deadline_is_a_transient_failure() -> None:
    t = FakeTime(advance=False)  # five threads reserve their slots at once
    pacer = _pacer(t, remaining_s=lambda: 4.0, margin_s=2.0)
    for _ in range(5):
        pacer.wait("C1")
    assert t.slept == [1.0, 2.0]
    with pytest.raises(AlertDeliveryError) as late:
        pacer.wait("C1")  # its slot is 3 s away: past the time left
    assert late.value.transient
    assert late.value.code == "paced"


def test_a_pacer_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        Pacer(0)
