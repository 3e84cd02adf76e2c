"""Centralized root access as AWS documents it: ``sts:AssumeRoot``, root's access keys, and the
calls of a root session, in front of moto (which has neither AssumeRoot nor root keys).

The contract layer (:class:`sandbox.contracts.ContractLayer`) routes here:

- STS ``AssumeRoot`` (query protocol). "AssumeRoot" (AWS STS API Reference,
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoot.html): only IAM users and
  roles of the organization's management account or of the IAM delegated administrator may call
  it, never root credentials; centralized root access must be enabled ("Centralize root access
  for member accounts", IAM User Guide); TargetPrincipal is a member account (its id or root
  ARN); TaskPolicyArn one of the root-task policies; DurationSeconds 0..900, 900 by default, a
  larger value fails; the global STS endpoint is refused. The answer carries fresh ``ASIA…``
  credentials, and the caller's account gets CloudTrail's ``AssumeRoot`` record ("Track
  privileged tasks in AWS CloudTrail", IAM User Guide,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-track-privileged-tasks.html).
- Every request signed with such credentials: refused once the session has expired, refused
  (AccessDenied) for any action its task policy does not allow ("AWS managed policies for IAM":
  IAMAuditRootUserCredentials, IAMDeleteRootUserCredentials), and otherwise answered from the
  root key store (IAM's calls omit UserName and act on the member's root user: "Perform a
  privileged task on an AWS Organizations member account"), each leaving the member account's
  CloudTrail record: ``userIdentity.type`` Root, the session's ``ASIA…`` key, no sessionIssuer.
- Root's own access keys (``AKIA…``): :class:`RootAccess` keeps them per account, in step with
  IAM's ``AccountAccessKeysPresent`` (moto's flag), and a use of one leaves the Root record of
  a call signed with it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.test import EnvironBuilder, run_wsgi_app

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]
# (region, account, source, detail type, detail)
PutEvent = Callable[[str, str, str, str, dict[str, Any]], None]

TASK_POLICY_PREFIX: Final = "arn:aws:iam::aws:policy/root-task/"
AUDIT_TASK_POLICY: Final = TASK_POLICY_PREFIX + "IAMAuditRootUserCredentials"
DELETE_TASK_POLICY: Final = TASK_POLICY_PREFIX + "IAMDeleteRootUserCredentials"
# The IAM actions each task policy allows, on the member account's root user only ("AWS managed
# policies for IAM", IAMAuditRootUserCredentials and IAMDeleteRootUserCredentials). Neither
# allows UpdateAccessKey or CreateAccessKey.
_AUDIT_ACTIONS: Final = frozenset(
    {
        "iam:GetAccountSummary",
        "iam:GetAccessKeyLastUsed",
        "iam:GetLoginProfile",
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:ListMFADevices",
        "iam:ListSigningCertificates",
    }
)
_DELETE_ACTIONS: Final = frozenset(
    {
        "iam:DeleteAccessKey",
        "iam:DeleteSigningCertificate",
        "iam:DeleteLoginProfile",
        "iam:DeactivateMFADevice",
        "iam:ListAccessKeys",
        "iam:ListSigningCertificates",
        "iam:GetLoginProfile",
        "iam:ListMFADevices",
        "iam:GetUser",
        "iam:GetAccessKeyLastUsed",
    }
)
# The root-task policies AssumeRoot accepts ("AssumeRoot", TaskPolicyArn). The sandbox plays
# the two IAM credential tasks; a session of the other three is opened but every call it makes
# is refused here (the sandbox does not model what those tasks may do).
TASK_POLICIES: Final[dict[str, frozenset[str]]] = {
    AUDIT_TASK_POLICY: _AUDIT_ACTIONS,
    DELETE_TASK_POLICY: _DELETE_ACTIONS,
    TASK_POLICY_PREFIX + "IAMCreateRootUserPassword": frozenset(),
    TASK_POLICY_PREFIX + "S3UnlockBucketPolicy": frozenset(),
    TASK_POLICY_PREFIX + "SQSUnlockQueuePolicy": frozenset(),
}
MAX_DURATION_S: Final = 900  # "AssumeRoot", DurationSeconds: 0 to 900, 900 when not given
MAX_ROOT_KEYS: Final = 2  # "IAM and AWS STS quotas": access keys per user (root included): 2
IAM_REGION: Final = "us-east-1"  # IAM is global: CloudTrail records its calls in us-east-1
_XMLNS_STS: Final = "https://sts.amazonaws.com/doc/2011-06-15/"
_XMLNS_IAM: Final = "https://iam.amazonaws.com/doc/2010-05-08/"
_ACCOUNT_XML: Final = re.compile(r"<Account>([0-9]{12})</Account>")
_ARN_XML: Final = re.compile(r"<Arn>([^<]+)</Arn>")
_TARGET: Final = re.compile(r"(?:arn:aws[a-z-]*:iam::)?([0-9]{12})(?::root)?")
# "userIdentity.type" of CloudTrail ("CloudTrail userIdentity element"): IAMUser or AssumedRole.
_READS: Final = ("Get", "List", "Describe")


class RootAccessError(Exception):
    """A refusal in the wire shape of the caller's protocol."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class RootKey:
    """One access key of an account's root user."""

    key_id: str
    status: str
    created: datetime
    last_used: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None


