"""The configured runtime for the commands that act, and one event run through its pipeline."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from detector.cli.exits import Stop
from detector.cli.output import emit, error_fields
from detector.domain.event import RootKeyEvent
from detector.domain.verdict import classify
from detector.errors import DetectorError
from detector.problems import environment_problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from detector.pipeline import Dependencies
    from detector.wiring import Runtime


def load_runtime() -> Runtime | None:
    """The configured runtime, or None after printing which variable is wrong."""
    from detector.wiring import runtime_from_env  # noqa: PLC0415 - classify needs none of it

    try:
        return runtime_from_env()
    except DetectorError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None


def stop_if_environment(exc: BaseException, runtime: Runtime) -> None:
    """Raise Stop when ``exc`` means nothing can work (credentials, the ledger, the endpoint)."""
    problem = environment_problem(exc, ledger_table=runtime.settings.ledger_table)
    if problem is not None:
        raise Stop(problem) from exc


def process_one(
    event: RootKeyEvent,
    deps: Dependencies,
    base: dict[str, Any],
    out: TextIO,
    *,
    check: Callable[[DetectorError], None] | None = None,
) -> bool:
    """Run one event through the pipeline and print its outcome merged into ``base``.

    A failure is printed (``check`` may end the command first) and False returned: the
    caller goes on with the next event.
    """
    from detector import pipeline  # noqa: PLC0415 - only the commands that act need it

    try:
        outcome = pipeline.process(event, deps)
    except pipeline.PipelineError as exc:
        emit(out, base | exc.outcome.as_dict() | {"error": str(exc)})
        return False
    except DetectorError as exc:  # e.g. the ledger unreachable after its retries
        if check is not None:
            check(exc)
        emit(out, base | {"verdict": classify(event).value} | error_fields(exc))
        return False
    emit(out, base | outcome.as_dict())
    return True
