"""The sandbox's contract layer: what AWS documents where moto is kinder, in front of moto.

:class:`ContractLayer` is a WSGI application around moto's. It answers Security Hub's
BatchImportFindings, GetFindings and BatchUpdateFindings from its own findings store
(:mod:`sandbox.securityhub`: the only store of findings; moto's stays empty) and rewrites
Organizations' account answers (:mod:`sandbox.organizations`). Every other call, Security Hub's
EnableSecurityHub and DescribeHub included, is moto's, untouched, but for two of CloudTrail's
(:mod:`sandbox.cloudtrail`).

Who calls is moto's answer, asked over its own WSGI interface (nothing of moto's modules is
imported): STS GetCallerIdentity with the caller's access key id (moto does not verify
signatures, and honours its ``x-moto-account-id`` header as for any call), and DescribeHub with
the caller's own signature to learn whether Security Hub is enabled in that account and region.
Both answers are cached until moto is reset (``POST /moto-api/reset``, which also empties the
layer) or, for the hub, until EnableSecurityHub or DisableSecurityHub passes by.

The layer's state is one per process (:data:`CONTRACTS`), like moto's backends: every endpoint
serving a layer (the MotoSandbox server, the fault proxy, the child server of
``sandbox.aws_server``) sees the same findings. Its clock is settable (:meth:`Contracts.set_clock`)
so tests can let 90 days pass.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from werkzeug.test import EnvironBuilder, run_wsgi_app

from sandbox import cloudtrail
from sandbox.organizations import REWRITTEN, TARGET_PREFIX, AccountStates
from sandbox.root_access import AssumeRoot, RootAccess, SessionCalls, form_params
from sandbox.securityhub import Caller, SecurityHubError, SecurityHubFindings

_LOG = logging.getLogger(__name__)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

# SigV4: "Credential=AKID/DATE/REGION/SERVICE/aws4_request"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[0-9]{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
_ACCOUNT = re.compile(r"<Account>([0-9]{12})</Account>")
_ARN = re.compile(r"<Arn>([^<]+)</Arn>")
IMPORTED = "Security Hub Findings - Imported"
CLOUDTRAIL = "AWS API Call via CloudTrail"
_INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")

_SECURITYHUB_ROUTES = {
    ("POST", "/findings/import"): "import",  # BatchImportFindings
    ("POST", "/findings"): "get",  # GetFindings
    ("PATCH", "/findings/batchupdate"): "update",  # BatchUpdateFindings
}


class Contracts:
    """The contract layer's state in this process: findings, account states, clock, caches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fixed_now: datetime | None = None
        self.securityhub = SecurityHubFindings(self.now)
        self.organizations = AccountStates()
        self.root_access = RootAccess(self.now)  # sandbox.root_access
        self._callers: dict[tuple[str, str], tuple[str, str]] = {}  # (key, header) -> acct, arn
        self._hubs: dict[tuple[str, str], bool] = {}  # (account, region) -> enabled
        self._invocations: list[tuple[str, dict[str, Any]]] = []  # (function, payload)

    def now(self) -> datetime:
        """The sandbox's time (UTC): the real time unless a test set it."""
        fixed = self._fixed_now
        return fixed if fixed is not None else datetime.now(UTC)

    def set_clock(self, now: datetime | None) -> None:
        """Stop the sandbox's clock at ``now`` (aware); None: the real time again."""
        if now is not None and now.tzinfo is None:
            raise ValueError("the sandbox's clock needs an aware datetime")
        self._fixed_now = now

    def reset(self) -> None:
        """What moto's reset does to moto: nothing stays (findings, states, clock, caches)."""
        self.securityhub.reset()
        self.organizations.reset()
        self.root_access.reset()
        self._fixed_now = None
        with self._lock:
            self._callers.clear()
            self._hubs.clear()
            self._invocations.clear()

    def queue_invocation(self, function: str, payload: dict[str, Any]) -> None:
        """An asynchronous Lambda invocation, held for a test to run."""
        with self._lock:
            self._invocations.append((function, payload))

    def take_invocations(self) -> list[tuple[str, dict[str, Any]]]:
        """The asynchronous invocations queued so far (taken: each is run once)."""
        with self._lock:
            taken, self._invocations[:] = list(self._invocations), []
        return taken

    def forget_hubs(self) -> None:
        """Security Hub was enabled or disabled somewhere: ask moto again."""
        with self._lock:
            self._hubs.clear()

    def caller(self, key: tuple[str, str]) -> tuple[str, str] | None:
        """The cached (account, principal ARN) of an access key (and moto account header)."""
        with self._lock:
            return self._callers.get(key)

    def remember_caller(self, key: tuple[str, str], identity: tuple[str, str]) -> None:
        """Cache who an access key is."""
        with self._lock:
            self._callers[key] = identity

    def hub(self, key: tuple[str, str]) -> bool | None:
        """Whether Security Hub is enabled for (account, region), if known."""
        with self._lock:
            return self._hubs.get(key)

    def remember_hub(self, key: tuple[str, str], enabled: bool) -> None:
        """Cache whether Security Hub is enabled for (account, region)."""
        with self._lock:
            self._hubs[key] = enabled


