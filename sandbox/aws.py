"""moto in server mode, in-process: a real HTTP endpoint speaking the AWS wire protocol.

In-process because moto cannot hold a root access key: the sandbox sets IAM's account
summary flag (AccountAccessKeysPresent) directly in moto's backend.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from xml.sax.saxutils import escape, quoteattr

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from detector.adapters.ledger import create_table
from sandbox import moto_fast, moto_route
from sandbox.contracts import CONTRACTS, ContractLayer

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
SLACK_TOKEN = "xoxb-sandbox-token"
SLACK_CHANNEL = "C0SECALERTS"
TOKEN_SECRET_NAME = "root-key-detector/slack-bot-token"
WEBHOOK_SECRET_NAME = "root-key-detector/slack-webhook-url"
LEDGER_TABLE = "root-key-detector-ledger"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class ServedEndpoint:
    """Stopping, and ``with`` use, of an endpoint that :func:`serve_aws` serves."""

    _server: BaseWSGIServer | None

    def start(self) -> Self:
        """Start serving; returns self."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class MotoSandbox(ServedEndpoint):
    """A moto server on 127.0.0.1 (a free port) plus helpers to seed and inspect it."""

    host: str = "127.0.0.1"
    port: int = 0
    _server: BaseWSGIServer | None = None
    contracts: bool = True  # AWS's documented contracts in front of moto (sandbox.contracts)

    def start(self) -> MotoSandbox:
        """Start the server; returns self."""
        prepare_moto()
        self._server = serve_aws(sandbox_app(contracts=self.contracts), self.host, self.port)
        self.port = self._server.server_port
        return self

    @property
    def endpoint_url(self) -> str:
        """What AWS_ENDPOINT_URL must be for clients to reach this sandbox."""
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the detector) at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **FAKE_CREDENTIALS,
        }

    def client(self, service: str, region: str = REGION) -> Any:
        """A boto3 client for the sandbox (for seeding and inspecting, not for the detector)."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # -- seeding ---------------------------------------------------------------------------

    def seed(self, *, slack_token: str = SLACK_TOKEN, webhook_url: str | None = None) -> None:
        """Enable Security Hub and store the Slack secrets, as a deployment would have."""
        self.client("securityhub").enable_security_hub(EnableDefaultStandards=False)
        sm = self.client("secretsmanager")
        sm.create_secret(Name=TOKEN_SECRET_NAME, SecretString=json.dumps({"token": slack_token}))
        if webhook_url:
            sm.create_secret(Name=WEBHOOK_SECRET_NAME, SecretString=webhook_url)
        create_table(self.client("dynamodb"), LEDGER_TABLE)

    def enable_security_hub(self, *account_ids: str) -> None:
        """Enable Security Hub in each account, as a deployment must have it (README)."""
        client = self.client("securityhub")
        acting = {"account": ACCOUNT_ID}
        client.meta.events.register(
            "before-sign.securityhub",
            lambda request, **_: _act_in_account(acting["account"], request),
        )
        for account_id in account_ids:
            acting["account"] = account_id
            client.enable_security_hub(EnableDefaultStandards=False)

    def set_root_key_present(self, present: bool, account_id: str = ACCOUNT_ID) -> None:
        """What IAM's GetAccountSummary reports as AccountAccessKeysPresent for root."""
        set_root_key_flag(present, account_id)

    def set_securityhub_administrator(self, account_id: str | None) -> None:
        """Make ``account_id`` the Security Hub administrator of every account (None: nobody)."""
        set_securityhub_administrator(account_id)

    def set_clock(self, now: datetime | None) -> None:
        """Stop the sandbox's clock at ``now`` (aware; None: the real time again)."""
        CONTRACTS.set_clock(now)

    def set_account_state(self, account_id: str, state: str | None) -> None:
        """Organizations answers ``account_id`` with ``State`` ``state`` (None: no State)."""
        CONTRACTS.organizations.set(account_id, state)

    # -- inspecting ------------------------------------------------------------------------

    def findings(self, account_id: str = ACCOUNT_ID) -> list[dict[str, Any]]:
        """Every finding Security Hub holds for the account, read as that account."""
        out: list[dict[str, Any]] = []
        paginator_token: str | None = None
        client = self.client("securityhub")
        client.meta.events.register(  # moto's header naming the account a call acts in
            "before-sign.securityhub.GetFindings",
            functools.partial(_act_in_account, account_id),
        )
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 100}
            if paginator_token:
                kwargs["NextToken"] = paginator_token
            resp = client.get_findings(**kwargs)
            out.extend(f for f in resp["Findings"] if f.get("AwsAccountId") == account_id)
            paginator_token = resp.get("NextToken")
            if not paginator_token:
                return out


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _act_in_account(account_id: str, request: Any, **_: Any) -> None:
    request.headers["x-moto-account-id"] = account_id


