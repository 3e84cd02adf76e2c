"""The sandbox's keep-alive AWS server: each answer whole, in one write, on a kept connection."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from sandbox.aws import _KeepAliveHandler

FORM = "application/x-www-form-urlencoded; charset=utf-8"
BODY = b"<GetAccountSummaryResponse>" + b"x" * 3000 + b"</GetAccountSummaryResponse>"


class _CountingWrites(_KeepAliveHandler):
    """Records every write the server makes to the socket."""

    writes: list[bytes]

    def setup(self) -> None:
        super().setup()
        raw_write = self.wfile.write

        def write(data: Any) -> int:
            self.writes.append(bytes(data))
            return int(raw_write(data))

        self.wfile.write = write  # type: ignore[method-assign]


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(BODY)))])
    return [BODY[:100], BODY[100:]]  # moto may answer in pieces


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    writes: list[bytes] = []
    handler = type("Handler", (_CountingWrites,), {"writes": writes})
    srv = make_server("127.0.0.1", 0, _app, threaded=True, request_handler=handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_port, writes
    srv.shutdown()
    srv.server_close()


def test_each_answer_is_one_write_and_the_connection_is_kept(
    server: tuple[int, list[bytes]],
) -> None:
    port, writes = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(2):  # the same connection twice
        conn.request("POST", "/", body=b"Action=GetAccountSummary")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, BODY)
    conn.request("HEAD", "/")
    head = conn.getresponse()
    assert (head.status, head.getheader("Content-Length"), head.read()) == (
        200,
        str(len(BODY)),
        b"",
    )
    conn.close()

    assert len(writes) == 3  # headers and body together, once per answer
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n" + BODY)
    assert writes[2].endswith(b"\r\n\r\n")  # HEAD: the headers only


def test_moto_flask_debug_mode_makes_no_class_per_request() -> None:
    from flask import Flask, request  # noqa: PLC0415 - moto's dependency, test only
    from werkzeug.datastructures import ImmutableMultiDict  # noqa: PLC0415

    from sandbox.aws import prepare_moto  # noqa: PLC0415

    prepare_moto()
    app = Flask("moto")
    app.debug = True  # as moto's backend apps are
    seen: list[type] = []

    @app.post("/")
    def answer() -> str:
        assert request.form["Action"] == "GetAccountSummary"
        seen.append(type(request.files))
        return "ok"

    client = app.test_client()
    for _ in range(2):
        resp = client.post("/", data="Action=GetAccountSummary", content_type=FORM)
        assert resp.data == b"ok"
    assert seen == [ImmutableMultiDict, ImmutableMultiDict]
