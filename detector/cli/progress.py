"""A one-line progress bar on stderr for ``backfill``, drawn only on a terminal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    """A one-line progress bar: files done / total, MB read and rate; silent if not a TTY."""

    stream: TextIO
    total: int
    enabled: bool
    done: int = 0
    bytes_read: int = 0
    started: float = field(default_factory=time.monotonic)
    _drawn: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, size: int) -> None:
        """One more file done."""
        with self._lock:
            self.done += 1
            self.bytes_read += size
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= 0.1 or self.done == self.total):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        width = 24
        filled = width * self.done // self.total if self.total else width
        mb = self.bytes_read / 1e6
        rate = mb / max(now - self.started, 1e-6)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files"
            f"  {mb:.1f} MB  {rate:.1f} MB/s\x1b[K"
        )
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print a line without garbling the bar."""
        with self._lock:
            prefix = "\r\x1b[K" if self.enabled else ""
            self.stream.write(f"{prefix}{text}\n")
            if self.enabled and self._drawn:
                self._draw(time.monotonic())
            self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
