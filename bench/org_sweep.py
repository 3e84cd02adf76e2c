"""``python -m bench.org_sweep``: the daily sweep over 1,000 accounts, 50 ms on every call.

stdout gets exactly one line, ``bench: sweep_1000_accounts_s VALUE s``: the median wall time of
``--runs`` sweeps (3) of ``--accounts`` fresh member accounts (1,000) with
``SWEEP_CONCURRENCY=32``, against ``bench/canned_aws.py`` in a process of its own: every AWS and
Slack call is answered after 50 ms with a fixed answer, so the figure is the detector's time and
the injected round trips, not an emulator's CPU. Each sweep runs in a fresh process as the
Lambda runs it (``python3.13``, the zip ``make package`` builds, boto3 beside it: see
``bench/lambda_image.py``), holding nothing but the detector; the time is that of
``Runtime.sweep`` (the runtime built first, no client made yet). Per account the sweep makes
what it makes in AWS: STS AssumeRole into the member role (distinct credentials per account)
and IAM GetAccountSummary with them, then the dependency checks: EventBridge DescribeRule and
Security Hub DescribeHub in the account (the canned endpoint's organization trail, read once in
the detector's account, stands for every account's trail); the ledger's key records are read
once (a DynamoDB Query).
Three accounts hold a root key nobody alerted on: for each, the pipeline runs (ledger claims,
IAM again, BatchImportFindings in the account, a Slack alert, ledger writes); then the digest is
posted.

Correctness: the same sweep shape (a dozen accounts, three holding a key) is first run against
the sandbox (moto in a child process + the Slack emulator, nothing injected), then against the
canned endpoint; each account must end in the same status and both must post as many Slack
messages, or the benchmark stops. Each timed run must report 3 alerted and the rest clean.

Context on stderr: per run, wall time, the detector's CPU per swept account (its process's user +
system time over the sweep), the endpoint's CPU, and the calls it answered per account.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.canned_aws import CannedProcess
from bench.lambda_image import LambdaImage, lambda_image
from bench.perf import lambda_zip, process_cpu_s, spawn
from detector import retry
from detector.config import MEMBER_FORWARD_RULE, Settings
from detector.sweep import SweepSummary
from detector.wiring import build_runtime
from sandbox.aws import SLACK_CHANNEL, SLACK_TOKEN, patched_environ
from sandbox.aws_server import RemoteMoto
from sandbox.stack import SandboxStack

ROLE = "root-key-detector-member"
OWN = "123456789012"
LATENCY_S = 0.05
WITH_KEYS = 3  # accounts of each sweep whose root holds a key nobody alerted on


def note(*parts: object) -> None:
    """Context: stderr, so stdout holds only the ``bench:`` line."""
    print(*parts, file=sys.stderr, flush=True)


def sweep_env(base: dict[str, str], concurrency: int) -> dict[str, str]:
    """The detector's environment for an organization sweep."""
    return {
        **base,
        "MEMBER_ROLE_NAME": ROLE,
        "DETECTOR_ACCOUNT_ID": OWN,
        "SWEEP_CONCURRENCY": str(concurrency),
        "LOG_LEVEL": "ERROR",
    }


def sweep(env: dict[str, str], accounts: list[str]) -> SweepSummary:
    """A new runtime in this process, then one sweep of ``accounts`` (the sandbox's run)."""
    with patched_environ(env):
        runtime = build_runtime(Settings.from_env(env), retry_env=retry.RetryEnv())
        return runtime.sweep(accounts)


# One sweep in a process of its own (python3.13 + the zip): what a scheduled invocation runs.
SWEEP_CHILD = """\
import json, sys, time
with open(sys.argv[1]) as f:
    accounts = json.load(f)
from detector import retry
from detector.config import Settings
from detector.wiring import build_runtime
runtime = build_runtime(Settings.from_env(), retry_env=retry.RetryEnv())
cpu, start = time.process_time(), time.perf_counter()
summary = runtime.sweep(accounts)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
statuses = {
    r.account: " ".join([r.status.value, *(f"{a.check}={a.verdict}" for a in r.dependencies)])
    for r in summary.results
}
print(json.dumps({"wall": wall, "cpu": cpu, "statuses": statuses}))
"""


@dataclass(frozen=True)
class Swept:
    """One sweep in a child process."""

    wall: float
    cpu: float  # the child's, over the sweep alone
    statuses: dict[str, str]


def sweep_in_child(image: LambdaImage, env: dict[str, str], accounts: list[str]) -> Swept:
    """Sweep ``accounts`` in a fresh python3.13 process running the zip."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.json"
        path.write_text(json.dumps(accounts))
        _, stdout = spawn(image, SWEEP_CHILD, env, str(path))
    doc = json.loads(stdout.strip().splitlines()[-1])
    return Swept(doc["wall"], doc["cpu"], doc["statuses"])


def accounts_of(run: int, n: int) -> list[str]:
    """Fresh account ids for each run, so nothing is "already done" in the ledger."""
    return [f"{700000000000 + (run + 2) * 10_000 + i:012d}" for i in range(n)]


def statuses(summary: SweepSummary) -> dict[str, str]:
    """Each account's status and dependency verdicts (``clean trail=ok rule=ok ...``)."""
    return {
        r.account: " ".join([r.status.value, *(f"{a.check}={a.verdict}" for a in r.dependencies)])
        for r in summary.results
    }