@dataclass(frozen=True)
class RootSession:
    """The credentials AssumeRoot issued, and what they may do."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    account: str  # the member account
    task_policy_arn: str
    caller_arn: str
    caller_account: str
    started: datetime
    expires: datetime


class RootAccess:
    """Who may call AssumeRoot, root's keys per account, and the sessions AssumeRoot opened."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.management: str | None = None
        self.delegated_admin: str | None = None
        self._keys: dict[str, dict[str, RootKey]] = {}
        self._sessions: dict[str, RootSession] = {}

    def reset(self) -> None:
        """Nothing stays: centralized root access off, no key, no session."""
        with self._lock:
            self.management = self.delegated_admin = None
            self._keys.clear()
            self._sessions.clear()

    def enable(self, management: str, delegated_admin: str | None = None) -> None:
        """Centralized root access on: the management account (and IAM's delegated
        administrator, if any) may call AssumeRoot."""
        with self._lock:
            self.management, self.delegated_admin = management, delegated_admin

    def add_key(self, account: str, status: str = "Active", created: datetime | None = None) -> str:
        """A new root access key of ``account``; its id.

        Raises:
            ValueError: root already has two keys, or ``status`` is not Active/Inactive.
        """
        if status not in {"Active", "Inactive"}:
            raise ValueError(f"status must be Active or Inactive, not {status!r}")
        key_id = "AKIA" + _random_id(16)
        with self._lock:
            keys = self._keys.setdefault(account, {})
            if len(keys) >= MAX_ROOT_KEYS:
                raise ValueError(f"root of {account} already has {MAX_ROOT_KEYS} access keys")
            keys[key_id] = RootKey(key_id, status, created or self._now())
        _set_flag(True, account)
        return key_id

    def keys(self, account: str) -> list[RootKey]:
        """Root's keys in ``account`` (copies), oldest first."""
        with self._lock:
            return [replace(k) for k in self._keys.get(account, {}).values()]

    def owner(self, key_id: str) -> str | None:
        """The account whose root holds ``key_id``, if any."""
        with self._lock:
            return next((a for a, keys in self._keys.items() if key_id in keys), None)

    def record_use(self, account: str, key_id: str, service: str, region: str) -> RootKey:
        """Note that root's ``key_id`` signed a call now; the key as it now is.

        Raises:
            ValueError: the key is not root's in ``account``, or it is inactive (AWS refuses
                such a request before any service sees it).
        """
        with self._lock:
            key = self._keys.get(account, {}).get(key_id)
            if key is None or key.status != "Active":
                raise ValueError(f"{key_id} is not an active root key of {account}")
            key.last_used, key.last_used_service, key.last_used_region = (
                self._now(),
                service,
                region,
            )
            return replace(key)

    def delete_key(self, account: str, key_id: str) -> bool:
        """Delete root's ``key_id``; whether it was there."""
        with self._lock:
            keys = self._keys.get(account, {})
            found = keys.pop(key_id, None) is not None
            left = bool(keys)
        if found:
            _set_flag(left, account)
        return found

    def open_session(
        self, account: str, task_policy_arn: str, caller: tuple[str, str], duration_s: int
    ) -> RootSession:
        """New credentials for a root session in ``account``."""
        now = self._now()
        session = RootSession(
            access_key_id="ASIA" + _random_id(16),
            secret_access_key=secrets.token_urlsafe(30)[:40],
            session_token=base64.b64encode(secrets.token_bytes(96)).decode(),
            account=account,
            task_policy_arn=task_policy_arn,
            caller_account=caller[0],
            caller_arn=caller[1],
            started=now,
            expires=now + timedelta(seconds=duration_s),
        )
        with self._lock:
            self._sessions[session.access_key_id] = session
        return session

    def session(self, access_key_id: str) -> RootSession | None:
        """The root session ``access_key_id`` belongs to, if AssumeRoot issued it."""
        with self._lock:
            return self._sessions.get(access_key_id)

    def now(self) -> datetime:
        """The sandbox's clock."""
        return self._now()


