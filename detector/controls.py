"""The control the finding reports, as data: FFIEC's, and the requirements AWS maps to its IAM.4.

The one place this metadata lives: findings (``Compliance.RelatedRequirements``, severity) and
the alert's context line are built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SEVERITY_LABELS = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # ASFF Severity.Label


@dataclass(frozen=True, slots=True)
class Mapping:
    """The requirements of one framework (one version of it) that the control satisfies."""

    framework: str  # as a reader knows it, for the alert: "NIST SP 800-53 Rev. 5"
    asff: tuple[str, ...]  # as ASFF's RelatedRequirements writes them (Security Hub's own form)
    short: str  # the same requirements, briefly, for the alert's context line


@dataclass(frozen=True, slots=True)
class Control:
    """Metadata of one compliance control, validated on construction."""

    id: str
    framework: str
    title: str
    description: str
    severity_label: str  # ASFF Severity.Label: configurable (FINDING_SEVERITY)
    framework_rating: str  # the framework's own rating: FFIEC rates this Medium
    finding_type: str  # ASFF Types entry (namespace/category/classifier)
    mappings: tuple[Mapping, ...]  # the first is the control's own framework
    remediation_text: str
    remediation_url: str
    aws_equivalent: str  # AWS's own control for the same rule, with its rating

    def __post_init__(self) -> None:
        if self.severity_label not in SEVERITY_LABELS:
            raise ValueError(f"control {self.id}: bad severity label {self.severity_label!r}")
        if self.finding_type.count("/") != 2:
            raise ValueError(
                f"control {self.id}: Types entry must be namespace/category/classifier"
            )
        if not 1 <= len(self.requirements) <= 32:
            raise ValueError(f"control {self.id}: 1 to 32 related requirements")
        if len(self.title) > 256 or len(self.remediation_text) > 512:
            raise ValueError(f"control {self.id}: title or remediation text over ASFF limits")
        if not self.remediation_url.startswith("https://"):
            raise ValueError(f"control {self.id}: remediation URL must be https")

    @property
    def requirements(self) -> tuple[str, ...]:
        """ASFF ``Compliance.RelatedRequirements``: every mapping's, in order."""
        return tuple(req for mapping in self.mappings for req in mapping.asff)

    @property
    def severity_original(self) -> str:
        """ASFF ``Severity.Original``: the rating the finding carries, as a word."""
        return self.severity_label.capitalize()

    @property
    def context_line(self) -> str:
        """What the alert's context line says the control maps to."""
        return " · ".join([*(m.short for m in self.mappings), f"also {self.aws_equivalent}"])

    def with_severity(self, label: str) -> Control:
        """The same control, filed at severity ``label`` (one of SEVERITY_LABELS).

        Raises:
            ValueError: not an ASFF severity label.
        """
        return replace(self, severity_label=label.upper())


# AWS Security Hub CSPM user guide, "Security Hub CSPM controls for IAM", control [IAM.4] "IAM
# root user access key should not exist": its "Related requirements" are the CIS, PCI DSS and
# NIST entries below, written as AWS writes them (https://docs.aws.amazon.com/securityhub/
# latest/userguide/iam-controls.html#iam-4). AWS rates IAM.4 CRITICAL.
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
    framework_rating="Medium",
    finding_type="Software and Configuration Checks/Industry and Regulatory Standards/FFIEC",
    mappings=(
        Mapping(
            "FFIEC Cybersecurity Assessment Tool",
            (
                "FFIEC D3.PC.Am.B.1",  # access by job responsibility, least privilege
                "FFIEC D3.PC.Am.B.3",  # elevated privileges limited and tightly controlled
                "FFIEC D3.PC.Am.B.8",  # default passwords / unnecessary default accounts
            ),
            "FFIEC D3.PC.Am.B.1, B.3, B.8",
        ),
        Mapping(
            "CIS AWS Foundations Benchmark",
            (
                "CIS AWS Foundations Benchmark v5.0.0/1.3",
                "CIS AWS Foundations Benchmark v3.0.0/1.4",
                "CIS AWS Foundations Benchmark v1.4.0/1.4",
                "CIS AWS Foundations Benchmark v1.2.0/1.12",
            ),
            "CIS AWS Foundations v5.0.0 1.3",
        ),
        Mapping(
            "NIST SP 800-53 Rev. 5",
            (
                "NIST.800-53.r5 AC-2(1)",
                "NIST.800-53.r5 AC-3(15)",
                "NIST.800-53.r5 AC-3(7)",
                "NIST.800-53.r5 AC-6",
                "NIST.800-53.r5 AC-6(10)",
                "NIST.800-53.r5 AC-6(2)",
            ),
            "NIST 800-53 r5 AC-2(1), AC-3(7), AC-3(15), AC-6, AC-6(2), AC-6(10)",
        ),
        Mapping(
            "PCI DSS v3.2.1",
            ("PCI DSS v3.2.1/2.1", "PCI DSS v3.2.1/2.2", "PCI DSS v3.2.1/7.2.1"),
            "PCI DSS v3.2.1 2.1, 2.2, 7.2.1",
        ),
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