def prepare_moto() -> None:
    """Quiet werkzeug, and give moto the guarantees and speed the sandbox relies on (once)."""
    # werkzeug logs every request to stderr; the demo and tests want quiet output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _make_dynamodb_writes_atomic()
    _speed_up_moto_dispatch()


def moto_app() -> WsgiApp:
    """moto's WSGI application (all services).

    moto's backends are module state: every app made here serves the same accounts. IAM and
    STS calls take a shorter way to moto's own handlers (:mod:`sandbox.moto_route`).
    """
    return moto_route.FastQueryRoute(DomainDispatcherApplication(create_backend_app))


def sandbox_app(*, contracts: bool = True) -> WsgiApp:
    """What every sandbox AWS endpoint serves: moto behind the contract layer.

    The contract layer (:mod:`sandbox.contracts`) holds AWS's documented rules where moto is
    kinder; ``contracts=False`` (moto alone) is for a test that shows the difference.
    """
    return ContractLayer(moto_app()) if contracts else moto_app()


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body (sized or chunked), so a kept-alive connection stays in step."""
    stream = environ["wsgi.input"]
    if environ.get("CONTENT_LENGTH"):
        return bytes(stream.read(int(environ["CONTENT_LENGTH"])))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return bytes(stream.read())  # werkzeug de-chunks it and stops at the last chunk
    return b""


class _KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, keeping connections alive as AWS endpoints do.

    werkzeug's development server closes every connection (after each answer it drains the
    socket, which on a kept-alive connection would swallow the next request): every moto call
    then cost a TCP connection and a server thread, which AWS calls do not. This handler runs
    the application itself: the body is read whole first (:func:`read_body`), the answer is
    sent with its length, and the connection stays open for the client's next call. Headers
    and body go out in one write (two cost each side a system call and a wake-up more per
    call); TCP_NODELAY keeps Nagle's algorithm and the client's delayed ACK from ever adding
    ~40 ms to an answer.
    """

    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").strip().lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        body = read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        answer: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                getattr(result, "close", lambda: None)()
        except Exception:
            logging.getLogger(__name__).exception("sandbox AWS endpoint failed")
            answer[:] = ["500 Internal Server Error", []]
            chunks[:] = [b""]
        status, headers = answer
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        payload = b"".join(chunks)
        length = str(len(payload))
        for key, value in headers:
            name = key.lower()
            if name in {"connection", "transfer-encoding", "keep-alive"}:
                continue
            if name == "content-length":
                if self.command == "HEAD":
                    length = value  # the size of what a GET would send
                continue
            self.send_header(key, value)
        if int(code) not in {204, 304}:
            self.send_header("Content-Length", length)
        body = payload if self.command != "HEAD" else b""
        if self.request_version == "HTTP/0.9":  # no headers to join the body to
            self.wfile.write(body)
            return
        # What end_headers does, with the body in the same write: one send and one segment
        # per answer, for this server and for the client reading it.
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)
        self.flush_headers()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return


def serve_aws(app: WsgiApp, host: str, port: int = 0) -> BaseWSGIServer:
    """Serve ``app`` (moto, maybe behind faults) on a threaded keep-alive server."""
    server = make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def set_root_key_flag(present: bool, account_id: str = ACCOUNT_ID) -> None:
    """Set moto's AccountAccessKeysPresent for root (moto itself cannot hold a root key)."""
    from moto.iam.models import iam_backends  # noqa: PLC0415 - moto internals, sandbox only

    summary = iam_backends[account_id]["aws"].account_summary
    summary._account_access_keys_present = 1 if present else 0


def set_securityhub_administrator(account_id: str | None) -> None:
    """Make ``account_id`` Security Hub's administrator of every account (None: nobody).

    The administrator's GetFindings (and BatchUpdateFindings) reach every account's findings
    in its region, as the administrator of an organization whose accounts are all members;
    the contract layer's findings store answers it (sandbox.securityhub).
    """
    CONTRACTS.securityhub.administrator = account_id or None


_DYNAMODB_LOCK = threading.RLock()