def _random_id(n: int) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def _set_flag(present: bool, account: str) -> None:
    # sandbox.aws imports this module's users: import it when first needed.
    from sandbox.aws import set_root_key_flag  # noqa: PLC0415

    set_root_key_flag(present, account)


# -- STS AssumeRoot ----------------------------------------------------------------------------


class AssumeRoot:
    """STS AssumeRoot, answered and recorded as AWS documents it (module docstring)."""

    def __init__(self, app: WsgiApp, state: RootAccess, put_event: PutEvent) -> None:
        self.app = app
        self.state = state
        self.put_event = put_event

    def __call__(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        params: dict[str, str],
        scope: tuple[str, str],
    ) -> list[bytes]:
        key_id, region = scope
        try:
            session = self._assume(environ, params, key_id, region)
        except RootAccessError as error:
            return query_error(start_response, error)
        self._record(environ, params, session, (key_id, region))
        return _xml(start_response, _assume_root_answer(session))

    def _assume(
        self, environ: dict[str, Any], params: dict[str, str], key_id: str, region: str
    ) -> RootSession:
        # What the sandbox can tell of the endpoint: the request's Host and its SigV4 scope.
        # Behind AWS_ENDPOINT_URL the Host is the sandbox's own (127.0.0.1:port), and the scope
        # of a request to the global endpoint is us-east-1, as is that of us-east-1's Regional
        # endpoint: only a Host naming the global endpoint is seen, and refused ("AssumeRoot":
        # "The STS global endpoint is not supported for AssumeRoot").
        if environ.get("HTTP_HOST", "").split(":")[0] == "sts.amazonaws.com":
            raise RootAccessError(
                "InvalidAction", "AssumeRoot is not supported by the global STS endpoint", 400
            )
        target, policy, duration = _validated(params)
        if self.state.owner(key_id) is not None:
            raise RootAccessError(
                "AccessDenied", "Root user credentials cannot call sts:AssumeRoot"
            )
        caller = self._caller(environ, key_id, region)
        if self.state.management is None:
            raise RootAccessError(
                "AccessDenied",
                f"User: {caller[1]} is not authorized to perform: sts:AssumeRoot: "
                "centralized root access is not enabled in the organization",
            )
        if caller[0] not in {self.state.management, self.state.delegated_admin}:
            raise RootAccessError(
                "AccessDenied",
                f"User: {caller[1]} is not authorized to perform: sts:AssumeRoot on resource: "
                f"arn:aws:iam::{target}:root: only the management account or the IAM delegated "
                "administrator may call it",
            )
        if caller[1].endswith(":root"):
            raise RootAccessError(
                "AccessDenied", "Root user credentials cannot call sts:AssumeRoot"
            )
        if target == self.state.management or not self._member(target):
            raise RootAccessError(
                "AccessDenied",
                f"User: {caller[1]} is not authorized to perform: sts:AssumeRoot on resource: "
                f"arn:aws:iam::{target}:root: not a member account of the organization",
            )
        return self.state.open_session(target, policy, caller, duration)

    def _caller(self, environ: dict[str, Any], key_id: str, region: str) -> tuple[str, str]:
        """(account, ARN) of the caller, as moto's GetCallerIdentity says."""
        headers = {
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={key_id}/20260101/{region}/sts/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
            "Host": f"sts.{region}.amazonaws.com",
        }
        if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
            headers["x-moto-account-id"] = environ["HTTP_X_MOTO_ACCOUNT_ID"]
        status, text = ask(
            self.app,
            headers,
            b"Action=GetCallerIdentity&Version=2011-06-15",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        account, arn = _ACCOUNT_XML.search(text), _ARN_XML.search(text)
        if status != 200 or account is None or arn is None:
            raise RootAccessError(
                "InvalidClientTokenId", "The security token included in the request is invalid."
            )
        return account.group(1), arn.group(1)

    def _member(self, account: str) -> bool:
        """Whether Organizations (moto's) knows ``account`` in the management's organization."""
        assert self.state.management is not None  # noqa: S101 - checked by the caller
        headers = {
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/organizations/"
                "aws4_request, SignedHeaders=host, Signature=0"
            ),
            "Host": "organizations.us-east-1.amazonaws.com",
            "X-Amz-Target": "AWSOrganizationsV20161128.DescribeAccount",
            "x-moto-account-id": self.state.management,
        }
        body = json.dumps({"AccountId": account}).encode()
        status, _ = ask(self.app, headers, body, "application/x-amz-json-1.1")
        return status == 200

    def _record(
        self,
        environ: dict[str, Any],
        params: dict[str, str],
        session: RootSession,
        scope: tuple[str, str],
    ) -> None:
        """CloudTrail's AssumeRoot record, in the caller's account and the endpoint's Region
        ("Track privileged tasks in AWS CloudTrail", its first example)."""
        request: dict[str, Any] = {
            "targetPrincipal": params["TargetPrincipal"],
            "taskPolicyArn": {"arn": session.task_policy_arn},
        }
        if "DurationSeconds" in params:
            request["durationSeconds"] = int(params["DurationSeconds"])
        key_id, region = scope
        caller = (session.caller_account, session.caller_arn)
        record = _record_base(session.started, session.caller_account, region, environ)
        record.update(
            {
                "eventVersion": "1.08",
                "userIdentity": _caller_identity(caller, key_id, session.started),
                "eventSource": "sts.amazonaws.com",
                "eventName": "AssumeRoot",
                "requestParameters": request,
                "responseElements": {
                    "credentials": {
                        "accessKeyId": session.access_key_id,
                        "sessionToken": session.session_token,
                        "expiration": cloudtrail_expiration(session.expires),
                    }
                },
                # Not shown in AWS's example: STS's AssumeRole records are read-only, and a
                # read-only record is the stricter case for routing (only rules in state
                # ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS receive it).
                "readOnly": True,
            }
        )
        self.put_event(region, session.caller_account, "aws.sts", CLOUDTRAIL, record)


