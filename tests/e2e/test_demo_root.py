"""``make demo-root`` tells its whole story: the sweep by key id, a use of the key, a colleague's
root session labelled with who opened it, and a removal asked by one responder and confirmed by
another, ending with the finding resolved (the demo exits 0 only if each step showed it)."""

from __future__ import annotations

import contextlib
import io

import pytest

from detector import handler
from sandbox import demo_root


def test_the_root_access_demo_ends_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "_runtime", None)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = demo_root.main()
    printed = out.getvalue()
    assert code == 0, printed[-3000:]
    assert "opened a root session (AssumeRoot, task *IAMDeleteRootUserCredentials*)" in printed
    assert "first use: RunInstances" in printed
    assert "asked by alice (U0ALICE)" in printed
    assert "confirmed by rita (U0RITA)" in printed
    assert "IAM lists the member root's keys: none" in printed
    assert printed.rstrip().splitlines()[-1].startswith("OK:")
