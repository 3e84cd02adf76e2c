"""Fixed answers for every call the detector makes: the far side of the latency benchmarks.

``python -m bench.canned_aws --latency S --token T`` prints one JSON line ``{"url": URL}`` and
serves until its standard input closes. AWS clients point ``AWS_ENDPOINT_URL`` at ``URL``, the
Slack client ``SLACK_API_URL`` at ``URL/slack/api/``. Every call waits ``S`` (the injected round
trip), then gets a fixed answer in its protocol's wire shape:

- IAM ``GetAccountSummary``: ``AccountAccessKeysPresent`` 1 in the caller's own account (unless
  ``own_present`` is off) and in the member accounts named in ``keys_in``, else 0. The account
  is read from the access key id the request is signed with (``Credential=`` in its
  Authorization header): AssumeRole hands out ``ASIA<account>BNCH``.
- STS ``AssumeRole``: credentials of the role's account, distinct per account and per call,
  valid for the requested duration; ``GetCallerIdentity``: the own account.
- DynamoDB: every item is new. ``UpdateItem`` succeeds; with ``ReturnValues=ALL_NEW`` it returns
  the key plus what the update expression's ``SET`` and ``ADD`` clauses write into an empty
  item (``if_not_exists(x, :v)`` is ``:v``). ``Query`` finds nothing, ``GetItem`` no item.
- Secrets Manager ``GetSecretValue``: ``{"token": T}``, the Slack token as the sandbox stores it.
- Security Hub ``BatchImportFindings``: every finding accepted; ``DescribeHub``: enabled.
- The sweep's dependency checks: CloudTrail ``DescribeTrails`` lists one logging organization
  trail of every region (``GetTrailStatus``: logging; ``GetEventSelectors``: the default
  selector, all management events), EventBridge ``DescribeRule``: the rule, ``ENABLED``.
- Slack ``chat.postMessage`` / ``chat.update`` (bot token ``T`` required): accepted, each post a
  new ``ts``.

Anything else is answered with an error (``NotCanned``), so a call the detector starts making
fails the benchmark instead of being measured against a wrong answer. It keeps no state and
checks nothing else, so it proves no behaviour: the harnesses run the same events against the
sandbox (moto) and compare what the detector did. What it gives is time with no server CPU on
the detector's side: it runs in its own process, and answers calls of one round in parallel.

Every call is logged with the monotonic clock (``CLOCK_MONOTONIC``, the same clock in every
process of the machine): when its request had been read, and when its answer went out (after
the injected wait). ``GET /_canned/log`` returns the log; ``POST /_canned/config`` changes
``latency_s``, ``own_present`` and ``keys_in``. A Slack post counts as received when its answer
goes out: the injected wait stands for the post's round trip, as the limit of
``time_to_alert_rtt`` (two round trips) counts it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

OWN_ACCOUNT = "123456789012"  # the sandbox's account (moto's default), the detector's own
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SLACK_PREFIX = "/slack/api/"
CONTROL_PREFIX = "/_canned/"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_MEMBER_KEY = re.compile(r"ASIA(\d{12})BNCH")


def now_mono() -> float:
    """The machine-wide monotonic clock (seconds): comparable between processes."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


@dataclass
class Call:
    """One call as the endpoint saw it."""

    op: str  # "iam.GetAccountSummary", "dynamodb.UpdateItem", "slack.chat.postMessage", ...
    read: float  # CLOCK_MONOTONIC when the request had been read
    answered: float  # ... when the answer went out (after the injected wait)
    status: int
    account: str = ""  # the account the call acted in (IAM, STS)
    ts: str = ""  # a Slack post's ts


@dataclass
class CannedState:
    """What the endpoint is told (latency, who holds a key) and what it saw (the call log)."""

    token: str
    latency_s: float = 0.0
    own_present: bool = True
    keys_in: frozenset[str] = frozenset()
    log: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 62)))

    def next_number(self) -> int:
        with self.lock:
            return next(self._counter)

    def present_in(self, account: str) -> bool:
        return self.own_present if account == OWN_ACCOUNT else account in self.keys_in


# ---------------------------------------------------------------------------------------------
# IAM and STS (query protocol: a form-encoded POST, XML answers)


def _xml_error(ns: str, code: str, message: str, status: int = 400) -> tuple[int, str]:
    return status, (
        f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>canned</RequestId></ErrorResponse>"
    )


def _meta() -> str:
    return "<ResponseMetadata><RequestId>canned</RequestId></ResponseMetadata>"


