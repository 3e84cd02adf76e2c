"""The FFIEC control this detector enforces, as data: the one place its metadata lives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Control:
    """Metadata of one compliance control, validated on construction."""

    id: str
    framework: str
    title: str
    description: str
    severity_label: str  # ASFF Severity.Label
    severity_original: str  # the framework's own rating
    finding_type: str  # ASFF Types entry (namespace/category/classifier)
    requirements: tuple[str, ...]  # ASFF Compliance.RelatedRequirements
    remediation_text: str
    remediation_url: str
    aws_equivalent: str  # AWS's own control for the same rule, with its rating

    def __post_init__(self) -> None:
        if self.severity_label not in {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}:
            raise ValueError(f"control {self.id}: bad severity label {self.severity_label!r}")
        if self.finding_type.count("/") != 2:
            raise ValueError(
                f"control {self.id}: Types entry must be namespace/category/classifier"
            )
        if not self.requirements or len(self.requirements) > 32:
            raise ValueError(f"control {self.id}: 1 to 32 related requirements")
        if len(self.title) > 256 or len(self.remediation_text) > 512:
            raise ValueError(f"control {self.id}: title or remediation text over ASFF limits")
        if not self.remediation_url.startswith("https://"):
            raise ValueError(f"control {self.id}: remediation URL must be https")


ROOT_ACCESS_KEYS = Control(
    id="ffiec-iam-root-no-access-keys",
    framework="FFIEC",
    title="IAM root user should not have access keys",
    description=(
        "The IAM root user holds an access key. Root access keys are long-term credentials "
        "with unrestricted access to every resource in the account and cannot be limited by "
        "IAM policies. FFIEC expects elevated privileges to be limited and tightly controlled "
        "and unnecessary default accounts to be secured."
    ),
    severity_label="MEDIUM",
    severity_original="Medium",
    finding_type="Software and Configuration Checks/Industry and Regulatory Standards/FFIEC",
    requirements=(
        "FFIEC D3.PC.Am.B.1",  # access by job responsibility, least privilege
        "FFIEC D3.PC.Am.B.3",  # elevated privileges limited and tightly controlled
        "FFIEC D3.PC.Am.B.8",  # default passwords / unnecessary default accounts changed
    ),
    remediation_text=(
        "Sign in as the root user, open Security credentials and delete the access key "
        "(root access keys cannot be managed with --user-name). Confirm with "
        "'aws iam get-account-summary' that AccountAccessKeysPresent is 0. Use IAM roles or "
        "IAM Identity Center for programmatic access instead, and review CloudTrail for what "
        "the key did."
    ),
    remediation_url=(
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html"
    ),
    aws_equivalent="AWS Security Hub IAM.4 (rated CRITICAL by AWS)",
)
