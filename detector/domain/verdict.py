"""RootKeyEvent -> Verdict: the classification contract of DESIGN.md, as one pure function.

A verdict also carries what it says about the key: the phrase alerts and findings use, whether
IAM should now show the key, and where it falls among a key's events of the same second.
"""

from __future__ import annotations

from enum import StrEnum

from detector.domain.event import (
    CREATE_ACCESS_KEY,
    DELETE_ACCESS_KEY,
    IAM_SOURCE,
    UPDATE_ACCESS_KEY,
    RootKeyEvent,
)


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

    @property
    def action(self) -> str:
        """What the root user did, as alerts and findings say it ("The root user ... <action>")."""
        return _ACTIONS[self]

    @property
    def same_second_rank(self) -> int:
        """Where this event falls among one key's events of the same second (CloudTrail times
        are whole seconds): a key is created, then updated, then deleted."""
        return _SAME_SECOND_RANK.get(self, 0)


_ACTIONS: dict[Verdict, str] = {
    Verdict.CREATED: "created an access key",
    Verdict.DELETED: "deleted an access key",
    Verdict.DEACTIVATED: "deactivated an access key (an inactive key still exists)",
    Verdict.ACTIVATED: "re-activated an access key",
    Verdict.USER_KEY: "created an access key for an IAM user",
    Verdict.CREATE_FAILED: "tried to create an access key",
    Verdict.IGNORED: "made a call that needs no action",
}
_SAME_SECOND_RANK = {
    Verdict.CREATED: 0,
    Verdict.ACTIVATED: 1,
    Verdict.DEACTIVATED: 1,
    Verdict.DELETED: 2,
}


def classify(event: RootKeyEvent) -> Verdict:
    """Classify one event; anything not about root's own access keys is IGNORED."""
    if event.event_source != IAM_SOURCE or not event.is_root:
        return Verdict.IGNORED
    name = event.event_name
    if name == CREATE_ACCESS_KEY:
        if event.error_code:
            return Verdict.CREATE_FAILED
        if event.target_user_name:
            return Verdict.USER_KEY
        return Verdict.CREATED
    if event.error_code or event.target_user_name:
        # A failed or user-targeted delete/update says nothing about root's keys.
        return Verdict.IGNORED
    if name == DELETE_ACCESS_KEY:
        return Verdict.DELETED
    if name == UPDATE_ACCESS_KEY:
        # The parser keeps only Active or Inactive (what the call accepts); a status it could
        # not read is named in the event's ``untrusted`` and counts as the louder "active": the
        # key exists either way, and IAM's confirmation says the rest.
        if (event.key_status or "").lower() == "inactive":
            return Verdict.DEACTIVATED
        return Verdict.ACTIVATED
    return Verdict.IGNORED
