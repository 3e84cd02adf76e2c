"""Who this code runs as: the role of its own session (STS GetCallerIdentity, asked once)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.errors import DetectorError


class OwnRole:
    """The name of the role the function's credentials are a session of (None outside a role).

    GetCallerIdentity needs no permission ("GetCallerIdentity", STS API reference).
    """

    def __init__(self, client: Callable[[], Any], retry_env: retry.RetryEnv) -> None:
        self._client = client
        self._retry_env = retry_env
        self._name: str | None = None
        self._asked = False
        self._lock = threading.Lock()

    def name(self) -> str | None:
        """``<role>`` of ``arn:aws:sts::<account>:assumed-role/<role>/<session>``; None when the
        caller is not a role session or STS cannot say (then only the ledger's state tells the
        detector's own updates apart)."""
        with self._lock:
            if not self._asked:
                self._name = self._ask()
                self._asked = self._name is not None
            return self._name

    def _ask(self) -> str | None:
        try:
            ident = retry.build(retry.AWS_CALL, self._retry_env)(
                aws_call, "sts.GetCallerIdentity", self._client().get_caller_identity
            )
        except DetectorError:
            return None
        arn = str(ident.get("Arn", ""))
        if ":assumed-role/" not in arn:
            return None
        return arn.split(":assumed-role/", 1)[1].split("/", 1)[0] or None