def _caller_account(authorization: str) -> str:
    """The account a request acts in, from the access key id it is signed with."""
    match = _CREDENTIAL.search(authorization)
    member = _MEMBER_KEY.fullmatch(match.group(1)) if match else None
    return member.group(1) if member else OWN_ACCOUNT


def _assume_role(form: dict[str, list[str]], state: CannedState) -> tuple[int, str, str]:
    arn = (form.get("RoleArn") or [""])[0]
    session = (form.get("RoleSessionName") or ["session"])[0]
    parts = arn.split(":")
    if len(parts) < 6 or not re.fullmatch(r"\d{12}", parts[4]) or "/" not in parts[5]:
        status, text = _xml_error(STS_NS, "ValidationError", "RoleArn is not a role ARN")
        return status, text, ""
    account, role = parts[4], parts[5].split("/", 1)[1]
    duration = int((form.get("DurationSeconds") or ["3600"])[0])
    expires = (datetime.now(UTC) + timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
    serial = state.next_number()
    seed = hashlib.sha256(f"{account}/{serial}".encode()).digest()
    secret = base64.b64encode(seed).decode()[:40]
    # Real session tokens are several hundred characters; signing carries them in a header.
    token = base64.b64encode(seed * 20).decode()
    return (
        200,
        (
            f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><AssumedRoleUser>'
            f"<AssumedRoleId>AROACANNED{account}:{session}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn></AssumedRoleUser>"
            f"<Credentials><AccessKeyId>ASIA{account}BNCH</AccessKeyId>"
            f"<SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>"
            f"<Expiration>{expires}</Expiration></Credentials></AssumeRoleResult>{_meta()}"
            "</AssumeRoleResponse>"
        ),
        account,
    )


def _query_answer(body: bytes, authorization: str, state: CannedState) -> tuple[str, int, str, str]:
    """(operation, status, XML, account) of an IAM or STS call."""
    form = parse_qs(body.decode())
    action = (form.get("Action") or [""])[0]
    account = _caller_account(authorization)
    if action == "GetAccountSummary":
        present = 1 if state.present_in(account) else 0
        entries = "".join(
            f"<entry><key>{k}</key><value>{v}</value></entry>"
            for k, v in (("AccountAccessKeysPresent", present), ("AccountMFAEnabled", 1))
        )
        return (
            "iam.GetAccountSummary",
            200,
            (
                f'<GetAccountSummaryResponse xmlns="{IAM_NS}"><GetAccountSummaryResult>'
                f"<SummaryMap>{entries}</SummaryMap></GetAccountSummaryResult>{_meta()}"
                "</GetAccountSummaryResponse>"
            ),
            account,
        )
    if action == "AssumeRole":
        status, text, role_account = _assume_role(form, state)
        return "sts.AssumeRole", status, text, role_account
    if action == "GetCallerIdentity":
        return (
            "sts.GetCallerIdentity",
            200,
            (
                f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                f"<Arn>arn:aws:iam::{account}:user/bench</Arn><UserId>BENCH</UserId>"
                f"<Account>{account}</Account></GetCallerIdentityResult>{_meta()}"
                "</GetCallerIdentityResponse>"
            ),
            account,
        )
    status, text = _xml_error(IAM_NS, "NotCanned", f"no canned answer for {action}")
    return f"query.{action}", status, text, account


# ---------------------------------------------------------------------------------------------
# DynamoDB and Secrets Manager (JSON protocols)


class NotCanned(Exception):
    """A request this endpoint has no answer for."""


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_CLAUSE = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\b")
_IF_NOT_EXISTS = re.compile(r"if_not_exists\(\s*[#\w.]+\s*,\s*(:\w+)\s*\)")


def new_item(request: dict[str, Any]) -> dict[str, Any]:
    """The item an update expression writes when no item exists yet.

    Raises:
        NotCanned: the expression uses a form this endpoint does not evaluate.
    """
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    item = dict(request["Key"])
    pieces = _CLAUSE.split(request.get("UpdateExpression") or "")
    if pieces[0].strip():
        raise NotCanned(f"update expression starts with {pieces[0]!r}")
    for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
        for part in _split_top_level(body):
            if keyword == "SET":
                path, _, value = (s.strip() for s in part.partition("="))
                matched = _IF_NOT_EXISTS.fullmatch(value)
                value = matched.group(1) if matched else value
            elif keyword == "ADD":
                path, _, value = (s.strip() for s in part.partition(" "))
            elif keyword == "REMOVE":
                continue  # nothing to remove from a new item
            else:
                raise NotCanned(f"{keyword} clause")
            if value not in values:
                raise NotCanned(f"value expression {value!r}")
            item[names.get(path, path)] = values[value]
    return item


def _json_answer(target: str, request: dict[str, Any], state: CannedState) -> dict[str, Any]:
    """The answer to a DynamoDB or Secrets Manager call (raises NotCanned)."""
    if target == "DynamoDB_20120810.UpdateItem":
        if request.get("ReturnValues") == "ALL_NEW":
            return {"Attributes": new_item(request)}
        return {}
    if target == "DynamoDB_20120810.Query":
        return {"Items": [], "Count": 0, "ScannedCount": 0}
    if target == "DynamoDB_20120810.GetItem":
        return {}
    if target == "secretsmanager.GetSecretValue":
        name = str(request.get("SecretId", ""))
        return {
            "ARN": f"arn:aws:secretsmanager:us-east-1:{OWN_ACCOUNT}:secret:{name}-canned",
            "Name": name,
            "SecretString": json.dumps({"token": state.token}),  # as the sandbox stores it
            "VersionId": "canned",
        }
    if target.startswith(CLOUDTRAIL_PREFIX):
        return _cloudtrail_answer(target.removeprefix(CLOUDTRAIL_PREFIX), request)
    if target == "AWSEvents.DescribeRule":
        name = str(request.get("Name", ""))
        arn = f"arn:aws:events:us-east-1:{OWN_ACCOUNT}:rule/{name}"
        return {"Name": name, "Arn": arn, "State": "ENABLED", "EventBusName": "default"}
    raise NotCanned(target)


CLOUDTRAIL_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
ORG_TRAIL = f"arn:aws:cloudtrail:us-east-1:{OWN_ACCOUNT}:trail/organization"


def _cloudtrail_answer(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    if operation == "DescribeTrails":
        trail = {
            "Name": "organization",
            "TrailARN": ORG_TRAIL,
            "HomeRegion": "us-east-1",
            "IsMultiRegionTrail": True,
            "IsOrganizationTrail": True,
            "S3BucketName": "organization-trail",
        }
        return {"trailList": [trail]}
    if operation == "GetTrailStatus":
        return {"IsLogging": True}
    if operation == "GetEventSelectors":
        selector = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}
        return {"TrailARN": request.get("TrailName"), "EventSelectors": [selector]}
    raise NotCanned(operation)


def _json_op(target: str) -> str:
    if target.startswith(CLOUDTRAIL_PREFIX):
        return f"cloudtrail.{target.removeprefix(CLOUDTRAIL_PREFIX)}"
    service, _, action = target.partition(".")
    service = {"AWSEvents": "events"}.get(service, service)
    return f"{'dynamodb' if service.startswith('DynamoDB') else service}.{action}"


# ---------------------------------------------------------------------------------------------
# Slack Web API


def _slack_answer(
    method: str, payload: dict[str, Any], authorization: str, state: CannedState
) -> dict[str, Any]:
    if authorization != f"Bearer {state.token}":
        return {"ok": False, "error": "invalid_auth"}
    channel = str(payload.get("channel", ""))
    if method == "chat.postMessage":
        ts = f"{int(time.time())}.{state.next_number() % 1_000_000:06d}"
        message = {"type": "message", "text": payload.get("text", ""), "ts": ts}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}
    if method == "chat.update":
        return {"ok": True, "channel": channel, "ts": payload.get("ts"), "text": ""}
    return {"ok": False, "error": "unknown_method"}


