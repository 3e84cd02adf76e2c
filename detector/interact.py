"""Lambda entry point of triage: Slack's requests (function URL), the jobs they start, and the
changes people make in Security Hub (EventBridge).

A request from Slack (a function URL event, payload format 2.0) is answered within Slack's three
seconds (:func:`detector.triage.answer`); the work it starts arrives as an asynchronous
invocation of this same function (``{"detector": "triage", ...}``, :func:`detector.triage.run_job`).
"""

from __future__ import annotations

from typing import Any

from detector.coldstart import long_lived

with long_lived():  # modules live as long as the container
    from detector import handler, metrics, triage
    from detector.domain.hub_change import is_hub_event, parse_hub_event
    from detector.log import bind_request, get_logger

# Slack waits three seconds for the answer; the function's own calls stop well before.
ANSWER_BUDGET_S = 2.5


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer Slack (an HTTP response), or run a triage job (raises so Lambda retries it).
    Its metrics end it as one EMF line (metrics.py), as the detector function's do."""
    request_id = bind_request(getattr(context, "aws_request_id", None))
    try:
        rt = handler.runtime()
        function = str(getattr(context, "invoked_function_arn", "") or "")
        function = function or str(getattr(context, "function_name", "") or "")
        deps = rt.triage_deps(function)
        remaining = _remaining_s(context)
        if isinstance(event, dict) and event.get("detector") == triage.JOB_MARK:
            rt.deadline.start(remaining)
            return {"triage": triage.run_job(event, deps)}
        if is_hub_event(event):  # a change made in Security Hub (its rules route it here)
            rt.deadline.start(remaining)
            change = parse_hub_event(event)
            return {"hub": triage.run_hub_change(change, deps) if change else []}
        rt.deadline.start(min(remaining, ANSWER_BUDGET_S + rt.deps.retry_env.margin_s))
        return triage.answer(event, deps)
    except Exception:
        get_logger().exception("triage failed")
        raise
    finally:
        metrics.end_invocation(getattr(context, "function_name", None), request_id)
        bind_request(None)


def _remaining_s(context: Any) -> float:
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return float(context.get_remaining_time_in_millis()) / 1000.0
    return 60.0