CLOUDTRAIL: Final = "AWS API Call via CloudTrail"


def _validated(params: dict[str, str]) -> tuple[str, str, int]:
    """(target account, task policy ARN, duration) of an AssumeRoot request, or its
    ValidationError."""
    target = _TARGET.fullmatch(params.get("TargetPrincipal", ""))
    if target is None:
        raise RootAccessError(
            "ValidationError",
            "TargetPrincipal must be a member account's id or its root user's ARN",
            400,
        )
    policy = params.get("TaskPolicyArn.arn", "")
    if policy not in TASK_POLICIES:
        raise RootAccessError(
            "ValidationError",
            f"TaskPolicyArn {policy!r} is not one of the root-task policies "
            f"({', '.join(sorted(TASK_POLICIES))})",
            400,
        )
    raw = params.get("DurationSeconds", str(MAX_DURATION_S))
    try:
        duration = int(raw)
    except ValueError:
        duration = -1
    if not 0 <= duration <= MAX_DURATION_S:
        raise RootAccessError(
            "ValidationError",
            f"1 validation error detected: Value '{raw}' at 'durationSeconds' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_DURATION_S}",
            400,
        )
    return target.group(1), policy, duration


def _caller_identity(caller: tuple[str, str], key_id: str, when: datetime) -> dict[str, Any]:
    """``userIdentity`` of the AssumeRoot caller: an assumed role (as in AWS's example) or an
    IAM user; ``sessionContext.assumedRoot`` "true" on it, as in the example."""
    account, arn = caller
    attributes = {"creationDate": iso(when), "mfaAuthenticated": "false"}
    if ":assumed-role/" in arn:
        prefix, _, path = arn.partition(":assumed-role/")
        role_name, _, session_name = path.partition("/")
        return {
            "type": "AssumedRole",
            "principalId": f"AROA{account}:{session_name}",
            "arn": arn,
            "accountId": account,
            "accessKeyId": key_id,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{account}",
                    "arn": f"{prefix.replace(':sts:', ':iam:')}:role/{role_name}",
                    "accountId": account,
                    "userName": role_name,
                },
                "webIdFederationData": {},
                "attributes": attributes,
                "assumedRoot": "true",
            },
        }
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{account}",
        "arn": arn,
        "accountId": account,
        "accessKeyId": key_id,
        "userName": arn.rsplit("/", 1)[-1],
        "sessionContext": {"attributes": attributes, "assumedRoot": "true"},
    }


