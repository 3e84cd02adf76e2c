"""Which AWS operations reach the sandbox's endpoint, and with whose credentials.

:class:`CallLog` wraps a WSGI application (the fault layer's, see
:class:`sandbox.aws_proxy.AwsFaultProxy`'s ``record``) and notes every signed request as an
:class:`AwsCall`, read from the wire alone, as AWS itself sees it:

- the **service**: the service of the SigV4 credential scope in the ``Authorization`` header
  (``Credential=<key id>/<date>/<region>/<service>/aws4_request``; AWS "Signature Version 4
  signing process", "Elements of an AWS API request signature");
- the **operation**: ``X-Amz-Target`` (JSON protocol: DynamoDB, Secrets Manager, SQS,
  Organizations), the ``Action`` parameter (query protocol: IAM, STS), or, for the REST
  protocols (Security Hub, S3), the operation of the service's botocore model whose HTTP method
  and ``requestUri`` match the request;
- the **caller**: the access key id of the credential scope. Keys that an ``AssumeRole``
  through this endpoint returned are mapped to that role (read from the answer), so a member
  role's calls are told apart from the caller's own; keys that an ``AssumeRoot`` returned are
  a root session of the task policy the request named (``TaskPolicyArn``), so a root session's
  calls are told apart from those of whoever opened it;
- the **parameters** of a query-protocol request (IAM, STS), e.g. AssumeRole's ``RoleArn`` and
  AssumeRoot's ``TaskPolicyArn.arn``, which IAM conditions are written against.

:attr:`AwsCall.action` is the IAM action that authorizes the call: ``<service>:<operation>``,
except where the Service Authorization Reference names it otherwise (:data:`IAM_ACTION_OF`).
A DynamoDB transaction is authorized item by item (:attr:`AwsCall.actions`).
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import botocore.session

from sandbox.aws import read_body

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Operations whose IAM action is not named after them (Service Authorization Reference,
# "Actions, resources, and condition keys for Amazon S3": ListObjectsV2 and HeadBucket are
# authorized by s3:ListBucket, HeadObject by s3:GetObject).
IAM_ACTION_OF = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    # "Actions, resources, and condition keys for AWS Lambda": Invoke is lambda:InvokeFunction.
    ("lambda", "Invoke"): "lambda:InvokeFunction",
}

# "Using IAM with DynamoDB transactions" (DynamoDB developer guide,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html):
# a transaction's Put, Update, Delete and Get are authorized by PutItem, UpdateItem, DeleteItem
# and GetItem, its ConditionCheck by dynamodb:ConditionCheckItem; TransactWriteItems and
# TransactGetItems are no IAM actions of their own.
TRANSACTION_ITEM_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "Get": "dynamodb:GetItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
_TRANSACTIONS = {("dynamodb", "TransactWriteItems"), ("dynamodb", "TransactGetItems")}

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class AwsCall:
    """One request that reached the endpoint."""

    service: str  # the SigV4 signing name, e.g. "iam", "securityhub"
    operation: str  # the botocore operation name, e.g. "GetAccountSummary"; "?" if unknown
    access_key_id: str
    role_arn: str | None  # the assumed role the key belongs to, if AssumeRole issued it here
    status: int  # the HTTP status of the answer
    # The task policy ARN of the root session the key belongs to, if AssumeRoot issued it here.
    root_task_policy: str | None = None
    # The request's parameters (query protocol only; Action and Version left out).
    parameters: tuple[tuple[str, str], ...] = ()
    # A DynamoDB transaction's items, each by its kind ("Put", "Update", "ConditionCheck"...).
    transaction: tuple[str, ...] = ()

    def parameter(self, name: str) -> str | None:
        """The request's parameter ``name`` (query protocol, e.g. ``TaskPolicyArn.arn``)."""
        return next((v for k, v in self.parameters if k == name), None)

    @property
    def action(self) -> str:
        """The IAM action that authorizes this call."""
        return IAM_ACTION_OF.get((self.service, self.operation), f"{self.service}:{self.operation}")

    @property
    def actions(self) -> tuple[str, ...]:
        """Every IAM action that must allow this call: :attr:`action`, or for a DynamoDB
        transaction the action of each of its items (:data:`TRANSACTION_ITEM_ACTION`)."""
        if (self.service, self.operation) in _TRANSACTIONS:
            return tuple(TRANSACTION_ITEM_ACTION.get(k, f"dynamodb:?{k}") for k in self.transaction)
        return (self.action,)

    @property
    def role_name(self) -> str | None:
        """The assumed role's name (its ARN's last path element), or None."""
        if self.role_arn is None:
            return None
        return self.role_arn.rsplit("/", 1)[1]

    @property
    def role_account(self) -> str | None:
        """The account of the assumed role, or None."""
        return None if self.role_arn is None else self.role_arn.split(":")[4]


