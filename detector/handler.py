"""Lambda entry point: parse, get the cached runtime, run the pipeline, return a summary."""

from __future__ import annotations

from typing import Any

from detector.coldstart import long_lived

with long_lived():  # modules live as long as the container
    from detector import metrics, pipeline
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
    """Handle one EventBridge delivery. Raises after retries so the event reaches the DLQ.
    Its log lines carry its request id; its metrics end it as one EMF line (metrics.py)."""
    request_id = bind_request(getattr(context, "aws_request_id", None))
    try:
        return _handle(event, context)
    finally:
        metrics.end_invocation(getattr(context, "function_name", None), request_id)
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
        return dict(metrics.counted_sweep(rt.sweep).as_dict())
    try:
        with long_lived(cold):  # the first event creates the clients the container keeps
            outcomes = pipeline.run(event, rt.deps)
    except Exception:
        envelope = event.get("id") if isinstance(event, dict) else None
        get_logger().exception("event failed", extra={"envelope_id": envelope})
        raise
    return {"processed": len(outcomes), "results": [o.as_dict() for o in outcomes]}
