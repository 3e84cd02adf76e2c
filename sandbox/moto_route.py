"""IAM and STS calls reach moto's own handler without Flask's per-request machinery (moto 5.2.5).

For each query-protocol call (IAM's GetAccountSummary, STS's AssumeRole, ...) moto's server
matched the request's host against several hundred service URL patterns, pushed a Flask
request and app context, matched the URL, ran the view, Flask's response finalisation and
flask_cors's after-request hook: about a sixth of the CPU of such a call. :class:`FastQueryRoute`
sits in front of moto's WSGI application and, for a request it recognises, does only what has
an effect on the answer: it builds moto's request object (the class moto's Flask app uses) from
the environ, calls the same moto handler the Flask view calls, with the same arguments, and
renders (status, headers, body) as that view and Flask would, adding the headers flask_cors
adds to every answer (``always_send``: ``Access-Control-Allow-Origin: *`` even with no
``Origin`` header). Which service a request is for is decided by moto's own code
(``infer_service_region_host``, then the host pattern match, remembered per host).

Recognised: POST to ``/`` with no query string, a form-encoded body of known length, a SigV4
``Authorization`` header, no ``Origin`` or private-network CORS header, for a service in
:data:`QUERY_SERVICES` whose Flask app moto has already made (the first call of each service
goes through moto's app, which makes it), with moto's request recorder off. Everything else,
and any app with hooks, middleware or signal receivers that the route does not re-state,
goes to moto's app untouched; so does everything when moto is not 5.2.5, or when the
environment says ``SANDBOX_MOTO_ROUTE=off`` (for side-by-side measurements).

What the handler answers is moto's answer; only its rendering is re-stated. An exception other
than moto's ``ClientError`` (which the view turns into a 400, as here), or an answer that
already carries CORS headers, is rendered by moto's Flask app itself: the request goes through
moto's application with the handler's outcome handed back (see below) instead of a second call.

Verification (``VERIFY_FAST_ROUTE``, set by the test suite): every fast-routed request is also
answered by moto's whole normal path (dispatcher, Flask, the view, flask_cors, the WSGI
response) and the two answers (status line, header list, body) must be identical, or the call
fails with :class:`RouteMismatch`. Calling moto's handler a second time would not be a sound
comparison: AssumeRole creates a session, and every answer carries a fresh random request id
(credentials too). So moto's handler runs once, for the fast route; on the normal path the
handler's outcome (its result, or the ``ClientError`` it raised) is handed back by a wrapper
around it, after the wrapper checked that the normal path would have called it with the same
inputs: same request class, same environ (apart from the body stream, which is compared as
bytes), same URL, same header dict, same request size limits. With equal inputs the handler,
which reads nothing of Flask's, computes the same outcome; everything around it is compared.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox import moto_fast

# Services answered by one query-protocol handler at "/" (their only moto URL rule).
QUERY_SERVICES = frozenset({"iam", "sts"})

ROUTE_SWITCH = "SANDBOX_MOTO_ROUTE"  # "off" in the environment: the route steps aside

# Set by the test suite: each fast-routed request is also answered by moto's Flask path.
VERIFY_FAST_ROUTE: list[bool] = []

StartResponse = Callable[..., Any]
_NOT_IN_ENVIRON = ("wsgi.input", "werkzeug.request")  # keys Flask's side differs in, by design


class RouteMismatch(AssertionError):
    """The fast route and moto's Flask path answered differently (only raised when verifying)."""


@dataclass
class RouteStats:
    """How many requests took each way (tests check that the route is used)."""

    fast: int = 0
    moto: int = 0


@dataclass
class _Handback:
    """What moto's handler did for a request, to be handed back on moto's own path."""

    outcome: Any  # the handler's result, or the exception it raised
    raised: bool
    inputs: tuple[Any, ...]  # what the handler was called with (see _inputs)
    used: bool = False


_HANDBACK = threading.local()


