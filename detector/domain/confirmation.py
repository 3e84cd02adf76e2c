"""What IAM said about the key: the result of the confirm step."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeyState(StrEnum):
    """IAM's answer to "does root hold this key now?"."""

    PRESENT = "PRESENT"
    ABSENT = "ABSENT"
    UNCONFIRMED = "UNCONFIRMED"


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The confirm step's result; ``reason`` says why, in words a responder can act on."""

    state: KeyState
    reason: str
    attempts: int = 1
