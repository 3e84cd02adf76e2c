"""Write copies of detector.yaml whose parameter defaults switch every optional resource on.

checkov evaluates a template's Conditions with the parameters' default values and silently drops
resources whose condition is false (the central bus, the trail and its bucket, the alarm email
subscription). Linting these copies as well means every resource in the template is checked.

Usage: python infra/lint_variants.py OUT_DIR   (prints the paths it wrote)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("detector.yaml")

# parameter -> the default that turns its optional resources on
ALL_ON = {
    "OrganizationId": "o-exampleorg1",
    "CreateTrail": '"true"',
    "AlarmEmail": "alarms@example.com",
}


def with_defaults(text: str, defaults: dict[str, str]) -> str:
    """``text`` with each named parameter's ``Default:`` replaced (exactly once, or fail)."""
    for name, value in defaults.items():
        block = re.compile(
            rf"(^  {re.escape(name)}:\n(?:^    .*\n)*?^    Default: ).*$", flags=re.MULTILINE
        )
        text, count = block.subn(lambda m, v=value: str(m.group(1)) + v, text)
        if count != 1:
            raise SystemExit(f"{TEMPLATE.name}: parameter {name} with a Default not found once")
    return text


def main(argv: list[str]) -> int:
    """Write the variants into argv[1]."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "detector.all-optional-resources.yaml"
    path.write_text(with_defaults(TEMPLATE.read_text(), ALL_ON))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