CONTRACTS = Contracts()


class ContractLayer:
    """moto's WSGI application behind AWS's documented contracts (module docstring)."""

    def __init__(self, app: WsgiApp, contracts: Contracts = CONTRACTS) -> None:
        self.app = app
        self.contracts = contracts

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset":
            self.contracts.reset()
            return self.app(environ, start_response)
        scope = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if scope is not None:
            answered = self._root_access(environ, start_response, scope)
            if answered is not None:
                return answered
        if scope is not None and scope.group(3) == "securityhub":
            return self._securityhub(environ, start_response, scope.group(1), scope.group(2))
        invoked = _INVOKE.fullmatch(path)
        if invoked is not None and environ.get("HTTP_X_AMZ_INVOCATION_TYPE") == "Event":
            return self._invoke_async(environ, start_response, unquote(invoked.group(1)))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(TARGET_PREFIX) and target[len(TARGET_PREFIX) :] in REWRITTEN:
            return self._organizations(environ, start_response, target[len(TARGET_PREFIX) :])
        operation = target.removeprefix(cloudtrail.TARGET_PREFIX)
        if target.startswith(cloudtrail.TARGET_PREFIX) and cloudtrail.handles(operation):
            return cloudtrail.answer(self.app, environ, start_response, operation)
        return self.app(environ, start_response)

    # -- centralized root access (sandbox.root_access) --------------------------------------------

    def _root_access(
        self, environ: dict[str, Any], start_response: StartResponse, scope: re.Match[str]
    ) -> Iterable[bytes] | None:
        """AssumeRoot, or a call signed with a root session's credentials; None: neither."""
        key_id, region, service = scope.group(1), scope.group(2), scope.group(3)
        state = self.contracts.root_access
        session = state.session(key_id)
        if session is not None:
            body = _read_body(environ)
            calls = SessionCalls(self.app, state, self._put_event)
            return calls(environ, start_response, session, service, body)
        if service != "sts":
            return None
        params = form_params(_read_body(environ))
        if params.get("Action") != "AssumeRoot":
            return None
        assume = AssumeRoot(self.app, state, self._put_event)
        return assume(environ, start_response, params, (key_id, region))

    # -- Lambda ---------------------------------------------------------------------------------

    def _invoke_async(
        self, environ: dict[str, Any], start_response: StartResponse, function: str
    ) -> Iterable[bytes]:
        """Invoke with InvocationType Event: Lambda queues the event and answers 202 ("Invoke",
        Lambda API reference). moto cannot run the function here; the sandbox holds the event
        for the test (or demo) to hand to the handler, as it does with routed events."""
        try:
            payload = json.loads(_read_body(environ) or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            error = {"Type": "User", "Message": "Could not parse request body into json"}
            return _json(start_response, 400, error)
        self.contracts.queue_invocation(function, payload)
        start_response(
            "202 Accepted",
            [("Content-Length", "0"), ("x-amzn-RequestId", str(uuid.uuid4()))],
        )
        return [b""]

    # -- Security Hub ---------------------------------------------------------------------------

    def _securityhub(
        self, environ: dict[str, Any], start_response: StartResponse, key_id: str, region: str
    ) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        route = _SECURITYHUB_ROUTES.get((method, path))
        if route is None:
            result = self.app(environ, start_response)
            try:
                answer = list(result)
            finally:
                getattr(result, "close", lambda: None)()
            if path == "/accounts" and method in {"POST", "DELETE"}:  # Enable/DisableSecurityHub
                self.contracts.forget_hubs()
            return answer
        try:
            doc = json.loads(_read_body(environ) or b"{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            error = SecurityHubError("InvalidInputException", "The request body is not an object")
            return _json_error(start_response, error)
        try:
            caller = self._caller(environ, key_id, region)
            answer = self._answer(route, environ, caller, doc)
        except SecurityHubError as error:
            return _json_error(start_response, error)
        return _json(start_response, 200, answer)

    def _answer(
        self, route: str, environ: dict[str, Any], caller: Caller, doc: dict[str, Any]
    ) -> dict[str, Any]:
        findings = self.contracts.securityhub
        enabled = self._hub_enabled(environ, caller)
        changed: list[dict[str, Any]] = []
        if route == "import":  # per finding: InvalidAccess in FailedFindings
            answer = findings.batch_import(caller, doc, enabled=enabled, changed=changed)
            self._emit_imported(caller, changed)
            return answer
        if route == "get":
            # AWS refuses GetFindings too where Security Hub is off; the sandbox still answers
            # it (with what that account holds: nothing it could have imported), because the
            # existing tests sweep accounts that never enabled Security Hub.
            return findings.get_findings(caller, doc)
        if not enabled:
            # What Security Hub answers an account that has not enabled it (its message as
            # quoted in https://github.com/joshlarsen/aws-recon/issues/65).
            message = f"Account {caller.account} is not subscribed to AWS Security Hub"
            raise SecurityHubError("InvalidAccessException", message)
        answer = findings.batch_update(caller, doc, changed)
        self._emit_imported(caller, changed)
        self._emit_cloudtrail(caller, doc, answer)
        return answer

    # -- the events Security Hub and CloudTrail send to EventBridge ------------------------------

    def _emit_imported(self, caller: Caller, findings: list[dict[str, Any]]) -> None:
        """ "Security Hub Findings - Imported": one event per finding created or updated, by
        BatchImportFindings or BatchUpdateFindings, with the finding as it now is ("EventBridge
        event formats for Security Hub CSPM"), in the finding's account."""
        for finding in findings:
            account = str(finding.get("AwsAccountId", caller.account))
            self._put_event(
                caller.region, account, "aws.securityhub", IMPORTED, {"findings": [finding]}
            )

    def _emit_cloudtrail(
        self, caller: Caller, request: dict[str, Any], answer: dict[str, Any]
    ) -> None:
        """CloudTrail's record of a BatchUpdateFindings call, as EventBridge delivers a write
        management event ("AWS API Call via CloudTrail"), in the caller's account."""
        now = self.contracts.now()
        identity: dict[str, Any] = {
            "type": "IAMUser",
            "arn": caller.arn,
            "accountId": caller.account,
            "principalId": caller.account,
        }
        if ":assumed-role/" in caller.arn:
            prefix, _, path = caller.arn.partition(":assumed-role/")
            role = f"{prefix.replace(':sts:', ':iam:')}:role/{path.split('/', 1)[0]}"
            identity["type"] = "AssumedRole"
            identity["sessionContext"] = {
                "sessionIssuer": {"type": "Role", "arn": role, "accountId": caller.account}
            }
        record = {
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "securityhub.amazonaws.com",
            "eventName": "BatchUpdateFindings",
            "awsRegion": caller.region,
            "sourceIPAddress": "127.0.0.1",
            "userAgent": "sandbox",
            "requestParameters": request,
            "responseElements": answer,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": caller.account,
            "eventCategory": "Management",
        }
        self._put_event(caller.region, caller.account, "aws.securityhub", CLOUDTRAIL, record)

    def _put_event(
        self, region: str, account: str, source: str, detail_type: str, detail: dict[str, Any]
    ) -> None:
        """PutEvents on the account's default bus, asked of moto over its WSGI interface."""
        entry = {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
        body = json.dumps({"Entries": [entry]}).encode()
        environ = EnvironBuilder(
            method="POST",
            path="/",
            headers={
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/events/aws4_request, "
                    "SignedHeaders=host, Signature=0"
                ),
                "Host": f"events.{region}.amazonaws.com",
                "X-Amz-Target": "AWSEvents.PutEvents",
                "x-moto-account-id": account,
            },
            data=body,
            content_type="application/x-amz-json-1.1",
        ).get_environ()
        try:
            chunks, status, _ = run_wsgi_app(self.app, environ, buffered=True)
            getattr(chunks, "close", lambda: None)()
        except Exception:  # noqa: BLE001 - the event is lost, the Security Hub call is not
            # (moto's PutEvents raises NotImplementedError when the account has a scheduled
            # rule, as a deployed stack's sweep schedule is: moto cannot route past it.)
            _LOG.warning("sandbox: PutEvents of %r failed", detail_type, exc_info=True)
            return
        if not status.startswith("200"):
            _LOG.warning("sandbox: PutEvents of %r answered %s", detail_type, status)

    def _caller(self, environ: dict[str, Any], key_id: str, region: str) -> Caller:
        header = environ.get("HTTP_X_MOTO_ACCOUNT_ID", "")
        known = self.contracts.caller((key_id, header))
        if known is None:
            headers = {
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential={key_id}/20260101/{region}/sts/aws4_request, "
                    "SignedHeaders=host, Signature=0"
                ),
                "Host": f"sts.{region}.amazonaws.com",
            }
            if header:
                headers["x-moto-account-id"] = header
            status, text = self._ask_moto(
                "POST", "/", headers, b"Action=GetCallerIdentity&Version=2011-06-15"
            )
            account, arn = _ACCOUNT.search(text), _ARN.search(text)
            if status != 200 or account is None or arn is None:
                raise SecurityHubError("AccessDeniedException", "The security token is not valid")
            known = (account.group(1), arn.group(1))
            self.contracts.remember_caller((key_id, header), known)
        return Caller(account=known[0], arn=known[1], region=region)

    def _hub_enabled(self, environ: dict[str, Any], caller: Caller) -> bool:
        key = (caller.account, caller.region)
        enabled = self.contracts.hub(key)
        if enabled is None:
            headers = {
                "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
                "Host": f"securityhub.{caller.region}.amazonaws.com",
            }
            if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
                headers["x-moto-account-id"] = environ["HTTP_X_MOTO_ACCOUNT_ID"]
            status, _ = self._ask_moto("GET", "/accounts", headers, b"")  # DescribeHub
            enabled = status == 200
            self.contracts.remember_hub(key, enabled)
        return enabled

    def _ask_moto(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str]:
        content_type = "application/x-www-form-urlencoded; charset=utf-8" if body else None
        environ = EnvironBuilder(
            method=method, path=path, headers=headers, data=body, content_type=content_type
        ).get_environ()
        chunks, status, _ = run_wsgi_app(self.app, environ, buffered=True)
        try:
            text = b"".join(chunks).decode("utf-8", "replace")
        finally:
            getattr(chunks, "close", lambda: None)()
        return int(status.split(" ", 1)[0]), text

    # -- Organizations --------------------------------------------------------------------------

    def _organizations(
        self, environ: dict[str, Any], start_response: StartResponse, operation: str
    ) -> Iterable[bytes]:
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, capture)
        try:
            payload = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        status, headers = answer
        if status.startswith("200"):
            payload = self.contracts.organizations.rewrite(operation, payload)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


def _read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body; the environ gets a fresh stream of it."""
    stream = environ["wsgi.input"]
    if environ.get("CONTENT_LENGTH"):
        body = bytes(stream.read(int(environ["CONTENT_LENGTH"])))
    elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        body = bytes(stream.read())
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json(start_response: StartResponse, status: int, doc: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(doc).encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [payload]


def _json_error(start_response: StartResponse, error: SecurityHubError) -> list[bytes]:
    # REST-JSON errors: the code in x-amzn-ErrorType, Code and Message in the body ([MODEL]).
    payload = json.dumps({"Code": error.code, "Message": error.message}).encode()
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("x-amzn-ErrorType", error.code),
        ],
    )
    return [payload]