# ---------------------------------------------------------------------------------------------
# Server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS and Slack endpoints
    timeout = 30  # an idle kept-alive connection is closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """The control plane's read (the call log), and Security Hub's DescribeHub."""
        state = self.server.state
        if urlsplit(self.path).path == "/accounts":
            self._describe_hub()
        elif urlsplit(self.path).path == f"{CONTROL_PREFIX}log":
            with state.lock:
                calls = [asdict(c) for c in state.log]
            self._send(200, json.dumps({"calls": calls}).encode(), "application/json")
        else:
            self._send(404, b"{}", "application/json")

    def do_POST(self) -> None:
        """Every call the detector makes is a POST."""
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        read = now_mono()
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            self._control(path, body)
            return
        time.sleep(state.latency_s)
        call = Call("", read, 0.0, 200)
        authorization = self.headers.get("Authorization") or ""
        target = self.headers.get("X-Amz-Target") or ""
        if path.startswith(SLACK_PREFIX):
            method = path.removeprefix(SLACK_PREFIX)
            call.op = f"slack.{method}"
            ctype = self.headers.get("Content-Type") or ""
            if ctype.startswith("application/json"):
                payload = json.loads(body or b"{}")
            else:
                payload = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            doc = _slack_answer(method, payload, authorization, state)
            call.ts = str(doc.get("ts") or "") if method == "chat.postMessage" else ""
            payload_out, ctype_out = json.dumps(doc).encode(), "application/json; charset=utf-8"
        elif target:
            call.op = _json_op(target)
            try:
                doc = _json_answer(target, json.loads(body or b"{}"), state)
            except NotCanned as exc:
                call.status = 400
                doc = {"__type": "NotCanned", "message": str(exc)}
            payload_out, ctype_out = json.dumps(doc).encode(), "application/x-amz-json-1.0"
        elif path == "/findings/import":
            call.op = "securityhub.BatchImportFindings"
            findings = json.loads(body).get("Findings", [])
            doc = {"FailedCount": 0, "SuccessCount": len(findings), "FailedFindings": []}
            payload_out, ctype_out = json.dumps(doc).encode(), "application/json"
        else:
            call.op, call.status, text, call.account = _query_answer(body, authorization, state)
            payload_out, ctype_out = text.encode(), "text/xml"
        call.answered = now_mono()
        with state.lock:
            state.log.append(call)
        self._send(call.status, payload_out, ctype_out)

    def _describe_hub(self) -> None:
        state = self.server.state
        read = now_mono()
        time.sleep(state.latency_s)
        account = _caller_account(self.headers.get("Authorization") or "")
        doc = {
            "HubArn": f"arn:aws:securityhub:us-east-1:{account}:hub/default",
            "SubscribedAt": "2026-01-01T00:00:00.000Z",
            "AutoEnableControls": True,
        }
        call = Call("securityhub.DescribeHub", read, now_mono(), 200, account=account)
        with state.lock:
            state.log.append(call)
        self._send(200, json.dumps(doc).encode(), "application/json")

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        if path != f"{CONTROL_PREFIX}config":
            self._send(404, b"{}", "application/json")
            return
        doc = json.loads(body or b"{}")
        with state.lock:
            if "latency_s" in doc:
                state.latency_s = float(doc["latency_s"])
            if "own_present" in doc:
                state.own_present = bool(doc["own_present"])
            if "keys_in" in doc:
                state.keys_in = frozenset(str(a) for a in doc["keys_in"])
            if doc.get("clear_log"):
                state.log.clear()
        self._send(200, b"{}", "application/json")

    def _send(self, status: int, payload: bytes, ctype: str) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\nx-amzn-RequestId: canned\r\n\r\n"
        )
        self.wfile.write(head.encode() + payload)  # one write: no Nagle/delayed-ACK stall


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a sweep opens a connection per account client

    def __init__(self, state: CannedState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class CannedEndpoint:
    """The endpoint served by a thread of this process (tests), or by ``main`` (benchmarks)."""

    def __init__(self, token: str, latency_s: float = 0.0) -> None:
        self.state = CannedState(token=token, latency_s=latency_s)
        self._server = _Server(self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def slack_url(self) -> str:
        """What SLACK_API_URL is set to."""
        return f"{self.url}{SLACK_PREFIX}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class CannedProcess:
    """``python -m bench.canned_aws`` in a child process (its own core), seen from the harness."""

    def __init__(self, token: str, latency_s: float = 0.0) -> None:
        command = ["-m", "bench.canned_aws", "--latency", str(latency_s), "--token", token]
        self._proc = subprocess.Popen(
            [sys.executable, *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self._proc.stdout is not None
        self.url: str = json.loads(self._proc.stdout.readline())["url"]
        self.slack_url = f"{self.url}{SLACK_PREFIX}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def configure(self, **settings: Any) -> None:
        """Set ``latency_s``, ``own_present``, ``keys_in``; ``clear_log=True`` empties the log."""
        self._request("POST", "config", json.dumps(settings).encode())

    def log(self) -> list[Call]:
        """Every call logged so far."""
        return [Call(**c) for c in json.loads(self._request("GET", "log"))["calls"]]

    def _request(self, method: str, name: str, body: bytes | None = None) -> bytes:
        req = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}{CONTROL_PREFIX}{name}", data=body, method=method
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            data: bytes = resp.read()
            return data

    def stop(self) -> None:
        """Close the child's standard input: it exits."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until standard input closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    with CannedEndpoint(args.token, args.latency) as endpoint:
        print(json.dumps({"url": endpoint.url}), flush=True)
        sys.stdin.read()  # the harness closes it
    return 0


if __name__ == "__main__":
    sys.exit(main())