def seed_dependencies(stack: SandboxStack, accounts: list[str]) -> None:
    """What the README's deployment gives each member account: a logging trail of management
    events and the forwarding rule (infra/member.yaml), enabled."""
    for account in accounts:
        s3 = stack.aws.client("s3", account_id=account)
        s3.create_bucket(Bucket=f"trail-{account}")
        trails = stack.aws.client("cloudtrail", account_id=account)
        trails.create_trail(Name="org", S3BucketName=f"trail-{account}", IsMultiRegionTrail=True)
        trails.start_logging(Name="org")
        stack.aws.client("events", account_id=account).put_rule(
            Name=MEMBER_FORWARD_RULE, EventPattern='{"source": ["aws.iam"]}', State="ENABLED"
        )


@dataclass(frozen=True)
class Reference:
    """A small sweep against the sandbox: what the canned runs must match."""

    accounts: list[str]
    statuses: dict[str, str]
    posts: int  # Slack messages
    env: dict[str, str]  # the detector's environment there


def reference(concurrency: int) -> Reference:
    """A dozen accounts, three holding a key, swept against the sandbox (nothing injected)."""
    accounts = accounts_of(-2, 12)
    with SandboxStack(aws=RemoteMoto()) as stack:
        # Security Hub is on in every swept account, as the README's deployment requires (the
        # sandbox refuses imports in an account without it, as AWS does).
        stack.aws.enable_security_hub(*accounts)
        seed_dependencies(stack, accounts)
        for account in accounts[:WITH_KEYS]:
            stack.aws.set_root_key_present(True, account)
        env = sweep_env(stack.detector_env(), concurrency)
        summary = sweep(env, accounts)
        posts = len(stack.slack.messages(SLACK_CHANNEL))
    return Reference(accounts, statuses(summary), posts, env)


def check_against_sandbox(
    canned: CannedProcess, image: LambdaImage, env: dict[str, str], ref: Reference
) -> None:
    """Stop unless the canned endpoint leads the sweep where the sandbox does."""
    accounts, expected, posts = ref.accounts, ref.statuses, ref.posts
    canned.configure(keys_in=accounts[:WITH_KEYS], clear_log=True)
    got = sweep_in_child(image, env, accounts).statuses
    canned_posts = sum(c.op == "slack.chat.postMessage" for c in canned.log())
    if got != expected or canned_posts != posts:
        raise SystemExit(
            "bench: the sweep went another way against the canned endpoint than against the "
            f"sandbox: {got} with {canned_posts} Slack posts, against {expected} "
            f"with {posts} (bench/canned_aws.py no longer answers what the sweep asks)"
        )
    note(
        f"correctness: a {len(accounts)}-account sweep took the same course against the sandbox "
        f"and the canned endpoint ({dict(Counter(expected.values()))}, {posts} Slack posts)"
    )


def one_run(
    canned: CannedProcess, image: LambdaImage, env: dict[str, str], run: int, n: int
) -> float:
    """Sweep ``n`` fresh accounts; returns the wall time in seconds."""
    accounts = accounts_of(run, n)
    canned.configure(keys_in=accounts[:WITH_KEYS], clear_log=True)
    endpoint_cpu = process_cpu_s(canned.pid)
    swept = sweep_in_child(image, env, accounts)
    endpoint_cpu = process_cpu_s(canned.pid) - endpoint_cpu
    wall, cpu = swept.wall, swept.cpu
    calls = Counter(c.op for c in canned.log())
    counts = dict(Counter(s.split()[0] for s in swept.statuses.values()))
    checks = {c for s in swept.statuses.values() for c in s.split()[1:]}
    if counts != {"alerted": WITH_KEYS, "clean": n - WITH_KEYS} or checks != {
        "trail=ok",
        "rule=ok",
        "security-hub=ok",
    }:
        raise SystemExit(f"bench: unexpected sweep result {counts} {sorted(checks)}")
    per_account = ", ".join(f"{op} {k / n:.3g}" for op, k in calls.most_common())
    note(
        f"run {run}: {n} accounts in {wall:.2f} s; CPU: the detector {cpu:.2f} s "
        f"({cpu / n * 1000:.2f} ms per swept account), the endpoint {endpoint_cpu:.2f} s; "
        f"calls per account: {per_account}"
    )
    return wall


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the bench line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-build", action="store_true", help="use dist/lambda.zip as is")
    args = parser.parse_args(argv)
    note(f"bench.org_sweep; load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    image = lambda_image(lambda_zip(build=not args.no_build))
    ref = reference(args.concurrency)
    with CannedProcess(SLACK_TOKEN, LATENCY_S) as canned:
        endpoints = {"AWS_ENDPOINT_URL": canned.url, "SLACK_API_URL": canned.slack_url}
        env = image.env({**ref.env, **endpoints})
        check_against_sandbox(canned, image, env, ref)
        times = [one_run(canned, image, env, run, args.accounts) for run in range(args.runs)]
    note(
        f"concurrency {args.concurrency}, {LATENCY_S * 1000:.0f} ms per call; runs (s): "
        + ", ".join(f"{t:.2f}" for t in times)
        + f"; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"bench: sweep_1000_accounts_s {statistics.median(times):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
