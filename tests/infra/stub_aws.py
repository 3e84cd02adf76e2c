"""A stand-in for the AWS CLI, for tests of infra/deploy.py: records every call and answers
canned output. Installed as ``aws`` on PATH by :func:`install`.

The scenario (a JSON file named by ``STUB_AWS_SCENARIO``) maps ``"service operation"`` to an
answer ``{"stdout": ..., "stderr": ..., "rc": ...}`` or a list of them, given in turn (the last
one repeats); ``stdout`` may be JSON data, written as JSON. A call with no answer fails as the
CLI would fail on an unknown command. Each call is appended to ``STUB_AWS_LOG`` (JSON lines).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    scenario_path = Path(os.environ["STUB_AWS_SCENARIO"])
    log = Path(os.environ["STUB_AWS_LOG"])
    with log.open("a") as f:
        f.write(json.dumps(argv) + "\n")
    scenario: dict[str, Any] = json.loads(scenario_path.read_text())
    key = " ".join(argv[:2])
    answers = scenario.get(key)
    if answers is None:
        sys.stderr.write(f"stub aws: no answer for {key!r}\n")
        return 252
    if isinstance(answers, list):
        counter = scenario_path.with_suffix(f".{key.replace(' ', '_')}.n")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        answer = answers[min(n, len(answers) - 1)]
    else:
        answer = answers
    out = answer.get("stdout", "")
    sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("rc", 0))


def install(directory: Path, scenario: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``aws`` (this script, run by this interpreter) and the scenario into ``directory``;
    the scenario file and the call log."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "aws"
    script.write_text(f"#!{sys.executable}\n" + Path(__file__).read_text())
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    scenario_path = directory / "scenario.json"
    scenario_path.write_text(json.dumps(scenario))
    return scenario_path, directory / "calls.jsonl"


def calls(log: Path) -> list[list[str]]:
    """Every call the stub received, in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
