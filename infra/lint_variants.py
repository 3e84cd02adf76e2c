"""Write copies of the templates whose parameter defaults switch every optional resource on.

checkov evaluates a template's Conditions with the parameters' default values and silently drops
resources whose condition is false (the central bus, the trail and its bucket, the alarm email
subscription, triage from Slack and centralized root access; in member.yaml the alarm topic and
its key and the root access forwarding rule; in root-access.yaml the removal role). Linting these
copies as well means every resource in the templates is checked.

Usage: python infra/lint_variants.py OUT_DIR   (prints the paths it wrote)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

INFRA = Path(__file__).parent

# template -> {parameter -> the default that turns its optional resources on}
ALL_ON = {
    "detector.yaml": {
        "OrganizationId": "o-exampleorg1",
        "CreateTrail": '"true"',
        "AlarmEmail": "alarms@example.com",
        "SlackInteractivity": '"true"',
        "CentralizedRootAccess": '"true"',
        "RootKeyRemoval": '"true"',
    },
    "member.yaml": {"AlarmEmail": "alarms@example.com", "CentralizedRootAccess": '"true"'},
    "root-access.yaml": {"InteractRoleArn": "arn:aws:iam::123456789012:role/interact"},
}


def with_defaults(text: str, defaults: dict[str, str], template: str = "detector.yaml") -> str:
    """``text`` (of ``template``) with each named parameter's ``Default:`` replaced (exactly
    once, or fail)."""
    for param, value in defaults.items():
        block = re.compile(
            rf"(^  {re.escape(param)}:\n(?:^    .*\n)*?^    Default: ).*$", flags=re.MULTILINE
        )
        text, count = block.subn(lambda m, v=value: str(m.group(1)) + v, text)
        if count != 1:
            raise SystemExit(f"{template}: parameter {param} with a Default not found once")
    return text


def main(argv: list[str]) -> int:
    """Write the variants into argv[1]."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, defaults in ALL_ON.items():
        path = out / name.replace(".yaml", ".all-optional-resources.yaml")
        path.write_text(with_defaults((INFRA / name).read_text(), defaults, name))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
