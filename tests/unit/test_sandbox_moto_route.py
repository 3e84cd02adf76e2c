"""IAM and STS calls skipping Flask (sandbox.moto_route) get moto's answers, byte for byte."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from werkzeug.exceptions import BadRequest
from werkzeug.test import EnvironBuilder

from sandbox import moto_fast, moto_route
from sandbox.aws import moto_app, prepare_moto

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def _environ(service: str, params: dict[str, str], **headers: str) -> dict[str, Any]:
    """A request as botocore signs it, as the sandbox's server hands it to the application."""
    body = urlencode(params)
    request = AWSRequest(
        "POST", "http://127.0.0.1:5000/", data=body, headers={"Content-Type": FORM}
    )
    SigV4Auth(Credentials("testing", "testing"), service, "us-east-1").add_auth(request)
    builder = EnvironBuilder(path="/", method="POST", headers={**request.headers, **headers})
    builder.input_stream = io.BytesIO(body.encode())
    builder.content_length = len(body)
    environ = builder.get_environ()
    environ["wsgi.input"] = io.BytesIO(body.encode())  # _call reads it with getvalue()
    return environ


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    answer: list[Any] = []
    body = environ["wsgi.input"].getvalue()
    environ = {**environ, "wsgi.input": io.BytesIO(body)}
    result = app(environ, lambda status, headers, exc=None: answer.extend([status, headers]))
    return answer[0], list(answer[1]), b"".join(result)


@pytest.fixture
def route() -> moto_route.FastQueryRoute:
    prepare_moto()
    app = moto_app()
    assert isinstance(app, moto_route.FastQueryRoute)
    calls = [("iam", "GetAccountSummary", "2010-05-08"), ("sts", "GetCallerIdentity", "2011-06-15")]
    for service, action, version in calls * 2:  # moto's app makes each Flask app; then routes
        _call(app, _environ(service, {"Action": action, "Version": version}))
    assert app.stats == moto_route.RouteStats(fast=2, moto=2)
    app.stats = moto_route.RouteStats()
    return app