class _Replayable:
    """moto's view handler; on this thread's verifying pass it hands back the outcome already
    computed, after checking it would have been called with the same inputs."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback

    def __call__(self, request: Any, full_url: str, headers: dict[str, str]) -> Any:
        handback: _Handback | None = getattr(_HANDBACK, "pending", None)
        if handback is None:
            return self.callback(request, full_url, headers)
        _HANDBACK.pending = None
        handback.used = True
        inputs = _inputs(request, full_url, headers, request.get_data())
        if inputs != handback.inputs:
            raise RouteMismatch(f"moto's handler inputs differ:\n{handback.inputs}\n{inputs}")
        if handback.raised:
            raise handback.outcome
        return handback.outcome


def _handler_args(request: Any) -> tuple[str, dict[str, str]]:
    """The URL and headers moto's view passes its handler (``convert_to_flask_response``)."""
    return request.raw_url, dict(request.headers)


def _inputs(request: Any, full_url: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
    environ = {k: v for k, v in request.environ.items() if k not in _NOT_IN_ENVIRON}
    limits = (request.max_content_length, request.max_form_memory_size, request.max_form_parts)
    return (type(request), environ, full_url, headers, body, limits)


@dataclass
class _Route:
    callback: Any  # moto's handler (the view's callback, unwrapped)
    cors: list[tuple[str, str]]  # what flask_cors adds to an answer to such a request


class FastQueryRoute:
    """moto's WSGI application with a shorter way to its IAM and STS handlers (module doc)."""

    def __init__(self, moto: Any) -> None:
        self.moto = moto  # moto's DomainDispatcherApplication
        self.stats = RouteStats()
        # SANDBOX_MOTO_ROUTE=off: every request takes moto's own way (side-by-side benchmarks).
        self._enabled = moto_fast.moto_is_expected() and os.environ.get(ROUTE_SWITCH) != "off"
        self._backends: dict[str, Any] = {}  # host (as moto infers it) -> backend name
        self._routes: dict[str, _Route | None] = {}  # backend name -> its route (None: none)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self._route_for(environ) if self._enabled else None
        if route is None:
            self.stats.moto += 1
            return self.moto(environ, start_response)  # type: ignore[no-any-return]
        self.stats.fast += 1
        return self._answer(route, environ, start_response)

    # -- recognising --------------------------------------------------------------------------

    def _route_for(self, environ: dict[str, Any]) -> _Route | None:
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != "/"
            or environ.get("QUERY_STRING")
            or not environ.get("HTTP_AUTHORIZATION")
            or "HTTP_ORIGIN" in environ
            or "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK" in environ
            or "HTTP_TRANSFER_ENCODING" in environ
            or not environ.get("CONTENT_LENGTH", "").isdigit()
            or not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        ):
            return None
        if _recorder_on() or _flask_signals_connected():
            return None
        try:  # moto's own inference (signed: from the credential scope; reads no body)
            host = self.moto.infer_service_region_host(environ, "/")
        except Exception:  # noqa: BLE001 - moto's app will answer (or fail) as it does
            return None
        if host is None:
            return None
        backend = self._backends.get(host)
        if backend is None:
            backend = self.moto.get_backend_for_host(host)  # the host pattern loop, once
            if backend is None or len(self._backends) > 10_000:
                return None
            self._backends[host] = backend
        if backend not in QUERY_SERVICES:
            return None
        if backend in self._routes:
            return self._routes[backend]
        app = self.moto.app_instances.get(backend)
        if app is None:  # moto's app makes it on this first call
            return None
        with self._lock:
            if backend not in self._routes:
                self._routes[backend] = _route_of(app)
        return self._routes[backend]

    # -- answering ----------------------------------------------------------------------------

    def _answer(
        self, route: _Route, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - moto's dependency
        from flask import Response  # noqa: PLC0415 - what moto's view answers with
        from moto.moto_server.werkzeug_app import BackendRequest  # noqa: PLC0415

        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        environ["wsgi.input"] = io.BytesIO(body)
        flask_environ = dict(environ)  # for moto's own path, before werkzeug adds to environ
        request = BackendRequest(environ)
        full_url, headers = _handler_args(request)
        inputs = _inputs(request, full_url, headers, body)  # before the handler reads the body
        raised = False
        try:
            outcome = route.callback(request, full_url, headers)
            result = outcome
        except ClientError as exc:  # what moto's view does with it
            outcome, raised = exc, True
            result = 400, {}, exc.response["Error"]["Message"]
        except Exception as exc:  # noqa: BLE001 - moto's Flask path renders (or raises) it
            outcome, raised = exc, True
            result = None
        handback = _Handback(outcome, raised, inputs)
        if result is None:
            return self._through_moto(handback, flask_environ, body, start_response)
        if len(result) == 3:
            status, out_headers, content = result
        else:
            status, out_headers, content = 200, {}, result
        response = Response(response=content, status=status, headers=out_headers)
        if "Access-Control-Allow-Origin" in response.headers:  # flask_cors would leave it be
            return self._through_moto(handback, flask_environ, body, start_response)
        for key, value in route.cors:
            response.headers.add(key, value)
        if not VERIFY_FAST_ROUTE:
            return response(environ, start_response)  # type: ignore[no-any-return]
        fast = _collect(response, environ)
        expected = _collect(
            lambda env, sr: self._through_moto(handback, env, body, sr), flask_environ
        )
        if fast != expected:
            raise RouteMismatch(f"fast route answered differently from moto:\n{fast}\n{expected}")
        start_response(fast[0], fast[1])
        return [fast[2]]

    def _through_moto(
        self,
        handback: _Handback,
        environ: dict[str, Any],
        body: bytes,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """moto's own path for this request, its handler handing back ``handback``."""
        environ = {**environ, "wsgi.input": io.BytesIO(body)}
        _HANDBACK.pending = handback
        try:
            chunks = list(self.moto(environ, start_response))
        finally:
            _HANDBACK.pending = None
        if not handback.used:
            raise RouteMismatch("moto's path did not reach the handler the fast route called")
        return chunks


def _collect(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
        answer[:] = [status, list(headers)]
        return lambda data: None

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return answer[0], answer[1], payload


def _route_of(app: Any) -> _Route | None:
    """The handler and CORS headers of moto's Flask ``app`` for POST "/", or None when the app
    does anything per request that the fast route does not re-state."""
    import flask  # noqa: PLC0415 - moto's dependency, sandbox only
    from moto.core.utils import convert_to_flask_response  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import BackendRequest  # noqa: PLC0415

    plain = (
        type(app) is flask.Flask
        and "wsgi_app" not in vars(app)
        and app.request_class is BackendRequest
        and app.response_class is flask.Response
        and not app.blueprints
        and not any(app.before_request_funcs.values())
        and not any(app.teardown_request_funcs.values())
        and not any(app.url_value_preprocessors.values())
        and not any(app.teardown_appcontext_funcs)
        and list(app.after_request_funcs) == [None]
        and len(app.after_request_funcs[None]) == 1  # flask_cors's
        and app.secret_key is None  # no session to save
    )
    if not plain:
        return None
    try:
        endpoint, _ = app.url_map.bind("localhost").match("/", method="POST")
    except Exception:  # noqa: BLE001 - no such rule: moto's app answers
        return None
    view = app.view_functions.get(endpoint)
    if type(view) is not convert_to_flask_response:
        return None
    if not isinstance(view.callback, _Replayable):
        view.callback = _Replayable(view.callback)
    # What flask_cors's hook adds to an answer to POST "/" without CORS request headers.
    with app.test_request_context("/", method="POST"):
        response = app.response_class()
        before = list(response.headers)
        response = app.after_request_funcs[None][0](response)
        after = list(response.headers)
    if after[: len(before)] != before:
        return None
    return _Route(callback=view.callback.callback, cors=after[len(before) :])


def _recorder_on() -> bool:
    from moto.moto_api import recorder  # noqa: PLC0415 - moto internals, sandbox only

    return bool(getattr(recorder, "_user_enabled", True))


def _flask_signals_connected() -> bool:
    from flask import signals  # noqa: PLC0415 - moto's dependency, sandbox only

    return any(
        s.receivers
        for s in (
            signals.request_started,
            signals.request_finished,
            signals.got_request_exception,
            signals.request_tearing_down,
            signals.appcontext_tearing_down,
            signals.appcontext_pushed,
            signals.appcontext_popped,
        )
    )
