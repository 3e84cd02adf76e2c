"""What a cold start builds, the container keeps: the cyclic GC need not scan it again and again.

Importing the handler and the container's first event create nearly everything a Lambda
container holds for its whole life: modules, the botocore session, service models and clients,
the Slack client. Left in the collected generations, every full collection walks all of it:
one such pass (~100 ms) used to land inside the first event, another every so often in a warm
one, and two more at interpreter exit. ``gc.freeze()`` moves them to the permanent generation,
which no collection visits; while they are being built, collections would find next to no
garbage, so the collector is paused meanwhile.
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
