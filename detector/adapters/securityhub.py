"""Security Hub: import one ASFF finding, and treat FailedCount > 0 as the error it is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from detector import retry
from detector.adapters.aws_errors import THROTTLING_CODES, aws_call
from detector.errors import AwsCallError, FindingImportError

if TYPE_CHECKING:
    from mypy_boto3_securityhub import SecurityHubClient

SecurityHubClientFor = Callable[[str], "SecurityHubClient"]
SERVICE = "securityhub.BatchImportFindings"


class SecurityHubSink:
    """Imports findings with BatchImportFindings through the finding account's own client.

    botocore validates every finding against the API model before it is sent.
    """

    def __init__(self, client_for: SecurityHubClientFor, retry_env: retry.RetryEnv) -> None:
        self._client_for = client_for
        self._retry_env = retry_env

    def import_finding(self, finding: dict[str, Any]) -> None:
        """Import (create or update) one finding.

        Raises:
            FindingImportError: Security Hub refused it (FailedCount > 0) or the call failed
                after retries; ``code`` is Security Hub's ErrorCode or the AWS error code.
        """

        def call() -> None:
            # Inside the policy: for a member account this assumes its role (may fail too).
            client = self._client_for(str(finding["AwsAccountId"]))
            resp = aws_call(
                SERVICE,
                client.batch_import_findings,
                Findings=[finding],  # type: ignore[list-item]
            )
            if resp.get("FailedCount", 0):
                errors = resp.get("FailedFindings") or []
                failed: Mapping[str, Any] = errors[0] if errors else {}
                code = str(failed.get("ErrorCode", "Unknown"))
                raise FindingImportError(
                    SERVICE,
                    code,
                    f"finding {failed.get('Id', finding['Id'])!r} refused: "
                    f"{failed.get('ErrorMessage', 'no message')}",
                    transient=code in THROTTLING_CODES,
                )

        try:
            retry.build(retry.AWS_CALL, self._retry_env)(call)
        except FindingImportError:
            raise
        except AwsCallError as exc:
            # botocore checks the finding against the API model before sending it.
            code = "ParamValidation" if exc.code == "ParamValidationError" else exc.code
            raise FindingImportError(SERVICE, code, exc.detail, transient=exc.transient) from exc


UPDATE_SERVICE = "securityhub.BatchUpdateFindings"
# BatchUpdateFindingsUnprocessedFinding.ErrorCode (Security Hub API reference): another update of
# the finding was in progress (a BatchImportFindings at the same moment included); it may pass.
_TRANSIENT_UNPROCESSED = frozenset({"ConcurrentUpdateError", "InternalFailure"})


class SecurityHubTriage:
    """Sets a finding's workflow and note with BatchUpdateFindings, in the finding's account.

    An HTTP 200 can still leave the finding in ``UnprocessedFindings``: that is an error, and a
    ConcurrentUpdateError (or InternalFailure) is retried like throttling.
    """

    def __init__(self, client_for: SecurityHubClientFor, retry_env: retry.RetryEnv) -> None:
        self._client_for = client_for
        self._retry_env = retry_env

    def set_workflow(
        self, account: str, identifier: dict[str, str], status: str, note: str, author: str
    ) -> None:
        """Set ``Workflow.Status`` and replace the ``Note`` of one finding.

        Raises:
            FindingImportError: Security Hub left it unprocessed or the call failed after
                retries (``code``: the ErrorCode or the AWS error code).
        """

        def call() -> None:
            client = self._client_for(account)
            resp = aws_call(
                UPDATE_SERVICE,
                client.batch_update_findings,
                FindingIdentifiers=[identifier],  # type: ignore[list-item]
                Workflow={"Status": status},  # type: ignore[typeddict-item]
                Note={"Text": note, "UpdatedBy": author},
            )
            for failed in resp.get("UnprocessedFindings") or []:
                code = str(failed.get("ErrorCode", "Unknown"))
                raise FindingImportError(
                    UPDATE_SERVICE,
                    code,
                    f"finding not updated: {failed.get('ErrorMessage', 'no message')}",
                    transient=code in _TRANSIENT_UNPROCESSED or code in THROTTLING_CODES,
                )

        try:
            retry.build(retry.AWS_CALL, self._retry_env)(call)
        except FindingImportError:
            raise
        except AwsCallError as exc:
            raise FindingImportError(
                UPDATE_SERVICE, exc.code, exc.detail, transient=exc.transient
            ) from exc