class CallLog:
    """Thread-safe record of the calls passing through :meth:`wrap`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[AwsCall] = []
        self._roles: dict[str, str] = {}  # access key id -> role ARN, from AssumeRole answers
        # access key id -> task policy ARN, from AssumeRoot requests and their answers
        self._root_sessions: dict[str, str] = {}

    def calls(self) -> list[AwsCall]:
        """Every call so far, in the order the answers were sent."""
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        """Forget the calls (the keys AssumeRole and AssumeRoot issued stay known)."""
        with self._lock:
            self._calls.clear()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """``app``, noting each signed request and its answer's status."""

        def recorded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
            if scope is None:  # not an AWS call (the sandbox's own controls)
                return app(environ, start_response)
            key, service = scope.group(1), scope.group(3)
            body = read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            operation = operation_of(service, environ, body)
            parameters = _query_parameters(environ, body)
            transaction = _transaction_items(service, operation, body)
            status: list[int] = []

            def start(code: str, headers: list[tuple[str, str]], exc: Any = None) -> Any:
                status[:] = [int(code.split(" ", 1)[0])]
                return start_response(code, headers, exc) if exc else start_response(code, headers)

            result = app(environ, start)
            try:
                answer = b"".join(result)
            finally:
                getattr(result, "close", lambda: None)()
            if (service, operation) == ("sts", "AssumeRole") and status == [200]:
                self._learn_role(answer)
            if (service, operation) == ("sts", "AssumeRoot") and status == [200]:
                self._learn_root_session(answer, dict(parameters).get("TaskPolicyArn.arn", "?"))
            with self._lock:
                call = AwsCall(
                    service,
                    operation,
                    key,
                    self._roles.get(key),
                    status[0],
                    root_task_policy=self._root_sessions.get(key),
                    parameters=parameters,
                    transaction=transaction,
                )
                self._calls.append(call)
            return [answer]

        return recorded

    def _learn_role(self, answer: bytes) -> None:
        issued = _assumed_role(answer)
        if issued is not None:
            with self._lock:
                self._roles[issued[0]] = issued[1]

    def _learn_root_session(self, answer: bytes, task_policy_arn: str) -> None:
        # "AssumeRoot" (STS API Reference): the answer's Credentials.AccessKeyId signs the
        # session's calls, which its TaskPolicyArn limits.
        root = ElementTree.fromstring(answer)  # noqa: S314 - the sandbox's own answer
        key = _text(root, "AccessKeyId")
        if key:
            with self._lock:
                self._root_sessions[key] = task_policy_arn


def _transaction_items(service: str, operation: str, body: bytes) -> tuple[str, ...]:
    """The kind of each item of a DynamoDB transaction's request, in order; () otherwise."""
    if (service, operation) not in _TRANSACTIONS:
        return ()
    try:
        items = json.loads(body).get("TransactItems", [])
    except ValueError:
        return ("?",)
    return tuple(kind for item in items for kind in item)


def _query_parameters(environ: dict[str, Any], body: bytes) -> tuple[tuple[str, str], ...]:
    """A query-protocol request's parameters (form body, or a GET's query string), without
    Action and Version; () for the other protocols."""
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        text = body.decode("utf-8", "replace")
    elif environ.get("REQUEST_METHOD") == "GET" and "Action=" in environ.get("QUERY_STRING", ""):
        text = str(environ.get("QUERY_STRING", ""))
    else:
        return ()
    pairs = urllib.parse.parse_qsl(text, keep_blank_values=True)
    return tuple((k, v) for k, v in pairs if k not in {"Action", "Version"})


