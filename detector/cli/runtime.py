"""The configured runtime for the commands that act, and one event run through its pipeline."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from detector.cli.output import emit, error_fields
from detector.domain.event import RootKeyEvent
from detector.domain.verdict import classify
from detector.errors import DetectorError, PipelineError, Stop
from detector.problems import environment_problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from detector.pipeline import Dependencies
    from detector.wiring import Runtime


def load_runtime(env: Mapping[str, str] | None = None) -> Runtime | None:
    """The configured runtime (from ``env`` instead of the process's environment when given),
    or None after printing which variable is wrong."""
    # Imported here: classify needs none of it.
    from detector.config import Settings  # noqa: PLC0415
    from detector.log import configure  # noqa: PLC0415
    from detector.wiring import build_runtime, runtime_from_env  # noqa: PLC0415

    try:
        if env is None:
            return runtime_from_env()
        settings = Settings.from_env(env)
        configure(settings.log_level)
        return build_runtime(settings)
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
    except PipelineError as exc:
        emit(out, base | exc.outcome.as_dict() | {"error": str(exc)})
        return False
    except DetectorError as exc:  # e.g. the ledger unreachable after its retries
        if check is not None:
            check(exc)
        emit(out, base | {"verdict": classify(event).value} | error_fields(exc))
        return False
    emit(out, base | outcome.as_dict())
    return True