def _assume_root_answer(session: RootSession) -> str:
    # AssumeRootResponse (botocore's STS model: resultWrapper AssumeRootResult; Credentials:
    # AccessKeyId, SecretAccessKey, SessionToken, Expiration). No SourceIdentity: the sandbox's
    # callers never set one.
    return (
        f'<AssumeRootResponse xmlns="{_XMLNS_STS}"><AssumeRootResult><Credentials>'
        f"<AccessKeyId>{session.access_key_id}</AccessKeyId>"
        f"<SecretAccessKey>{escape(session.secret_access_key)}</SecretAccessKey>"
        f"<SessionToken>{escape(session.session_token)}</SessionToken>"
        f"<Expiration>{iso(session.expires)}</Expiration>"
        "</Credentials></AssumeRootResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</AssumeRootResponse>"
    )


# -- a root session's calls --------------------------------------------------------------------


class SessionCalls:
    """A request signed with AssumeRoot's credentials (module docstring)."""

    def __init__(self, app: WsgiApp, state: RootAccess, put_event: PutEvent) -> None:
        self.app = app
        self.state = state
        self.put_event = put_event

    def __call__(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        session: RootSession,
        service: str,
        body: bytes,
    ) -> Iterable[bytes]:
        json_protocol = "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", "")
        if self.state.now() > session.expires:
            # IAM's answer to expired temporary credentials ("Common Errors", IAM API
            # Reference: ExpiredToken). Refused before the service: no CloudTrail record.
            error = RootAccessError(
                "ExpiredToken", "The security token included in the request is expired"
            )
            return _error(start_response, error, json_protocol)
        if environ.get("HTTP_X_AMZ_SECURITY_TOKEN") != session.session_token:
            error = RootAccessError(
                "InvalidClientTokenId", "The security token included in the request is invalid"
            )
            return _error(start_response, error, json_protocol)
        params = form_params(body) if not json_protocol else {}
        operation = params.get("Action") or environ.get("HTTP_X_AMZ_TARGET", "?").split(".")[-1]
        action = f"{service}:{operation}"
        if service != "iam" or action not in TASK_POLICIES[session.task_policy_arn]:
            return self._denied(start_response, session, action, params, json_protocol)
        try:
            answer = self._answer(environ, start_response, session, operation, params)
        except RootAccessError as error:
            self._record(session, operation, params, error=error)
            return query_error(start_response, error)
        self._record(session, operation, params)
        return answer

    def _denied(
        self,
        start_response: StartResponse,
        session: RootSession,
        action: str,
        params: dict[str, str],
        json_protocol: bool,
    ) -> list[bytes]:
        root = f"arn:aws:iam::{session.account}:root"
        error = RootAccessError(
            "AccessDenied",
            f"User: {root} is not authorized to perform: {action} on resource: {root} "
            f"because no session policy allows the {action} action",
        )
        if action.startswith("iam:"):  # IAM records the refused call too (errorCode)
            self._record(session, action.split(":", 1)[1], params, error=error)
        return _error(start_response, error, json_protocol)

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        session: RootSession,
        operation: str,
        params: dict[str, str],
    ) -> Iterable[bytes]:
        account = session.account
        if params.get("UserName"):
            # The task policies' resource is the member's root user only.
            raise RootAccessError(
                "AccessDenied",
                f"User: arn:aws:iam::{account}:root is not authorized to perform: "
                f"iam:{operation} on resource: user {params['UserName']}",
            )
        if operation == "GetAccountSummary":
            # moto answers it for the member account; its AccountAccessKeysPresent is kept in
            # step with the root key store.
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = account
            return self.app(environ, start_response)
        result = _IAM_ANSWERS[operation](self.state, account, params)
        return _xml(start_response, _iam_response(operation, result))

    def _record(
        self,
        session: RootSession,
        operation: str,
        params: dict[str, str],
        *,
        error: RootAccessError | None = None,
    ) -> None:
        """The member account's record of the call ("Track privileged tasks in AWS CloudTrail",
        its last example): type Root, the session's key, sessionContext.attributes only."""
        request = {
            k[0].lower() + k[1:]: v for k, v in params.items() if k not in {"Action", "Version"}
        }
        identity = {
            "type": "Root",
            "principalId": session.account,
            "arn": f"arn:aws:iam::{session.account}:root",
            "accountId": session.account,
            "accessKeyId": session.access_key_id,
            "sessionContext": {
                "attributes": {"creationDate": iso(session.started), "mfaAuthenticated": "false"}
            },
        }
        record = root_record(
            self.state.now(),
            session.account,
            identity,
            event_name=operation,
            event_source="iam.amazonaws.com",
            region=IAM_REGION,
            read_only=operation.startswith(_READS),
            request=request or None,
        )
        if error is not None:
            record["errorCode"] = error.code
            record["errorMessage"] = error.message
        self.put_event(IAM_REGION, session.account, "aws.iam", CLOUDTRAIL, record)


