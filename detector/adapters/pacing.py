"""Posts paced within Slack's rate for chat.postMessage, shared by every thread of a process.

A sweep, a backfill or a redrive posts many messages from one process: paced, they arrive within
the limit instead of being refused and retried into failure.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from detector.errors import AlertDeliveryError

# Slack's rate limits page: chat.postMessage "will generally allow an app to post 1 message per
# second to a specific channel, with short bursts over 1 allowed".
DEFAULT_PER_SECOND = 1.0
DEFAULT_BURST = 3


class Pacer:
    """A token bucket per channel: ``burst`` posts at once, then ``per_second``.

    ``wait`` sleeps until the channel's next slot; when that would end after the invocation's
    deadline (``remaining_s``, less ``margin_s``), it raises a transient error instead, so the
    work is retried rather than cut off by Lambda.
    """

    def __init__(
        self,
        per_second: float = DEFAULT_PER_SECOND,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        remaining_s: Callable[[], float] = lambda: math.inf,
        margin_s: float = 2.0,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a pacer needs a positive rate and a burst of at least 1")
        self._interval = 1.0 / per_second
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._remaining = remaining_s
        self._margin = margin_s
        self._next: dict[str, float] = {}  # channel -> when the bucket is full again
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        """Block until a post to ``channel`` fits Slack's rate (reserving its slot).

        Raises:
            AlertDeliveryError: (transient) the slot comes after the invocation's deadline.
        """
        with self._lock:
            now = self._clock()
            full_at = max(self._next.get(channel, now), now)
            # The bucket holds ``burst`` tokens; each post moves "full" one interval later.
            start = max(now, full_at - (self._burst - 1) * self._interval)
            delay = start - now
            if delay > self._remaining() - self._margin:
                raise AlertDeliveryError(
                    "slack.chat.postMessage",
                    "paced",
                    f"the next post slot ({delay:.1f} s) is past this invocation's time",
                    transient=True,
                )
            self._next[channel] = full_at + self._interval
        if delay > 0:
            self._sleep(delay)
