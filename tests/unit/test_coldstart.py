"""coldstart.long_lived: what the block built leaves the collected generations; GC restored."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.coldstart import long_lived

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # back to the oldest generation, as before the test
    if enabled:
        gc.enable()


def _collected(obj: object) -> bool:
    """True while ``obj`` is in one of the generations a collection visits."""
    return any(o is obj for o in gc.get_objects())


def test_the_block_runs_without_collections_and_what_it_built_is_frozen() -> None:
    with long_lived():
        assert not gc.isenabled()
        built = {"kept": [1, 2, 3]}
        assert _collected(built)
    assert gc.isenabled()
    assert not _collected(built)
    assert gc.get_freeze_count() > 0


def test_a_failing_block_still_freezes_and_restores_the_collector() -> None:
    built: list[object] = []

    def build_and_fail() -> None:
        with long_lived():
            built.append({"half": ["built"]})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        build_and_fail()
    assert gc.isenabled()
    assert not _collected(built)


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_inactive_it_changes_nothing() -> None:
    with long_lived(False):
        assert gc.isenabled()
        built = {"not": ["frozen"]}
    assert _collected(built)


def test_importing_the_handler_freezes_the_modules_it_imported() -> None:
    # A fresh interpreter: this test process has imported the handler long ago.
    probe = (
        "import gc, sys, detector.handler\n"
        "wiring = sys.modules['detector.wiring']\n"
        "print(gc.isenabled(), any(o is wiring for o in gc.get_objects()))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "False"]