def _list_access_keys(state: RootAccess, account: str, params: dict[str, str]) -> str:
    keys = state.keys(account)
    start = next((i for i, k in enumerate(keys) if k.key_id == params.get("Marker")), 0)
    size = int(params.get("MaxItems") or 100)
    page, rest = keys[start : start + size], keys[start + size :]
    members = "".join(
        f"<member><AccessKeyId>{k.key_id}</AccessKeyId><Status>{k.status}</Status>"
        f"<CreateDate>{iso(k.created)}</CreateDate></member>"
        for k in page
    )
    more = "<IsTruncated>false</IsTruncated>"
    if rest:
        more = f"<IsTruncated>true</IsTruncated><Marker>{rest[0].key_id}</Marker>"
    return f"<AccessKeyMetadata>{members}</AccessKeyMetadata>{more}"


def _get_access_key_last_used(state: RootAccess, account: str, params: dict[str, str]) -> str:
    key = next((k for k in state.keys(account) if k.key_id == params.get("AccessKeyId")), None)
    if key is None:
        raise RootAccessError(
            "AccessDenied",
            f"User: arn:aws:iam::{account}:root is not authorized to perform: "
            f"iam:GetAccessKeyLastUsed on resource: access key {params.get('AccessKeyId')}",
        )
    # "GetAccessKeyLastUsed" (IAM API Reference): ServiceName and Region are "N/A" when the key
    # was never used, and LastUsedDate is absent.
    used = f"<LastUsedDate>{iso(key.last_used)}</LastUsedDate>" if key.last_used else ""
    service = key.last_used_service or "N/A"
    region = key.last_used_region or "N/A"
    return (
        f"<AccessKeyLastUsed>{used}<ServiceName>{service}</ServiceName>"
        f"<Region>{region}</Region></AccessKeyLastUsed>"
    )


def _delete_access_key(state: RootAccess, account: str, params: dict[str, str]) -> str:
    key_id = params.get("AccessKeyId", "")
    if not state.delete_key(account, key_id):
        raise RootAccessError(
            "NoSuchEntity", f"The Access Key with id {key_id} cannot be found.", 404
        )
    return ""


def _get_user(state: RootAccess, account: str, params: dict[str, str]) -> str:
    # The root user as GetUser answers it without UserName: its ARN and the account's id.
    return (
        f"<User><UserId>{account}</UserId><Arn>arn:aws:iam::{account}:root</Arn>"
        f"<CreateDate>{iso(state.now())}</CreateDate></User>"
    )


def _nothing(kind: str) -> Callable[[RootAccess, str, dict[str, str]], str]:
    """Root's signing certificates, MFA devices, login profile: the sandbox holds none."""

    def answer(state: RootAccess, account: str, params: dict[str, str]) -> str:
        if kind.startswith("<"):
            return kind + "<IsTruncated>false</IsTruncated>"
        raise RootAccessError("NoSuchEntity", f"The {kind} of the root user cannot be found.", 404)

    return answer


