"""Lambda entry point: parse, get the cached runtime, run the pipeline, return a summary.

Each invocation's log lines carry its request id; its metrics are flushed as one EMF line at
its end (detector/metrics.py), the sweep's included.
"""

from __future__ import annotations

import os
import time
from typing import Any

from detector.coldstart import long_lived

with long_lived():  # modules live as long as the container
    from detector import __version__, metrics, pipeline
    from detector.config import Settings
    from detector.log import bind_request, configure, get_logger
    from detector.wiring import Runtime, build_runtime, invocation_lease_s

_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The container's runtime, built on the first invocation and reused while warm."""
    global _runtime  # noqa: PLW0603 - the one cache a warm Lambda container keeps
    if _runtime is None:
        settings = Settings.from_env()
        configure(settings.log_level)
        _runtime = build_runtime(settings)
    return _runtime


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Handle one EventBridge delivery. Raises after retries so the event reaches the DLQ."""
    request_id = str(getattr(context, "aws_request_id", "") or "") or None
    bind_request(request_id)
    try:
        return _handle(event, context)
    finally:
        _flush_metrics(context, request_id)
        bind_request(None)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cold = _runtime is None
    rt = runtime()
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        arn = str(getattr(context, "invoked_function_arn", "") or "")
        if arn.count(":") >= 4:
            rt.accounts.learn_own_account(arn.split(":")[4])  # no STS call needed
        remaining = context.get_remaining_time_in_millis() / 1000.0
        rt.deadline.start(remaining)
        rt.deps.lease_s = invocation_lease_s(remaining)
    if isinstance(event, dict) and event.get("detector") == "sweep":  # the daily schedule
        return _sweep(rt)
    try:
        with long_lived(cold):  # the first event creates the clients the container keeps
            outcomes = pipeline.run(event, rt.deps)
    except Exception:
        get_logger().exception("event failed", extra={"envelope_id": _envelope_id(event)})
        raise
    return {"processed": len(outcomes), "results": [o.as_dict() for o in outcomes]}


def _sweep(rt: Runtime) -> dict[str, Any]:
    """Run the sweep and count it: accounts by status, its duration, and (when it finished
    without a failed action) one SweepCompleted, the heartbeat the stack's alarm watches."""
    started = time.monotonic()
    try:
        summary = rt.sweep()
    except Exception as exc:
        counts = getattr(getattr(exc, "summary", None), "counts", None)
        _count_sweep(counts if isinstance(counts, dict) else {}, time.monotonic() - started)
        raise
    _count_sweep(summary.counts, time.monotonic() - started)
    metrics.count(metrics.SWEEP_COMPLETED)
    result: dict[str, Any] = summary.as_dict()
    return result


def _count_sweep(counts: dict[str, int], elapsed_s: float) -> None:
    for status, accounts in counts.items():
        metrics.count(metrics.SWEEP_ACCOUNTS, accounts, label=status)
    metrics.duration(metrics.SWEEP_DURATION, elapsed_s)


def _flush_metrics(context: Any, request_id: str | None) -> None:
    """Write the invocation's metrics; a failure to write them never fails the invocation."""
    name = str(getattr(context, "function_name", "") or "")
    try:
        metrics.flush(
            name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            properties={"RequestId": request_id, "DetectorVersion": __version__},
        )
    except Exception as exc:  # noqa: BLE001 - the invocation's own result matters more
        get_logger().warning("metrics not written", extra={"error": str(exc)})


def _envelope_id(event: Any) -> Any:
    return event.get("id") if isinstance(event, dict) else None
