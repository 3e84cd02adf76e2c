"""An AWS endpoint that does no work: the detector's own floor under ``warm_alert_rtt``.

``python -m bench.canned_aws --latency S --token T`` prints its URL and serves until its standard
input closes. Every call sleeps ``S`` and then gets a fixed answer in its protocol's wire shape,
the answer the sandbox's moto gives a new root key's first event: IAM says root holds a key
(``GetAccountSummary``) and knows no last use of it (``NoSuchEntity``), every ledger claim
succeeds on an empty table, Security Hub accepts the finding, Secrets Manager returns ``T``.

It is context for ``make bench``, not a sandbox: it keeps no state and checks nothing, so
nothing but that one event path can be measured against it. The harness runs the same event
against moto and against this endpoint and compares the pipeline's actions, so a path that
differs is reported instead of measured. What it shows is the wall time the detector's own
CPU adds to the injected latency, with no server CPU on top (moto serialises the parallel calls
of a round on one core; AWS does not).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT = "123456789012"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def _query_answer(action: str) -> tuple[int, str]:
    """IAM and STS (query protocol, XML)."""
    meta = "<ResponseMetadata><RequestId>canned</RequestId></ResponseMetadata>"
    if action == "GetAccountSummary":
        entries = "".join(
            f"<entry><key>{k}</key><value>{v}</value></entry>"
            for k, v in (("AccountAccessKeysPresent", 1), ("Users", 0))
        )
        return 200, (
            f'<GetAccountSummaryResponse xmlns="{IAM_NS}"><GetAccountSummaryResult>'
            f"<SummaryMap>{entries}</SummaryMap></GetAccountSummaryResult>{meta}"
            "</GetAccountSummaryResponse>"
        )
    if action == "GetAccessKeyLastUsed":
        return 404, (
            f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>'
            "<Message>canned</Message></Error><RequestId>canned</RequestId></ErrorResponse>"
        )
    if action == "GetCallerIdentity":
        return 200, (
            f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
            f"<Arn>arn:aws:iam::{ACCOUNT}:user/bench</Arn><UserId>BENCH</UserId>"
            f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult>{meta}"
            "</GetCallerIdentityResponse>"
        )
    return 400, (
        f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>Sender</Type><Code>NotCanned</Code>'
        f"<Message>{action}</Message></Error><RequestId>canned</RequestId></ErrorResponse>"
    )


def _json_answer(target: str, request: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
    """DynamoDB and Secrets Manager (JSON protocol)."""
    if target == "DynamoDB_20120810.UpdateItem":
        if not request.get("ReturnValues"):
            return 200, {}
        values = request.get("ExpressionAttributeValues", {})
        attributes = {
            **request["Key"],
            "status": {"S": "RUNNING"},
            "attempts": {"N": "1"},
            "imports": {"N": "0"},
            "ord": values.get(":ord", {"S": ""}),
            "event_id": values.get(":eid", {"S": ""}),
        }
        return 200, {"Attributes": attributes}
    if target in ("DynamoDB_20120810.GetItem", "DynamoDB_20120810.DeleteItem"):
        return 200, {}
    if target == "secretsmanager.GetSecretValue":
        return 200, {
            "ARN": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{request['SecretId']}",
            "Name": request["SecretId"],
            "SecretString": token,
            "VersionId": "canned",
        }
    return 400, {"__type": "NotCanned", "message": target}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints
    latency_s = 0.0
    token = ""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Every AWS protocol the detector's event path speaks is a POST."""
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.latency_s)
        target = self.headers.get("X-Amz-Target") or ""
        if target:
            status, doc = _json_answer(target, json.loads(body or b"{}"), self.token)
            payload, ctype = json.dumps(doc).encode(), "application/x-amz-json-1.0"
        elif self.path.startswith("/findings/import"):
            findings = json.loads(body).get("Findings", [])
            doc = {"FailedCount": 0, "SuccessCount": len(findings), "FailedFindings": []}
            status, payload, ctype = 200, json.dumps(doc).encode(), "application/json"
        else:
            action = parse_qs(body.decode()).get("Action", [""])[0]
            status, text = _query_answer(action)
            payload, ctype = text.encode(), "text/xml"
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\nx-amzn-RequestId: canned\r\n\r\n"
        )
        self.wfile.write(head.encode() + payload)  # one write: no Nagle/delayed-ACK stall


def main(argv: list[str] | None = None) -> int:
    """Serve until standard input closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    _Handler.latency_s, _Handler.token = args.latency, args.token
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}", flush=True)
    sys.stdin.read()  # the harness closes it
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