_IAM_ANSWERS: Final[dict[str, Callable[[RootAccess, str, dict[str, str]], str]]] = {
    "ListAccessKeys": _list_access_keys,
    "GetAccessKeyLastUsed": _get_access_key_last_used,
    "DeleteAccessKey": _delete_access_key,
    "GetUser": _get_user,
    "ListSigningCertificates": _nothing("<Certificates></Certificates>"),
    "ListMFADevices": _nothing("<MFADevices></MFADevices>"),
    "GetLoginProfile": _nothing("login profile"),
    "DeleteLoginProfile": _nothing("login profile"),
    "DeleteSigningCertificate": _nothing("signing certificate"),
    "DeactivateMFADevice": _nothing("MFA device"),
}


def _iam_response(operation: str, result: str) -> str:
    inner = f"<{operation}Result>{result}</{operation}Result>" if result else ""
    return (
        f'<{operation}Response xmlns="{_XMLNS_IAM}">{inner}'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )


# -- CloudTrail records ------------------------------------------------------------------------


def root_identity(account: str, access_key_id: str) -> dict[str, Any]:
    """``userIdentity`` of a call signed with root's own access key (no sessionContext)."""
    return {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": access_key_id,
    }


def root_record(
    when: datetime,
    account: str,
    identity: dict[str, Any],
    *,
    event_name: str,
    event_source: str,
    region: str,
    read_only: bool,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A management event record of a call made in ``account`` by ``identity``."""
    record = _record_base(when, account, region, {})
    record.update(
        {
            "eventVersion": "1.10",
            "userIdentity": identity,
            "eventSource": event_source,
            "eventName": event_name,
            "requestParameters": request,
            "responseElements": None,
            "readOnly": read_only,
        }
    )
    return record


def _record_base(
    when: datetime, account: str, region: str, environ: dict[str, Any]
) -> dict[str, Any]:
    return {
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "awsRegion": region,
        "sourceIPAddress": environ.get("REMOTE_ADDR") or "127.0.0.1",
        "userAgent": environ.get("HTTP_USER_AGENT") or "sandbox",
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def iso(when: datetime) -> str:
    """ISO 8601 in UTC to the second, as AWS's APIs and CloudTrail write times."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def cloudtrail_expiration(when: datetime) -> str:
    """``responseElements.credentials.expiration`` as AWS's AssumeRoot example writes it:
    "Oct 25, 2024, 9:07:11 PM" (UTC)."""
    hour = when.hour % 12 or 12
    return f"{when:%b} {when.day}, {when.year}, {hour}:{when:%M:%S} {when:%p}"


# -- the wire ----------------------------------------------------------------------------------


def ask(app: WsgiApp, headers: dict[str, str], body: bytes, content_type: str) -> tuple[int, str]:
    """moto's answer to one POST, asked over its WSGI interface."""
    environ = EnvironBuilder(
        method="POST", path="/", headers=headers, data=body, content_type=content_type
    ).get_environ()
    chunks, status, _ = run_wsgi_app(app, environ, buffered=True)
    try:
        text = b"".join(chunks).decode("utf-8", "replace")
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(status.split(" ", 1)[0]), text


def form_params(body: bytes) -> dict[str, str]:
    """A query-protocol request's parameters (first value of each)."""
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _xml(start_response: StartResponse, text: str) -> list[bytes]:
    payload = text.encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/xml"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [payload]


def query_error(start_response: StartResponse, error: RootAccessError) -> list[bytes]:
    """An error in the query protocol's shape (IAM, STS): ErrorResponse/Error/Code."""
    kind = "Sender" if error.status < 500 else "Receiver"
    payload = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{error.code}</Code>"
        f"<Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        f"{error.status} {_PHRASES.get(error.status, 'Error')}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _error(
    start_response: StartResponse, error: RootAccessError, json_protocol: bool
) -> list[bytes]:
    if not json_protocol:
        return query_error(start_response, error)
    payload = json.dumps({"__type": error.code, "message": error.message}).encode()
    start_response(
        f"{error.status} {_PHRASES.get(error.status, 'Error')}",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-ErrorType", error.code),
        ],
    )
    return [payload]


_PHRASES: Final = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