def _assumed_role(answer: bytes) -> tuple[str, str] | None:
    """(access key id, role ARN) from an AssumeRole answer (query XML, or JSON)."""
    if answer.lstrip().startswith(b"{"):
        doc = json.loads(answer)
        result = doc.get("AssumeRoleResult", doc)
        key = result.get("Credentials", {}).get("AccessKeyId")
        arn = result.get("AssumedRoleUser", {}).get("Arn")
    else:
        root = ElementTree.fromstring(answer)  # noqa: S314 - moto's own answer, in-process
        key = _text(root, "AccessKeyId")
        arn = _text(root, "Arn")
    if not key or not arn:
        return None
    # arn:aws:sts::<account>:assumed-role/<name>/<session> -> the role it is a session of
    prefix, _, path = arn.partition(":assumed-role/")
    name = path.rsplit("/", 1)[0]
    return key, f"{prefix.replace(':sts:', ':iam:')}:role/{name}"


def _text(root: ElementTree.Element, tag: str) -> str | None:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == tag:
            return element.text
    return None


def operation_of(service: str, environ: dict[str, Any], body: bytes) -> str:
    """The operation a request calls (see the module docstring); "?" when none matches."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    content_type = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in content_type or (
        environ.get("REQUEST_METHOD") == "GET" and "Action=" in environ.get("QUERY_STRING", "")
    ):
        params = urllib.parse.parse_qs(body.decode() or str(environ.get("QUERY_STRING", "")))
        if "Action" in params:
            return params["Action"][0]
    method = environ.get("REQUEST_METHOD", "")
    path = urllib.parse.unquote(environ.get("PATH_INFO", ""))
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    found = [r for r in _routes(service) if r.matches(method, path, query, environ)]
    return max(found, key=lambda r: r.rank).operation if found else "?"


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]  # required keys, with a value when fixed
    headers: tuple[str, ...]  # required headers (WSGI names), e.g. CopyObject's copy source
    literal: int  # characters of the template outside its labels: the more, the more specific

    def matches(self, method: str, path: str, query: dict[str, list[str]], environ: Any) -> bool:
        return (
            self.method == method
            and self.path.fullmatch(path) is not None
            and all(k in query and (v is None or v in query[k]) for k, v in self.query)
            and all(h in environ for h in self.headers)
        )

    @property
    def rank(self) -> tuple[int, int]:
        return len(self.query) + len(self.headers), self.literal


@functools.cache
def _routes(service: str) -> tuple[_Route, ...]:
    """The HTTP routes of a REST service's operations, from botocore's model of it."""
    model = botocore.session.get_session().get_service_model(service)
    return tuple(_route(model.operation_model(name)) for name in model.operation_names)


def _route(operation: Any) -> _Route:
    http = operation.http
    template, _, query = str(http.get("requestUri", "/")).partition("?")
    required: list[tuple[str, str | None]] = []
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        required.append((key, value if eq else None))
    headers: list[str] = []
    shape = operation.input_shape
    for name in getattr(shape, "required_members", []) if shape is not None else []:
        member = shape.members[name].serialization
        where, wire = member.get("location"), member.get("name", name)
        if where == "header":
            headers.append("HTTP_" + wire.upper().replace("-", "_"))
        elif where == "querystring":
            required.append((wire, None))
    return _Route(
        operation=operation.name,
        method=str(http.get("method", "")),
        path=re.compile("".join(_path_parts(template))),
        query=tuple(required),
        headers=tuple(headers),
        literal=len(re.sub(r"\{[^}]*\}", "", template)),
    )


def _path_parts(template: str) -> Iterator[str]:
    for piece in re.split(r"(\{[^}]*\})", template):
        if piece.startswith("{"):
            yield ".+" if piece.endswith("+}") else "[^/]+"
        else:
            yield re.escape(piece)
