"""CloudTrail as AWS documents it where moto is kinder: the sweep's dependency checks read it.

Two rules, in front of moto's answers (:class:`sandbox.contracts.ContractLayer` routes here):

- **GetTrailStatus of a shadow trail needs its ARN.** "GetTrailStatus" (AWS CloudTrail API
  Reference, Name): "To get the status of a shadow trail (a replication of the trail in another
  Region), you must specify its ARN." moto also finds another region's trail by its name; here
  a name that is not one of this region's own trails is TrailNotFoundException.
- **A trail created without event selectors logs all management events.** "EventSelector"
  (AWS CloudTrail API Reference): "By default, trails created without specific event selectors
  will be configured to log all read and write management events, and no data events." moto
  answers such a trail's GetEventSelectors with no selector at all (which would read as logging
  nothing); here it answers with the default selector.

And one where moto is stricter: GetEventSelectors by a shadow trail's ARN (a multi-region trail
of another region; "GetEventSelectors", TrailName: "the name of the trail or trail ARN"). moto
looks in the request's region only; here the ARN's own region answers.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

_SCOPE_REGION = re.compile(r"(Credential=[^/,\s]+/[0-9]{8}/)[^/]+/")
TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
DEFAULT_SELECTOR = {
    "ReadWriteType": "All",
    "IncludeManagementEvents": True,
    "DataResources": [],
    "ExcludeManagementEventSources": [],
}


def handles(operation: str) -> bool:
    """Whether this module answers ``operation`` (else moto alone does)."""
    return operation in {"GetTrailStatus", "GetEventSelectors"}


def answer(
    app: WsgiApp, environ: dict[str, Any], start_response: StartResponse, operation: str
) -> Iterable[bytes]:
    """``operation`` as AWS documents it (module docstring), moto answering the rest."""
    body = _body(environ)
    if operation == "GetTrailStatus":
        name = str(_json(body).get("Name") or "")
        if not name.startswith("arn:") and name not in _own_trail_names(app, environ):
            return _error(start_response, "TrailNotFoundException", f"Unknown trail: {name}")
        return _send(start_response, *_ask(app, environ, body))
    status, headers, payload = _ask(app, environ, body)
    arn = str(_json(body).get("TrailName") or "")
    if not status.startswith("200") and arn.startswith("arn:") and arn.count(":") >= 5:
        status, headers, payload = _ask(app, _in_region(environ, arn.split(":")[3]), body)
    if status.startswith("200"):
        doc = _json(payload)
        if not doc.get("EventSelectors") and not doc.get("AdvancedEventSelectors"):
            doc["EventSelectors"] = [dict(DEFAULT_SELECTOR)]
            payload = json.dumps(doc).encode()
    return _send(start_response, status, headers, payload)


def _own_trail_names(app: WsgiApp, environ: dict[str, Any]) -> set[str]:
    """The names of the request region's own trails (DescribeTrails without shadow trails)."""
    ask = dict(environ)
    ask["HTTP_X_AMZ_TARGET"] = TARGET_PREFIX + "DescribeTrails"
    status, _, payload = _ask(app, ask, b'{"includeShadowTrails": false}')
    if not status.startswith("200"):
        return set()
    return {str(t.get("Name")) for t in _json(payload).get("trailList") or []}


def _in_region(environ: dict[str, Any], region: str) -> dict[str, Any]:
    """The request as if signed for ``region`` (moto reads the region from the scope)."""
    out = dict(environ)
    out["HTTP_AUTHORIZATION"] = _SCOPE_REGION.sub(
        lambda m: f"{m.group(1)}{region}/", environ.get("HTTP_AUTHORIZATION", "")
    )
    return out


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _json(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _ask(app: WsgiApp, environ: dict[str, Any], body: bytes) -> tuple[str, list[Any], bytes]:
    """moto's answer to the request in ``environ`` with ``body``."""
    request = dict(environ)
    request["wsgi.input"] = io.BytesIO(body)
    request["CONTENT_LENGTH"] = str(len(body))
    answer_: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
        answer_[:] = [status, headers]
        return lambda data: None

    result = app(request, capture)
    try:
        payload = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return answer_[0], answer_[1], payload


def _send(
    start_response: StartResponse, status: str, headers: list[Any], payload: bytes
) -> list[bytes]:
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*headers, ("Content-Length", str(len(payload)))])
    return [payload]


def _error(start_response: StartResponse, code: str, message: str) -> list[bytes]:
    # The JSON protocol's error: the code in __type ("Error responses", AWS JSON 1.1 protocol).
    payload = json.dumps({"__type": code, "message": message}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    return _send(start_response, "400 Bad Request", headers, payload)
