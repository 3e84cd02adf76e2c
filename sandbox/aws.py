"""moto in server mode, in-process: a real HTTP endpoint speaking the AWS wire protocol.

In-process because moto cannot hold a root access key: the sandbox sets IAM's account
summary flag (AccountAccessKeysPresent) directly in moto's backend.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

import boto3
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

from sandbox.contracts import CLOUDTRAIL, CONTRACTS, ContractLayer
from sandbox.root_access import IAM_REGION, RootKey, root_identity, root_record

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
SLACK_TOKEN = "xoxb-sandbox-token"
SLACK_CHANNEL = "C0SECALERTS"
TOKEN_SECRET_NAME = "root-key-detector/slack-bot-token"
WEBHOOK_SECRET_NAME = "root-key-detector/slack-webhook-url"
SIGNING_SECRET_NAME = "root-key-detector/slack-signing-secret"
SLACK_SIGNING_SECRET = "5a9e0c3d1b7f42e8a6c4d2b0f8e6a4c2"  # the sandbox app's, not a real one
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
    # Clients made once (see client()). Clients are thread-safe; making them is not (boto3's
    # sessions are not), hence the lock.
    _clients: dict[tuple[str, str, str, str | None], Any] = field(
        default_factory=dict, repr=False, compare=False
    )
    _clients_lock: threading.RLock = field(
        default_factory=threading.RLock, repr=False, compare=False
    )
    _session: boto3.session.Session | None = field(default=None, repr=False, compare=False)

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

    def client(self, service: str, region: str = REGION, *, account_id: str | None = None) -> Any:
        """A boto3 client for the sandbox (for seeding and inspecting, not for the detector).

        One per service, region, endpoint and account, made on first use (making one costs
        10-25 ms of CPU; tests and runs ask for the same few hundreds of times): callers must
        not change it (register handlers, say). With ``account_id`` its calls act in that
        account (moto's ``x-moto-account-id`` header), else in moto's default account.
        """
        key = (service, region, self.endpoint_url, account_id)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._new_client(service, region)
                if account_id is not None:
                    client.meta.events.register(
                        f"before-sign.{client.meta.service_model.service_id.hyphenize()}",
                        functools.partial(_act_in_account, account_id),
                    )
                self._clients[key] = client
            return client

    def _new_client(self, service: str, region: str = REGION) -> Any:
        """A client of its own (the caller may register handlers on it)."""
        with self._clients_lock:
            if self._session is None:
                self._session = boto3.session.Session()
            return self._session.client(
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
        sm.create_secret(
            Name=SIGNING_SECRET_NAME,
            SecretString=json.dumps({"signing_secret": SLACK_SIGNING_SECRET}),
        )
        create_ledger_table(self.client("dynamodb"), LEDGER_TABLE)

    def enable_security_hub(self, *account_ids: str) -> None:
        """Enable Security Hub in each account, as a deployment must have it (README)."""
        client = self._new_client("securityhub")  # one for all of them: thousands in bench-org
        acting = {"account": ACCOUNT_ID}
        client.meta.events.register(
            "before-sign.securityhub",
            lambda request, **_: _act_in_account(acting["account"], request),
        )
        for account_id in account_ids:
            acting["account"] = account_id
            client.enable_security_hub(EnableDefaultStandards=False)

    def person_client(self, service: str, user_name: str, region: str = REGION) -> Any:
        """A client acting as a person of the account: an IAM user ``user_name`` (created if
        needed) with an access key of their own, so AWS (and CloudTrail) tell them apart from
        the detector."""
        iam = self.client("iam")
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=user_name)
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )

    def add_dependencies(
        self, account_id: str = ACCOUNT_ID, *, rule_name: str = "root-key-detector-events"
    ) -> None:
        """What the sweep checks in an account, in order: a logging multi-region trail (all
        management events) and the event rule, enabled (README, "What the sweep checks")."""
        bucket = f"trail-{account_id}"
        self.client("s3", account_id=account_id).create_bucket(Bucket=bucket)
        trails = self.client("cloudtrail", account_id=account_id)
        trails.create_trail(Name="management", S3BucketName=bucket, IsMultiRegionTrail=True)
        trails.start_logging(Name="management")
        self.client("events", account_id=account_id).put_rule(
            Name=rule_name, EventPattern='{"source": ["aws.iam"]}', State="ENABLED"
        )

    def set_root_key_present(self, present: bool, account_id: str = ACCOUNT_ID) -> None:
        """What IAM's GetAccountSummary reports as AccountAccessKeysPresent for root."""
        set_root_key_flag(present, account_id)

    def set_securityhub_administrator(self, account_id: str | None) -> None:
        """Make ``account_id`` the Security Hub administrator of every account (None: nobody)."""
        set_securityhub_administrator(account_id)

    # -- centralized root access (sandbox.root_access) --------------------------------------

    def enable_root_access(
        self, management_account: str, delegated_admin: str | None = None
    ) -> None:
        """Centralized root access on in the organization: IAM users and roles of
        ``management_account`` (and of IAM's ``delegated_admin``) may call sts:AssumeRoot on
        its member accounts (moto's Organizations says which those are)."""
        CONTRACTS.root_access.enable(management_account, delegated_admin)

    def add_root_key(
        self, account: str, status: str = "Active", created: datetime | None = None
    ) -> str:
        """Give ``account``'s root user an access key (AKIA…); its id. IAM's
        AccountAccessKeysPresent follows. At most two, as IAM allows."""
        return CONTRACTS.root_access.add_key(account, status, created)

    def root_keys(self, account: str) -> list[RootKey]:
        """Root's access keys in ``account`` as the sandbox holds them (with their last use)."""
        return CONTRACTS.root_access.keys(account)

    def use_root_key(
        self,
        account: str,
        key_id: str,
        *,
        event_name: str = "RunInstances",
        event_source: str = "ec2.amazonaws.com",
        read_only: bool = False,
        region: str = REGION,
    ) -> dict[str, Any]:
        """Root's ``key_id`` signs a call in ``account``: the key's last use is now (that
        service and Region), and CloudTrail's record of the call (userIdentity type Root,
        accessKeyId the AKIA key) goes to the account's default bus as EventBridge delivers
        CloudTrail's records; the record is returned.

        Raises:
            ValueError: the key is not an active root key of ``account``.
        """
        service = event_source.split(".", 1)[0]
        where = IAM_REGION if service == "iam" else region
        CONTRACTS.root_access.record_use(account, key_id, service, where)
        record = root_record(
            CONTRACTS.now(),
            account,
            root_identity(account, key_id),
            event_name=event_name,
            event_source=event_source,
            region=where,
            read_only=read_only,
        )
        entry = {"Source": f"aws.{service}", "DetailType": CLOUDTRAIL, "Detail": json.dumps(record)}
        answer = self.client("events", where, account_id=account).put_events(Entries=[entry])
        if answer["FailedEntryCount"]:
            raise RuntimeError(f"put_events failed: {answer['Entries']}")
        return record

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
        client = self.client("securityhub", account_id=account_id)
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
    """Quiet werkzeug, and give moto the guarantees the sandbox relies on (once)."""
    # werkzeug logs every request to stderr; the demo and tests want quiet output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _make_dynamodb_writes_atomic()
    _deliver_by_rule_state()


READ_ONLY_RULE_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"


def rule_receives(state: str, event: dict[str, Any]) -> bool:
    """Whether EventBridge matches ``event`` against a rule in ``state`` at all.

    "Receiving read-only management events from AWS services" (EventBridge User Guide,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail-management.html):
    a DISABLED rule matches nothing; an ENABLED rule matches every event "except for read-only
    AWS management events delivered through CloudTrail"; a rule in state
    ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS matches them too.
    """
    if state == "DISABLED":
        return False
    detail = event.get("detail")
    read_only = (
        event.get("detail-type") == CLOUDTRAIL
        and isinstance(detail, dict)
        and detail.get("readOnly") is True
        and detail.get("managementEvent", True) is True
    )
    return state == READ_ONLY_RULE_STATE if read_only else True


def _deliver_by_rule_state() -> None:
    """moto sends an event to every rule of the bus whatever its state (its Rule.send_to_targets
    only matches the pattern): a DISABLED rule, and a plain ENABLED one for a read-only
    CloudTrail record, get it. The sandbox holds moto to :func:`rule_receives`."""
    from moto.events.models import Rule  # noqa: PLC0415 - moto internals, sandbox only

    original = Rule.send_to_targets
    if getattr(original, "_sandbox_by_state", False):
        return

    def send_to_targets(self: Any, event: Any, *args: Any, **kwargs: Any) -> None:
        if rule_receives(str(self.state), event):
            original(self, event, *args, **kwargs)

    send_to_targets._sandbox_by_state = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def moto_app() -> WsgiApp:
    """moto's WSGI application (all services), as moto's own server builds it.

    moto's backends are module state: every app made here serves the same accounts.
    """
    return DomainDispatcherApplication(create_backend_app)


def sandbox_app(*, contracts: bool = True) -> WsgiApp:
    """What every sandbox AWS endpoint serves: moto behind the contract layer.

    The contract layer (:mod:`sandbox.contracts`) holds AWS's documented rules where moto is
    kinder; ``contracts=False`` (moto alone) is for a test that shows the difference.
    """
    return ContractLayer(moto_app()) if contracts else moto_app()


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body (sized or chunked), read no further than it goes."""
    return get_input_stream(environ).read()


def serve_aws(app: WsgiApp, host: str, port: int = 0) -> BaseWSGIServer:
    """Serve ``app`` (moto, maybe behind layers) as moto's ``ThreadedMotoServer`` serves moto.

    werkzeug's threaded server with moto's request handler (it keeps header names with
    underscores, which S3 metadata may have). ``ThreadedMotoServer`` itself only serves moto's
    own application; the sandbox's layers wrap it, so the server is made here the same way.
    """
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
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
    changed size during iteration", a 500 DynamoDB never answers): they take the lock too. What
    each returns is copied under the lock: moto turns the items into its answer after the call,
    and a concurrent write to the same item would change them under that too.
    """
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - moto internals

    methods = ("put_item", "update_item", "delete_item", "get_item", "transact_write_items")
    for name in (*methods, "query", "scan"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_sandbox_atomic", False):
            continue

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_LOCK:
                return copy.deepcopy(__original(self, *args, **kwargs))

        locked._sandbox_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


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


def create_ledger_table(client: Any, table: str) -> None:
    """Create the delivery ledger's table as infra/ declares it in AWS: ``pk``/``sk`` strings,
    on demand, TTL on ``expires_at`` (the item layout is in detector/adapters/ledger.py)."""
    client.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
