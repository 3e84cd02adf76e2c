"""RootKeyEvent -> Verdict: the classification contract of DESIGN.md, as one pure function."""

from __future__ import annotations

from enum import StrEnum

from detector.domain.event import RootKeyEvent

IAM_SOURCE = "iam.amazonaws.com"


class Verdict(StrEnum):
    """What one CloudTrail record means for the root user's access keys."""

    CREATED = "root-key-created"
    DELETED = "root-key-deleted"
    DEACTIVATED = "root-key-deactivated"
    ACTIVATED = "root-key-activated"
    USER_KEY = "root-created-user-key"
    CREATE_FAILED = "root-key-create-failed"
    IGNORED = "ignored"

    @property
    def is_lifecycle(self) -> bool:
        """A later step in the story of a root key already alerted on."""
        return self in {Verdict.DELETED, Verdict.DEACTIVATED, Verdict.ACTIVATED}

    @property
    def key_expected_present(self) -> bool | None:
        """Whether IAM should now show root holding the key (None: nothing to confirm)."""
        if self in {Verdict.CREATED, Verdict.DEACTIVATED, Verdict.ACTIVATED}:
            return True
        if self is Verdict.DELETED:
            return False
        return None


def classify(event: RootKeyEvent) -> Verdict:
    """Classify one event; anything not about root's own access keys is IGNORED."""
    if event.event_source != IAM_SOURCE or not event.is_root:
        return Verdict.IGNORED
    name = event.event_name
    if name == "CreateAccessKey":
        if event.error_code:
            return Verdict.CREATE_FAILED
        if event.target_user_name:
            return Verdict.USER_KEY
        return Verdict.CREATED
    if event.error_code or event.target_user_name:
        # A failed or user-targeted delete/update says nothing about root's keys.
        return Verdict.IGNORED
    if name == "DeleteAccessKey":
        return Verdict.DELETED
    if name == "UpdateAccessKey":
        # The parser keeps only Active or Inactive (what the call accepts); a status it could
        # not read is named in the event's ``untrusted`` and counts as the louder "active": the
        # key exists either way, and IAM's confirmation says the rest.
        if (event.key_status or "").lower() == "inactive":
            return Verdict.DEACTIVATED
        return Verdict.ACTIVATED
    return Verdict.IGNORED
