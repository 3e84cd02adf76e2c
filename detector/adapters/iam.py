"""IAM's answer to "does the root user hold an access key?" (GetAccountSummary), for an event's
confirmation and for the sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.domain.confirmation import Confirmation, KeyState
from detector.errors import AwsCallError
from detector.log import get_logger

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

IamClientFor = Callable[[str], "IAMClient"]


class IamKeyConfirmer:
    """Confirms a root key event against IAM; any failure becomes UNCONFIRMED, never silence.

    IAM is the truth and the event a hint. ``AccountAccessKeysPresent`` says whether root holds
    any key (inactive ones count); a principal other than root cannot list root's keys.
    IAM is eventually consistent: a key seconds old may not show yet, so a fresh event is
    polled for up to ``wait_s``; an event older than ``settle_s`` whose key is not there
    means the key was already deleted.
    """

    def __init__(
        self,
        client_for: IamClientFor,
        retry_env: retry.RetryEnv,
        *,
        wait_s: float = 10.0,
        settle_s: float = 300.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client_for = client_for
        self._retry_env = retry_env
        self._wait_s = wait_s
        self._settle_s = settle_s
        self._now = now

    def confirm(
        self,
        account_id: str,
        *,
        expect_present: bool,
        event_time: datetime,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Confirmation:
        """Return PRESENT, ABSENT or UNCONFIRMED (with the reason) for root's key.

        ``cancelled`` ends the wait for IAM to catch up early (nobody needs the answer).
        """
        try:
            client = self._client_for(account_id)
            return self._confirm(client, expect_present, event_time, cancelled)
        except Exception as exc:  # noqa: BLE001 - any failure must still produce an alert
            code = retry.error_code(exc)
            get_logger().warning(
                "iam confirmation failed",
                extra={"account": account_id, "error_code": code, "error_type": type(exc).__name__},
            )
            return Confirmation(
                KeyState.UNCONFIRMED, f"IAM could not be asked ({code}): {_short(exc)}"
            )

    def _confirm(
        self,
        client: IAMClient,
        expect_present: bool,
        event_time: datetime,
        cancelled: Callable[[], bool],
    ) -> Confirmation:
        attempts = 0

        def count() -> int:
            nonlocal attempts
            attempts += 1
            return self._keys_present(client)

        age_s = (self._now() - event_time).total_seconds()
        if expect_present and age_s >= self._settle_s:
            # Long after the event: what IAM says now is settled, no need to wait for it.
            present = count()
        else:
            # The first check is immediate; later ones wait for IAM to catch up.
            def settled(n: int) -> bool:
                shown = n > 0 if expect_present else n == 0
                return shown or cancelled()

            present = self._poll(count, until=settled)

        def result(state: KeyState, reason: str) -> Confirmation:
            return Confirmation(state, reason, attempts=attempts)

        if present > 0:
            if expect_present:
                return result(KeyState.PRESENT, "IAM reports the root user holds an access key")
            return result(
                KeyState.UNCONFIRMED, "IAM still reports a root access key (this one or another)"
            )
        if expect_present and age_s < self._settle_s:
            return result(
                KeyState.UNCONFIRMED,
                f"IAM does not show the key yet after {attempts} checks (eventual consistency)",
            )
        reason = (
            "IAM reports no root access key: it was deleted after the event"
            if expect_present
            else "IAM reports no root access key"
        )
        return result(KeyState.ABSENT, reason)

    def _keys_present(self, client: IAMClient) -> int:
        return _root_keys(client, self._retry_env)

    def _poll(self, check: Callable[[], int], until: Callable[[int], bool]) -> int:
        budget = self._wait_s
        policy = retry.build_for_result(
            retry.IAM_VISIBILITY,
            self._retry_env,
            retry_on=lambda n: not until(n),
            max_idle_s=budget,
        )
        result: int = policy(check)
        return result


class IamKeyInventory:
    """The sweep's view of IAM: whether root holds any access key in an account, asked now."""

    def __init__(self, client_for: IamClientFor, retry_env: retry.RetryEnv) -> None:
        self._client_for = client_for
        self._retry_env = retry_env

    def root_keys_present(self, account_id: str) -> bool:
        """Whether IAM reports ``AccountAccessKeysPresent`` > 0 (through the member role).

        Raises:
            AwsCallError: the role cannot be assumed, or IAM refused after AWS_CALL's retries.
        """
        return _root_keys(self._client_for(account_id), self._retry_env) > 0


def _root_keys(client: IAMClient, retry_env: retry.RetryEnv) -> int:
    """``AccountAccessKeysPresent`` from GetAccountSummary, under the AWS_CALL policy."""
    summary = retry.build(retry.AWS_CALL, retry_env)(
        aws_call, "iam.GetAccountSummary", client.get_account_summary
    )
    return int(summary["SummaryMap"].get("AccountAccessKeysPresent", 0))


def _short(exc: BaseException) -> str:
    # An AWS failure shows the SDK's own text (it names the operation and the code).
    text = exc.detail if isinstance(exc, AwsCallError) else str(exc)
    return text if len(text) <= 200 else text[:199] + "…"
