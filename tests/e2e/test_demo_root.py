"""``make demo-root`` tells its whole story: the sweep by key id, a use of the key, a colleague's
root session labelled with who opened it, and a removal asked by one responder and confirmed by
another, ending with the finding resolved (the demo exits 0 only if each step showed it).

It runs as ``make demo-root`` does, in a process of its own: moto's accounts are module state,
and the suite's sandbox already holds what the demo seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_root_access_demo_ends_ok() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sandbox.demo_root"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    printed = run.stdout
    assert run.returncode == 0, printed[-3000:] + run.stderr[-3000:]
    assert "opened a root session (AssumeRoot, task *IAMDeleteRootUserCredentials*)" in printed
    assert "first use: RunInstances" in printed
    assert "asked by alice (U0ALICE)" in printed
    assert "confirmed by rita (U0RITA)" in printed
    assert "IAM lists the member root's keys: none" in printed
    assert printed.rstrip().splitlines()[-1].startswith("OK:")
