"""moto + the fault proxy in a process of their own, so load tests use both CPU cores.

``python -m sandbox.aws_server [--throttle-rate R] [--latency S] [--seed N]`` prints one JSON
line ``{"moto": URL, "proxy": URL}`` and serves until its standard input closes. Both serve
moto behind the contract layer (sandbox.contracts). The proxy's control paths (``POST
/_sandbox/root-key``, ``/_sandbox/faults``, ``/_sandbox/clock``, ...) do what the in-process
sandbox does directly. :class:`RemoteMoto` is the other side: a MotoSandbox whose
server lives in that child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.aws import ACCOUNT_ID, MotoSandbox
from sandbox.aws_proxy import AwsFaultProxy


@dataclass
class RemoteMoto(MotoSandbox):
    """A MotoSandbox served by a child process (see the module docstring)."""

    throttle_rate: float = 0.0
    latency_s: float = 0.0
    fault_seed: int | None = None
    proxy_url: str = ""
    _proc: subprocess.Popen[str] | None = None

    def start(self) -> RemoteMoto:
        """Spawn the child and wait for its endpoints."""
        cmd = [
            sys.executable,
            "-m",
            "sandbox.aws_server",
            "--throttle-rate",
            str(self.throttle_rate),
            "--latency",
            str(self.latency_s),
        ]
        if self.fault_seed is not None:
            cmd += ["--seed", str(self.fault_seed)]
        self._proc = subprocess.Popen(  # noqa: S603 - our own module
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None  # noqa: S101
        endpoints = json.loads(self._proc.stdout.readline())
        moto_url = endpoints["moto"].removeprefix("http://")
        self.host, port = moto_url.rsplit(":", 1)
        self.port = int(port)
        self.proxy_url = endpoints["proxy"]
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        """Close the child's stdin: it exits."""
        if self._proc is not None:
            assert self._proc.stdin is not None  # noqa: S101
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
            self._proc = None

    def _control(self, path: str, body: dict[str, Any]) -> None:
        req = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.proxy_url}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            resp.read()

    def set_root_key_present(self, present: bool, account_id: str = ACCOUNT_ID) -> None:
        """Set root's key flag in the child's moto."""
        self._control("/_sandbox/root-key", {"present": present, "account": account_id})

    def set_securityhub_administrator(self, account_id: str | None) -> None:
        """Make ``account_id`` the Security Hub administrator in the child's moto."""
        self._control("/_sandbox/securityhub-administrator", {"account": account_id})

    def set_clock(self, now: datetime | None) -> None:
        """Stop the child's sandbox clock at ``now`` (None: the real time again)."""
        self._control("/_sandbox/clock", {"now": None if now is None else now.isoformat()})

    def set_account_state(self, account_id: str, state: str | None) -> None:
        """Organizations in the child answers ``account_id`` with ``State`` ``state``."""
        self._control("/_sandbox/account-state", {"account": account_id, "state": state})

    def set_faults(self, *, throttle_rate: float, latency_s: float | None = None) -> None:
        """Change the proxy's throttling rate (and latency)."""
        body: dict[str, Any] = {"throttle_rate": throttle_rate}
        if latency_s is not None:
            body["latency_s"] = latency_s
        self._control("/_sandbox/faults", body)


def main(argv: list[str] | None = None) -> int:
    """Serve moto and the proxy until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    with (
        MotoSandbox() as moto,
        AwsFaultProxy(
            throttle_rate=args.throttle_rate,
            latency_s=args.latency,
            seed=args.seed,
            control=True,
        ) as proxy,
    ):
        print(json.dumps({"moto": moto.endpoint_url, "proxy": proxy.endpoint_url}), flush=True)
        sys.stdin.read()  # until the parent closes it (or exits)
    return 0


if __name__ == "__main__":
    status = main()
    # Everything this process holds is moto's state, which dies with it: end without the
    # interpreter freeing it object by object. After a full `make chaos` that teardown took
    # 18 s (over 30 s on a loaded host, past RemoteMoto.stop's wait).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
