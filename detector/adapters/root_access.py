"""A member account's root access keys through centralized root access (``sts:AssumeRoot``).

An audit session (IAMAuditRootUserCredentials) reads root's keys and their last use; a delete
session (IAMDeleteRootUserCredentials) deletes one key and checks that IAM no longer lists it.
In a root session IAM's calls name no UserName and act on the member's root user ("Perform a
privileged task on an AWS Organizations member account", IAM User Guide).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.aws import AwsClients, Credentials
from detector.adapters.aws_errors import aws_call
from detector.domain.root_access import (
    AUDIT_TASK_POLICY,
    DELETE_TASK_POLICY,
    MAX_ROOT_SESSION,
    RemovalReport,
    RootKey,
)
from detector.domain.text import mask_key
from detector.errors import NotRootKey
from detector.log import get_logger

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sts import STSClient

# GetAccessKeyLastUsed answers "N/A" for ServiceName and Region of a key never used
# ("GetAccessKeyLastUsed", IAM API Reference, AccessKeyLastUsed).
_NEVER = "N/A"


class AssumeRootCredentials:
    """:class:`detector.ports.RootCredentials` through ``sts:AssumeRoot``.

    AssumeRoot is called by the detector's own role, or, with ``role_arn`` (ROOT_ACCESS_ROLE_ARN:
    a role of the management account or of IAM's delegated administrator), by that role
    assumed first; its credentials are kept until five minutes before they expire.

    "AssumeRoot" (STS API Reference): "The STS global endpoint is not supported for
    AssumeRoot. You must send this request to a Regional STS endpoint." The clients here come
    from a client factory of their own whose session's ``sts_regional_endpoints`` is
    ``regional`` ("AWS STS Regional endpoints", AWS SDKs and Tools Reference Guide: the
    setting's ``legacy`` value sends us-east-1's calls, and those of a few other Regions, to the
    global endpoint), so neither AWS_STS_REGIONAL_ENDPOINTS=legacy nor a shared config file
    can send AssumeRoot to the global endpoint. AWS_ENDPOINT_URL is honoured as by every
    client (the sandbox).
    """

    REFRESH_BEFORE_S = 300.0
    SESSION_NAME = "root-key-detector"

    def __init__(
        self,
        region: str,
        retry_env: retry.RetryEnv,
        *,
        role_arn: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._retry_env = retry_env
        self._role_arn = role_arn
        self._clock = clock
        self._clients = AwsClients(region, regional_sts=True)
        self._lock = threading.Lock()
        self._role: tuple[Credentials, Any] | None = None  # the role's credentials, its client

    # -- the port ----------------------------------------------------------------------------

    def root_keys(self, account_id: str) -> list[RootKey]:
        """Root's keys in ``account_id``: id, status, creation date and last use.

        Raises:
            AwsCallError: AssumeRoot or IAM refused after the AWS_CALL policy gave up.
        """
        iam = self._root_iam(account_id, AUDIT_TASK_POLICY)
        keys: list[RootKey] = []
        for listed in self._list(iam):
            key_id = str(listed["AccessKeyId"])
            used = self._call(
                "iam.GetAccessKeyLastUsed", iam.get_access_key_last_used, AccessKeyId=key_id
            )["AccessKeyLastUsed"]
            keys.append(
                RootKey(
                    key_id=key_id,
                    status=str(listed["Status"]),
                    created=listed.get("CreateDate"),
                    last_used=used.get("LastUsedDate"),
                    last_used_service=_known(used.get("ServiceName")),
                    last_used_region=_known(used.get("Region")),
                )
            )
        return keys

    def remove_root_key(self, account_id: str, key_id: str) -> RemovalReport:
        """Delete root's ``key_id`` in ``account_id``, then list root's keys again.

        Raises:
            NotRootKey: IAM does not list ``key_id`` among root's keys (nothing is deleted).
            AwsCallError: AssumeRoot or IAM refused after the AWS_CALL policy gave up.
        """
        calls = ["sts:AssumeRoot", "iam:ListAccessKeys"]
        iam = self._root_iam(account_id, DELETE_TASK_POLICY)
        if key_id not in {str(k["AccessKeyId"]) for k in self._list(iam)}:
            raise NotRootKey(account_id, key_id)
        self._call("iam.DeleteAccessKey", iam.delete_access_key, AccessKeyId=key_id)
        calls.append("iam:DeleteAccessKey")
        remaining = {str(k["AccessKeyId"]) for k in self._list(iam)}
        calls.append("iam:ListAccessKeys")
        gone = key_id not in remaining
        get_logger().info(
            "root key removed" if gone else "root key still listed after DeleteAccessKey",
            extra={"account": account_id, "access_key": mask_key(key_id), "gone": gone},
        )
        return RemovalReport(calls=tuple(calls), gone=key_id not in remaining)

    # -- sessions ----------------------------------------------------------------------------

    def _root_iam(self, account_id: str, task_policy_arn: str) -> IAMClient:
        """An IAM client signing with a fresh root session's credentials in ``account_id``."""
        sts = self._caller_sts()
        answer = self._call(
            "sts.AssumeRoot",
            sts.assume_root,
            TargetPrincipal=account_id,
            TaskPolicyArn={"arn": task_policy_arn},
            # The longest a root session may last, and its default ("AssumeRoot"): said, so the
            # call is the one a removal's dry run shows.
            DurationSeconds=int(MAX_ROOT_SESSION.total_seconds()),
        )
        get_logger().info(
            "root session opened",
            extra={"account": account_id, "task_policy": task_policy_arn.rsplit("/", 1)[-1]},
        )
        iam: IAMClient = self._clients.client_with("iam", Credentials.from_sts(answer))
        return iam

    def _caller_sts(self) -> STSClient:
        """The STS client that calls AssumeRoot: the detector's own, or the role's."""
        own: STSClient = self._clients.client("sts")
        if self._role_arn is None:
            return own
        with self._lock:
            held = self._role
        if held is not None and held[0].expires_at - self.REFRESH_BEFORE_S > self._clock():
            client: STSClient = held[1]
            return client
        answer = self._call(
            "sts.AssumeRole",
            own.assume_role,
            RoleArn=self._role_arn,
            RoleSessionName=self.SESSION_NAME,
            DurationSeconds=3600,
        )
        credentials = Credentials.from_sts(answer)
        client = self._clients.client_with("sts", credentials)
        with self._lock:
            self._role = (credentials, client)
        return client

    # -- calls -------------------------------------------------------------------------------

    def _list(self, iam: IAMClient) -> list[dict[str, Any]]:
        """Root's keys, every page of ListAccessKeys (no UserName: the session's root)."""
        out: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Marker": marker} if marker else {}
            page = self._call("iam.ListAccessKeys", iam.list_access_keys, **kwargs)
            out.extend(dict(k) for k in page.get("AccessKeyMetadata", []))
            marker = page.get("Marker") if page.get("IsTruncated") else None
            if not marker:
                return out

    def _call(self, name: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(**kwargs)`` under the AWS_CALL policy, SDK failures as AwsCallError."""
        return retry.build(retry.AWS_CALL, self._retry_env)(aws_call, name, fn, **kwargs)


def _known(value: object) -> str | None:
    return None if value in {None, "", _NEVER} else str(value)