def _make_dynamodb_writes_atomic() -> None:
    """Give moto's DynamoDB what the real one guarantees: an atomic conditional write.

    moto's threaded server evaluates a ConditionExpression and applies the write without a
    lock, so two concurrent claims can both succeed; DynamoDB never lets that happen. The
    ledger's exactly-once behaviour is tested against the real guarantee, so the sandbox
    serialises moto's DynamoDB writes (and consistent reads) behind one lock. A query or scan
    walks moto's item dictionaries, which a concurrent write changes under it ("dictionary
    changed size during iteration", a 500 DynamoDB never answers): they take the lock too.
    """
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - moto internals

    methods = ("put_item", "update_item", "delete_item", "get_item", "transact_write_items")
    for name in (*methods, "query", "scan"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_sandbox_atomic", False):
            continue

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_LOCK:
                return __original(self, *args, **kwargs)

        locked._sandbox_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


_KEY_ACCOUNTS: dict[str, str] = {}  # access key id -> account, as moto's IAM holds it
_UNKNOWN_KEYS: set[str] = set()  # keys moto's scan did not find: its default account
_KEYS_LOCK = threading.Lock()
_SPED_UP: list[bool] = []


def _speed_up_moto_dispatch() -> None:
    """Take per-request costs out of moto that grow with the sandbox, not with AWS.

    For every request moto lists its own package directory (to match a service name), lists
    the response class's methods, finds the caller's account by scanning every account's
    access keys in every partition, and copies the list of accounts at each backend lookup.
    With the 1,000 member accounts of ``make bench-org`` that work dominated the server's CPU,
    and every call in ``make bench`` paid ~10 ms the real service does not. None of it changes
    what moto answers: the lists are made once, and the key-to-account answer comes from an
    index kept beside moto's own (filled when moto issues a key, emptied when it deletes one or
    resets), the scan running only for a key the index has never seen.
    """
    with _KEYS_LOCK:
        if _SPED_UP:
            return
        _SPED_UP.append(True)
    from moto import backends  # noqa: PLC0415 - moto internals, sandbox only
    from moto.core import responses  # noqa: PLC0415

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)
    _check_accounts_once()
    _index_access_keys()
    _fast_xml_answers()
    _no_debug_files_class()
    moto_fast.apply()


def _check_accounts_once() -> None:
    """Each backend lookup copies the list of accounts to test membership: test it once."""
    from moto.core.base_backend import BackendDict  # noqa: PLC0415 - moto internals

    lookup = BackendDict.__getitem__  # creates the account's backend, then looks it up

    def known_account(self: Any, account_id: str) -> Any:
        if self.__dict__.get("_sandbox_registered"):
            found = dict.get(self, account_id)
            if found is not None:
                return found
        backend = lookup(self, account_id)
        self._sandbox_registered = True
        return backend

    reset = BackendDict.reset

    def reset_all(cls: Any) -> None:
        reset.__func__(cls)  # type: ignore[attr-defined]
        with _KEYS_LOCK:  # the keys went with the accounts
            _KEY_ACCOUNTS.clear()
            _UNKNOWN_KEYS.clear()

    BackendDict.__getitem__ = known_account  # type: ignore[method-assign]
    BackendDict.reset = classmethod(reset_all)  # type: ignore[method-assign,assignment]


def _no_debug_files_class() -> None:
    """Skip the class Flask's debug mode makes for every request's ``files`` (moto sets debug).

    For each form-encoded request Flask defines a new MultiDict subclass whose only purpose
    is a friendlier KeyError for ``request.files[name]``: a class creation per AWS call, ~3%
    of the sandbox server's CPU. moto reads ``files`` only after checking it is not empty, so
    the error it words is never raised; answers are unchanged.
    """
    from flask import debughelpers  # noqa: PLC0415 - moto's dependency, sandbox only

    debughelpers.attach_enctype_error_multidict = lambda request: None


# Set by the test suite: every XML answer is also rendered by xmltodict and compared.
VERIFY_FAST_XML: list[bool] = []


class _NotSimple(Exception):
    """The input uses an xmltodict feature the fast path leaves to xmltodict."""


