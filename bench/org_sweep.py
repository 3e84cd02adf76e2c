"""``python -m bench.org_sweep``: the daily sweep over 1,000 accounts, 50 ms on every call.

moto and its fault/latency layer run in their own process (sandbox.aws_server.RemoteMoto); the
Slack emulator answers after 50 ms too. Three accounts hold a root key nobody alerted on (the
sweep alerts them: a finding in the account and a Slack alert each), the rest are clean. The
detector's account is the organization's Security Hub administrator and reads open findings
once (``SWEEP_FINDINGS_FROM=administrator``, the organization deployment the README
recommends); each account then costs AssumeRole and GetAccountSummary. One more run asks each
account's own Security Hub (``member``, a third call per account) and is printed as context.
Prints ``bench: sweep_1000_accounts_s VALUE s`` (median of the administrator runs; each run
sweeps fresh account ids so nothing is "already done").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench.perf import process_cpu_s
from detector import retry
from detector.config import Settings
from detector.wiring import build_runtime
from sandbox.aws import patched_environ
from sandbox.aws_server import RemoteMoto
from sandbox.stack import SandboxStack

ROLE = "root-key-detector-member"
OWN = "123456789012"


def one_run(
    stack: SandboxStack,
    aws: RemoteMoto,
    run: int,
    n: int,
    concurrency: int,
    *,
    findings_from: str = "administrator",
) -> float:
    """Sweep ``n`` fresh accounts; returns the wall time in seconds."""
    accounts = [f"{700000000000 + (run + 1) * 10_000 + i:012d}" for i in range(n)]
    # Security Hub is on in every swept account, as the README's deployment requires (the
    # sandbox refuses imports and reads in an account without it, as AWS does). Untimed.
    aws.enable_security_hub(*accounts)
    for account in accounts[:3]:
        aws.set_root_key_present(True, account)
    env = {
        **stack.detector_env(),
        "AWS_ENDPOINT_URL": aws.proxy_url,
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": OWN,
        "SWEEP_CONCURRENCY": str(concurrency),
        "SWEEP_FINDINGS_FROM": findings_from,
        "LOG_LEVEL": "ERROR",
    }
    with patched_environ(env):
        runtime = build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv())
        sweeper = runtime.sweeper()
        assert aws.pid is not None
        moto_cpu, own_cpu = process_cpu_s(aws.pid), time.process_time()
        started = time.perf_counter()
        summary = sweeper.run(accounts)
        elapsed = time.perf_counter() - started
        moto_cpu, own_cpu = process_cpu_s(aws.pid) - moto_cpu, time.process_time() - own_cpu
    print(
        f"run {run} ({summary.findings_from}): {elapsed:.2f} s, {summary.counts}; CPU s: "
        f"detector (+ Slack emulator) {own_cpu:.1f}, moto {moto_cpu:.1f}",
        flush=True,
    )
    if summary.counts.get("alerted") != 3 or summary.counts.get("failed"):
        failed = [r.detail for r in summary.results if r.status == "failed"][:3]
        raise SystemExit(f"unexpected sweep result: {summary.counts} {failed}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the bench line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    aws = RemoteMoto(latency_s=0.05)
    with SandboxStack(aws=aws) as stack:
        stack.slack.set_latency(0.05)
        aws.set_securityhub_administrator(OWN)
        # Untimed: the sandbox's own first use (moto imports and compiles its IAM, STS and
        # Security Hub modules in the child) is not the detector's time.
        one_run(stack, aws, -1, 50, args.concurrency)
        times = [
            one_run(stack, aws, run, args.accounts, args.concurrency) for run in range(args.runs)
        ]
        member = one_run(
            stack, aws, args.runs, args.accounts, args.concurrency, findings_from="member"
        )
    print(f"concurrency {args.concurrency}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"context: asking each account's own Security Hub instead: {member:.2f} s")
    print(f"bench: sweep_1000_accounts_s {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
