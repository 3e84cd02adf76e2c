"""Centralized root access: the task policies, a member root key as IAM lists it, and a root
session (``sts:AssumeRoot``) as CloudTrail tells of it.

AWS's documents: "AssumeRoot" (STS API reference), "Perform a privileged task on an AWS
Organizations member account" and "Track privileged tasks in AWS CloudTrail" (IAM User Guide),
"AWS managed policies for IAM" (the root-task policies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# The task policies the detector uses: the audit one lists root's keys and their last use,
# the delete one also deletes a key ("AWS managed policies for IAM").
TASK_POLICY_PREFIX = "arn:aws:iam::aws:policy/root-task/"
AUDIT_TASK_POLICY = TASK_POLICY_PREFIX + "IAMAuditRootUserCredentials"
DELETE_TASK_POLICY = TASK_POLICY_PREFIX + "IAMDeleteRootUserCredentials"
# "AssumeRoot": DurationSeconds from 0 to 900, 900 when not given; a larger value fails.
MAX_ROOT_SESSION = timedelta(seconds=900)
# What each task policy lets a root session call ("AWS managed policies for IAM": the policies'
# JSON; each is limited to the member's root). A call no task policy allows (CreateAccessKey,
# UpdateAccessKey) is never a colleague's privileged task, whatever session signed it.
TASK_ACTIONS: dict[str, frozenset[str]] = {
    AUDIT_TASK_POLICY: frozenset(
        {
            "ListAccessKeys",
            "ListSigningCertificates",
            "GetLoginProfile",
            "ListMFADevices",
            "GetAccountSummary",
            "GetUser",
            "GetAccessKeyLastUsed",
        }
    ),
    DELETE_TASK_POLICY: frozenset(
        {
            "DeleteAccessKey",
            "DeleteSigningCertificate",
            "DeleteLoginProfile",
            "DeactivateMFADevice",
            "ListAccessKeys",
            "ListSigningCertificates",
            "GetLoginProfile",
            "ListMFADevices",
            "GetUser",
            "GetAccessKeyLastUsed",
        }
    ),
}
ASSUME_ROOT = "AssumeRoot"  # its CloudTrail eventName
STS_SOURCE = "sts.amazonaws.com"  # its CloudTrail eventSource


@dataclass(frozen=True, slots=True)
class RootKey:
    """One access key of a member account's root user, as ``ListAccessKeys`` and
    ``GetAccessKeyLastUsed`` give it in an audit session."""

    key_id: str
    status: str  # "Active" or "Inactive"
    created: datetime | None
    last_used: datetime | None = None  # None: never used (or IAM has no record of it)
    last_used_service: str | None = None
    last_used_region: str | None = None

    @property
    def active(self) -> bool:
        """Whether the key can sign requests."""
        return self.status == "Active"


@dataclass(frozen=True, slots=True)
class RootSession:
    """A root session someone opened with ``AssumeRoot``: who, in which account, for which
    task, and the session's access key id (``ASIA…``), which the member account's records of
    the session's calls carry as ``userIdentity.accessKeyId``."""

    account: str  # the member account (the request's targetPrincipal)
    access_key_id: str  # responseElements.credentials.accessKeyId
    caller_arn: str  # userIdentity.arn of the AssumeRoot record
    task_policy_arn: str  # requestParameters.taskPolicyArn.arn
    started: datetime  # the AssumeRoot record's eventTime
    expires: datetime | None  # responseElements.credentials.expiration
    event_id: str  # the AssumeRoot record's eventID

    @property
    def task(self) -> str:
        """The task policy's short name (``IAMDeleteRootUserCredentials``)."""
        return self.task_policy_arn.removeprefix(TASK_POLICY_PREFIX)

    def allows(self, event_name: str) -> bool:
        """Whether the session's task policy lets it make the call ``event_name`` (IAM's)."""
        return event_name in TASK_ACTIONS.get(self.task_policy_arn, frozenset())

    def covers(self, when: datetime) -> bool:
        """Whether a call at ``when`` can have been made with this session's credentials."""
        end = self.expires or self.started + MAX_ROOT_SESSION
        return self.started <= when <= min(end, self.started + MAX_ROOT_SESSION)


@dataclass(frozen=True, slots=True)
class RemovalReport:
    """What a removal did: the calls made (in order) and whether IAM no longer lists the key."""

    calls: tuple[str, ...]
    gone: bool