READS = [
    ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"}),
    ("iam", {"Action": "ListUsers", "Version": "2010-05-08"}),
    ("iam", {"Action": "GetRole", "RoleName": "nobody", "Version": "2010-05-08"}),  # an error
    ("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
    ("sts", {"Action": "GetAccessKeyInfo", "AccessKeyId": "AKIAX", "Version": "2011-06-15"}),
]


@pytest.mark.parametrize(("service", "params"), READS)
def test_fast_answers_are_moto_answers(
    route: moto_route.FastQueryRoute,
    service: str,
    params: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not through the verifying pass: moto's own app, called separately, with the same random
    # request id (moto's random source seeded the same for both).
    from moto.moto_api._internal import mock_random  # noqa: PLC0415 - moto internals

    monkeypatch.setattr(moto_route, "VERIFY_FAST_ROUTE", [])
    environ = _environ(service, params)
    mock_random.seed(7)
    fast = _call(route, environ)
    assert route.stats.fast == 1
    mock_random.seed(7)
    assert _call(route.moto, environ) == fast
    assert ("Access-Control-Allow-Origin", "*") in fast[1]


def test_assume_role_is_answered_once_and_verified(route: moto_route.FastQueryRoute) -> None:
    from moto.sts.models import sts_backends  # noqa: PLC0415 - moto internals

    backend = sts_backends["210987654321"]["aws"]  # the role's account holds the session
    before = len(backend.assumed_roles)
    params = {
        "Action": "AssumeRole",
        "RoleArn": "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole",
        "RoleSessionName": "sweep",
        "Version": "2011-06-15",
    }
    status, _, body = _call(route, _environ("sts", params))  # verifying pass on (conftest)
    assert status == "200 OK"
    assert b"<AccessKeyId>ASIA" in body
    assert route.stats.fast == 1
    assert len(backend.assumed_roles) == before + 1  # moto's handler ran once, not twice


def test_verifying_catches_a_wrong_answer(route: moto_route.FastQueryRoute) -> None:
    iam = route._routes["iam"]
    assert iam is not None
    route._routes["iam"] = replace(iam, cors=[])  # forgets flask_cors's header
    with pytest.raises(moto_route.RouteMismatch):
        _call(route, _environ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"}))


def test_verifying_catches_a_handler_called_differently(
    route: moto_route.FastQueryRoute, monkeypatch: pytest.MonkeyPatch
) -> None:
    def other_headers(request: Any) -> tuple[str, dict[str, str]]:
        return request.raw_url, {k.lower(): v for k, v in request.headers}

    monkeypatch.setattr(moto_route, "_handler_args", other_headers)
    with pytest.raises(moto_route.RouteMismatch):  # its answer matches; its inputs do not
        _call(route, _environ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"}))


def test_client_errors_are_rendered_as_moto_view_does(route: moto_route.FastQueryRoute) -> None:
    iam = route._routes["iam"]
    assert iam is not None

    def client_error(request: Any, full_url: str, headers: dict[str, str]) -> Any:
        raise ClientError({"Error": {"Code": "X", "Message": "no way"}}, "GetAccountSummary")

    route._routes["iam"] = replace(iam, callback=client_error)
    environ = _environ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"})
    status, headers, body = _call(route, environ)  # and compared with moto's path (conftest)
    assert (status, body) == ("400 BAD REQUEST", b"no way")
    assert ("Access-Control-Allow-Origin", "*") in headers
    assert route.stats.fast == 1


def test_handler_surprises_are_moto_flask_path_s(route: moto_route.FastQueryRoute) -> None:
    iam = route._routes["iam"]
    assert iam is not None

    def bad_request(request: Any, full_url: str, headers: dict[str, str]) -> Any:
        raise BadRequest("odd")

    def crash(request: Any, full_url: str, headers: dict[str, str]) -> Any:
        raise RuntimeError("moto failed")

    route._routes["iam"] = replace(iam, callback=bad_request)
    environ = _environ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"})
    status, headers, _ = _call(route, environ)  # rendered by Flask, with flask_cors's header
    assert status == "400 BAD REQUEST"
    assert ("Access-Control-Allow-Origin", "*") in headers
    route._routes["iam"] = replace(iam, callback=crash)
    with pytest.raises(RuntimeError, match="moto failed"):  # as from Flask in debug mode
        _call(route, environ)


def test_other_requests_go_to_moto_app(route: moto_route.FastQueryRoute) -> None:
    # With an Origin header flask_cors echoes it: not the route's fixed set, so moto's path.
    params = {"Action": "GetAccountSummary", "Version": "2010-05-08"}
    _, headers, _ = _call(route, _environ("iam", params, Origin="https://example.com"))
    assert ("Access-Control-Allow-Origin", "https://example.com") in headers
    dynamodb = _environ("dynamodb", {})
    dynamodb["HTTP_X_AMZ_TARGET"] = "DynamoDB_20120810.ListTables"
    dynamodb["CONTENT_TYPE"] = "application/x-amz-json-1.0"
    _call(route, dynamodb)
    assert route.stats.fast == 0
    assert route.stats.moto == 2


@pytest.mark.parametrize("switch", ["version", "environment"])
def test_steps_aside_for_another_moto_or_when_off(
    switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if switch == "version":
        monkeypatch.setattr(moto_fast, "MOTO_VERSION", "0.0.0")
    else:
        monkeypatch.setenv(moto_route.ROUTE_SWITCH, "off")
    app = moto_app()
    assert isinstance(app, moto_route.FastQueryRoute)
    environ = _environ("iam", {"Action": "GetAccountSummary", "Version": "2010-05-08"})
    for _ in range(2):
        assert _call(app, environ)[0] == "200 OK"
    assert app.stats.fast == 0