def _fast_xml_answers() -> None:
    """Render moto's XML answers (IAM, STS, ...) without xmltodict's per-element overhead.

    moto turns each query-protocol answer into XML with ``xmltodict.unparse``; for IAM's
    account summary that was 40% of the call's CPU. The plain subset moto uses (elements,
    text, attributes, no pretty printing, no document header) is written directly, byte for
    byte what xmltodict writes; anything else goes to xmltodict. With ``VERIFY_FAST_XML``
    set (the test suite sets it), both render every answer and must agree.
    """
    import xmltodict  # noqa: PLC0415 - moto's dependency, sandbox only
    from moto.core import serialize  # noqa: PLC0415

    original = xmltodict.unparse
    validate = getattr(xmltodict, "_validate_name", None)  # raises for a bad name
    if validate is None:  # another xmltodict than the one this was written against
        return
    check_name = functools.cache(validate)

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise _NotSimple
        return str(value)

    def emit(key: Any, value: Any, out: list[str]) -> None:
        if not isinstance(key, str) or key == "#comment":
            raise _NotSimple
        check_name(key, "element")
        if not hasattr(value, "__iter__") or isinstance(
            value, (str, bytes, bytearray, memoryview, dict)
        ):
            value = [value]
        for item in value:
            node = {} if item is None else item
            if not isinstance(node, dict):
                node = {"#text": text(node)}
            cdata, attrs, inner = None, "", []
            for name, child in node.items():
                if name == "#text":
                    cdata = None if child is None else text(child)
                elif isinstance(name, str) and name.startswith("@"):
                    if name == "@xmlns" and isinstance(child, dict):
                        raise _NotSimple
                    check_name(name[1:], "attribute")
                    attrs += f" {name[1:]}={quoteattr('' if child is None else text(child))}"
                elif not (isinstance(child, list) and not child):
                    emit(name, child, inner)
            if inner or cdata:
                out.append(f"<{key}{attrs}>{''.join(inner)}{escape(cdata or '')}</{key}>")
            else:
                out.append(f"<{key}{attrs}/>")

    def unparse(input_dict: Any, output: Any = None, **kwargs: Any) -> Any:
        simple = (
            output is None
            and kwargs.get("full_document", True) is False
            and kwargs.get("short_empty_elements") is True
            and not kwargs.get("pretty")
            and set(kwargs) <= {"full_document", "short_empty_elements", "pretty"}
        )
        if not simple:
            return original(input_dict, output, **kwargs)
        parts: list[str] = []
        try:
            for key, value in input_dict.items():
                emit(key, value, parts)
        except _NotSimple:
            return original(input_dict, output, **kwargs)
        fast = "".join(parts)
        if VERIFY_FAST_XML:
            expected = original(input_dict, output, **kwargs)
            if fast != expected:
                raise AssertionError(f"sandbox XML differs from xmltodict:\n{fast}\n{expected}")
        return fast

    serialize.xmltodict = types.SimpleNamespace(**{**vars(xmltodict), "unparse": unparse})  # type: ignore[attr-defined]


def _index_access_keys() -> None:
    """Answer "whose key is this?" from an index instead of scanning every account."""
    from moto.iam import models as iam_models  # noqa: PLC0415 - moto internals

    backend = iam_models.IAMBackend
    scan = iam_models.get_account_id_from

    def account_of(access_key: str) -> str:
        with _KEYS_LOCK:
            account = _KEY_ACCOUNTS.get(access_key)
            if account is None and access_key in _UNKNOWN_KEYS:
                return iam_models.DEFAULT_ACCOUNT_ID
        if account is not None:
            return account
        account = scan(access_key)
        with _KEYS_LOCK:
            if account == iam_models.DEFAULT_ACCOUNT_ID:
                _UNKNOWN_KEYS.add(access_key)
            else:
                _KEY_ACCOUNTS[access_key] = account
        return account

    def issuing(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            key = original(self, *args, **kwargs)
            with _KEYS_LOCK:
                _KEY_ACCOUNTS[key.physical_resource_id] = self.account_id
                _UNKNOWN_KEYS.discard(key.physical_resource_id)
            return key

        return wrapper

    delete = backend.delete_access_key_by_name

    def delete_by_name(self: Any, name: str) -> None:
        delete(self, name)
        with _KEYS_LOCK:
            _KEY_ACCOUNTS.pop(name, None)

    backend.create_access_key = issuing(backend.create_access_key)  # type: ignore[method-assign]
    backend.create_temp_access_key = issuing(backend.create_temp_access_key)  # type: ignore[method-assign]
    backend.delete_access_key_by_name = delete_by_name  # type: ignore[method-assign]
    iam_models.get_account_id_from = account_of


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (the detector reads os.environ)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
