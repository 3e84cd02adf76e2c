"""What a cold start builds, the container keeps: the cyclic GC need not scan it again and again.

The handler's import and first event build nearly all a container holds for life (modules,
botocore's session and clients, the Slack client): the collector is paused while they are built
and ``gc.freeze()`` then moves them where no collection walks (bench/README.md has the figures).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived(active: bool = True) -> Iterator[None]:
    """Run the block without cyclic collections, then freeze every object alive.

    Cyclic garbage the block leaves is kept too: use it only around work that builds mostly
    long-lived objects and leaves little garbage (an import, one event). The collector's
    previous state (enabled or not) is restored, also when the block raises. With ``active``
    false, the block runs as it is.
    """
    if not active:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
