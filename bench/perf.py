"""``make bench``: the detector's performance figures (issue 14), each a median of repeated runs.

Run ``python -m bench.perf [--quick] [--no-build] [--imports] [--check]``. Context (raw samples,
where the time goes, what was checked) goes to stderr; stdout gets exactly these lines::

    bench: time_to_alert_rtt VALUE rtt          warm event: handler entry -> the Slack endpoint
                                                receives the alert, / 50 ms
    bench: warm_alert_rtt VALUE rtt             warm event: the handler's wall time, / 50 ms
    bench: cold_start_ratio VALUE x             python3.13 running the built zip's handler on its
                                                first event / python3.13 doing ``import boto3;
                                                boto3.client("iam")``, spawn to exit
    bench: peak_rss_mb VALUE MB                 peak RSS of python3.13 + the zip, 100 events
    bench: lambda_zip_mb VALUE MB               size of dist/lambda.zip (``make package``)
    bench: classify_vs_json_loads VALUE x       classify throughput / json.loads', same 50 MB
    bench: detector_cpu_ms_per_event VALUE ms   warm event: the detector process's own CPU

Latency and CPU figures run against ``bench/canned_aws.py``, an endpoint in a process of its own
that answers every AWS and Slack call with a fixed answer after 50 ms (cold start: after 0 ms),
so they measure the detector and the injected round trips, not an emulator's CPU. moto is for
correctness only: every event is first handled against the sandbox (moto + the Slack emulator,
in a child process, nothing injected), and each canned run must take the same path (status,
verdict, confirmation, actions per record) or the harness stops. peak_rss_mb runs against the
sandbox (later events of a key take moto's real path: thread replies, redraws).

Repetitions (``--quick`` in brackets): warm figures 30 events [5], 1.1 s apart, after 2 warm-up
events; cold_start_ratio 7 alternating pairs [2] after one discarded pair; peak_rss_mb 3
processes [1], each with a ledger table of its own; classify 5 alternating pairs [2] after one
discarded pair; lambda_zip_mb one build. MB is MiB.
``--check`` exits 1 when a figure misses its target. bench/README.md says what each figure
means and where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.canned_aws import Call as CannedCall
from bench.canned_aws import CannedProcess
from bench.lambda_image import LambdaImage, lambda_image

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
MIB = 1 << 20
LATENCY_S = 0.05  # injected on every AWS and Slack call of the warm figures
ACCOUNT = "123456789012"  # the sandbox's account (moto's default)
LOGFILE_MIB = 50
LOGFILE_SEED = 20261128
LOGFILE_VERSION = 1  # bump when the generator changes: the cached file is rebuilt
WARM_UP_EVENTS = 2  # before a container counts as warm: clients, secret, threads, connections
# Measured events start at least this far apart: root-key events are rare, and Slack takes about
# one chat.postMessage per second per channel ("Rate limits", Slack API docs), a rate a detector
# that paces its posts would otherwise make the alerts wait for.
EVENT_SPACING_S = 1.1
POST = "slack.chat.postMessage"

TARGETS: dict[str, tuple[str, float]] = {
    "time_to_alert_rtt": ("<=", 2.3),
    "warm_alert_rtt": ("<=", 3.3),
    "cold_start_ratio": ("<=", 0.8),
    "peak_rss_mb": ("<=", 100.0),
    "lambda_zip_mb": ("<=", 1.5),
    "classify_vs_json_loads": (">=", 0.5),  # issue 14: one domain parser, GC left alone
}
UNITS = {
    "time_to_alert_rtt": "rtt",
    "warm_alert_rtt": "rtt",
    "cold_start_ratio": "x",
    "peak_rss_mb": "MB",
    "lambda_zip_mb": "MB",
    "classify_vs_json_loads": "x",
    "detector_cpu_ms_per_event": "ms",
}


@dataclass(frozen=True)
class Reps:
    """How many times each figure is measured (each figure is the median)."""

    warm_events: int
    cold_pairs: int
    rss_runs: int
    classify_pairs: int


FULL = Reps(warm_events=30, cold_pairs=7, rss_runs=3, classify_pairs=5)
QUICK = Reps(warm_events=5, cold_pairs=2, rss_runs=1, classify_pairs=2)


def cache_dir() -> Path:
    """bench/.cache/, which git ignores through a .gitignore of its own."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# generated files of bench/ (see bench/README.md)\n*\n")
    return CACHE


def note(*parts: object) -> None:
    """Context for humans: stderr, so stdout holds only the ``bench:`` lines."""
    print(*parts, file=sys.stderr, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fmt(samples: list[float], scale: float = 1.0, unit: str = "") -> str:
    return ", ".join(f"{s * scale:.1f}{unit}" for s in samples)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# Events: every measured event is new (fresh eventID and key id) so the ledger never skips it


_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_key_id(prefix: str = "AKIA") -> str:
    """A fresh, well-formed access key id."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def root_record(
    name: str, key: str, when: datetime | None = None, status: str = ""
) -> dict[str, Any]:
    """A root CreateAccessKey / UpdateAccessKey / DeleteAccessKey record about ``key``."""
    from sandbox.stack import sample  # noqa: PLC0415 - sandbox imports moto: only when needed

    when = when or datetime.now(UTC)
    record = sample("root_create_access_key", now=when)
    record["eventID"] = str(uuid.uuid4())
    record["requestID"] = str(uuid.uuid4())
    record["eventName"] = name
    if name == "CreateAccessKey":
        record["responseElements"]["accessKey"]["accessKeyId"] = key
    else:
        record["requestParameters"] = {"accessKeyId": key, **({"status": status} if status else {})}
        record["responseElements"] = None
    return record


def envelope(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event the Lambda receives for ``record``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }


def created_event() -> dict[str, Any]:
    """A new root-key-created delivery (new key, new event id)."""
    return envelope(root_record("CreateAccessKey", new_key_id()))


def hundred_events() -> list[dict[str, Any]]:
    """70 created (distinct keys), then 10 deactivated, 10 activated, 10 deleted of those keys."""
    now = datetime.now(UTC)
    keys = [new_key_id() for _ in range(70)]
    events = [envelope(root_record("CreateAccessKey", k, now - timedelta(seconds=5))) for k in keys]
    events += [envelope(root_record("UpdateAccessKey", k, now, "Inactive")) for k in keys[:10]]
    events += [envelope(root_record("UpdateAccessKey", k, now, "Active")) for k in keys[10:20]]
    events += [envelope(root_record("DeleteAccessKey", k, now)) for k in keys[20:30]]
    return events


@dataclass(frozen=True)
class Events:
    """The root-key-created events of one ``make bench``, handled against moto and the canned
    endpoint alike."""

    warm_up: list[dict[str, Any]]
    measured: list[dict[str, Any]]
    cold: list[dict[str, Any]]  # one per cold child: the discarded pair's, the pairs', a trace's

    @classmethod
    def new(cls, reps: Reps) -> Events:
        def some(n: int) -> list[dict[str, Any]]:
            return [created_event() for _ in range(n)]

        return cls(some(WARM_UP_EVENTS), some(reps.warm_events), some(reps.cold_pairs + 2))

    def all(self) -> list[dict[str, Any]]:
        return self.warm_up + self.measured + self.cold


class _LambdaContext:
    """What the handler reads from Lambda's context object."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# ---------------------------------------------------------------------------------------------
# moto is for correctness: the path every event takes there is what the canned runs must take

Steps = list[tuple[str, str, str | None, tuple[str, ...]]]


def path_of(out: dict[str, Any]) -> Steps:
    """What the handler did with each record: status, verdict, confirmation, actions."""
    return [
        (r["status"], r["verdict"], r["confirmation"], tuple(r["actions"]))
        for r in out.get("results", [])
    ]


def reference_paths(env: dict[str, str], events: list[dict[str, Any]]) -> dict[str, Steps]:
    """Each event handled against the sandbox, in one container: its path, by envelope id."""
    from detector import handler  # noqa: PLC0415
    from sandbox.aws import patched_environ  # noqa: PLC0415

    handler._runtime = None
    paths: dict[str, Steps] = {}
    # The handler writes each invocation's EMF metrics line on stdout, as Lambda wants it; here
    # stdout holds only the bench lines, so those go to stderr with the other context.
    with patched_environ(env), contextlib.redirect_stdout(sys.stderr):
        for event in events:
            out = handler.lambda_handler(event, _LambdaContext())
            (status, verdict, confirmation, actions), *more = path_of(out)
            if status != "handled":
                raise SystemExit(f"bench: the sandbox did not handle a new root key: {out}")
            if more or verdict != "root-key-created" or confirmation != "PRESENT":
                raise SystemExit(f"bench: the sandbox handled a new root key unexpectedly: {out}")
            if "alerted" not in actions or "finding-imported" not in actions:
                raise SystemExit(f"bench: the sandbox did not alert and file a new key: {out}")
            paths[event["id"]] = path_of(out)
    handler._runtime = None
    return paths


def same_path(reference: dict[str, Steps], event: dict[str, Any], out: dict[str, Any]) -> None:
    """Stop the benchmark if the canned run did not do what the sandbox run did."""
    expected, got = reference[event["id"]], path_of(out)
    if got != expected:
        raise SystemExit(
            f"bench: event {event['id']} took another path against the canned endpoint than "
            f"against the sandbox: {got} != {expected}. The canned answers no longer match what "
            "the detector asks (bench/canned_aws.py); no figure is measured on a wrong path."
        )


# ---------------------------------------------------------------------------------------------
# Warm figures: time_to_alert_rtt, warm_alert_rtt, detector_cpu_ms_per_event


@dataclass
class WarmRun:
    """The measured warm events against the canned endpoint."""

    windows: list[tuple[float, float]]  # CLOCK_MONOTONIC at handler entry and return
    to_alert: list[float]  # handler entry -> the endpoint received the alert (s)
    cpu_s: float  # the detector's process over the measured events
    endpoint_cpu_per_event_s: float  # warm-up events included
    calls: list[list[CannedCall]]  # each measured event's calls, as the endpoint logged them

    @property
    def walls(self) -> list[float]:
        return [end - start for start, end in self.windows]


# The warm events run in a process of their own that holds nothing but the detector: python3.13
# and the zip, as in Lambda. Its CPU is the detector's; it reads the same clock as the endpoint.
WARM_CHILD = """\
import json, sys, time
def mono():
    return time.clock_gettime(time.CLOCK_MONOTONIC)
class Context:
    def get_remaining_time_in_millis(self):
        return 60_000
with open(sys.argv[1]) as f:
    plan = json.load(f)
from detector.handler import lambda_handler
warm_up = [lambda_handler(event, Context()) for event in plan["warm_up"]]
measured = []
cpu = time.process_time()
for event in plan["measured"]:
    if measured:
        time.sleep(max(0.0, measured[-1]["start"] + plan["spacing_s"] - mono()))
    start = mono()
    out = lambda_handler(event, Context())
    measured.append({"start": start, "end": mono(), "out": out})
cpu = time.process_time() - cpu
print(json.dumps({"warm_up": warm_up, "measured": measured, "cpu": cpu}))
"""


def measure_warm(
    canned: CannedProcess,
    image: LambdaImage,
    env: dict[str, str],
    events: Events,
    reference: dict[str, Steps],
) -> WarmRun:
    """Warm-up events, then the measured ones, in one new container (a python3.13 process
    running the zip) against ``canned``."""
    plan = {"warm_up": events.warm_up, "measured": events.measured, "spacing_s": EVENT_SPACING_S}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(plan))
        canned.configure(clear_log=True)
        endpoint_cpu = process_cpu_s(canned.pid)
        _, stdout = spawn(image, WARM_CHILD, env, str(path))
        endpoint_cpu = process_cpu_s(canned.pid) - endpoint_cpu
    doc = json.loads(stdout.strip().splitlines()[-1])
    for event, out in zip(events.warm_up, doc["warm_up"], strict=True):
        same_path(reference, event, out)
    outs = [m["out"] for m in doc["measured"]]
    for event, out in zip(events.measured, outs, strict=True):
        same_path(reference, event, out)
    windows = [(m["start"], m["end"]) for m in doc["measured"]]
    log = canned.log()
    received = {c.ts: c.answered for c in log if c.op == POST}
    to_alert = [
        received[out["results"][0]["slack_ts"]] - start
        for out, (start, _) in zip(outs, windows, strict=True)
    ]
    per_event = [[c for c in log if start <= c.read <= end] for start, end in windows]
    handled = len(events.warm_up) + len(events.measured)
    return WarmRun(windows, to_alert, doc["cpu"], endpoint_cpu / handled, per_event)


def rounds(calls: list[CannedCall]) -> list[list[CannedCall]]:
    """An event's calls in rounds: a call read once every call of a round was answered starts
    the next round (it could depend on their answers)."""
    out: list[list[CannedCall]] = []
    for call in sorted(calls, key=lambda c: c.read):
        if out and call.read < max(c.answered for c in out[-1]):
            out[-1].append(call)
        else:
            out.append([call])
    return out


def _ops(calls: list[CannedCall]) -> str:
    names = Counter(c.op.replace("dynamodb.", "ddb.") for c in calls)
    return ", ".join(f"{n} x{k}" if k > 1 else n for n, k in sorted(names.items()))


def report_warm(run: WarmRun) -> None:
    """Raw samples, and where a warm event's time goes (medians over the measured events)."""
    n = len(run.windows)
    note(f"warm events against the canned endpoint ({LATENCY_S * 1000:.0f} ms per call): {n}")
    note(f"  handler wall ms: {_fmt(run.walls, 1000)}")
    note(f"  entry -> alert received ms: {_fmt(run.to_alert, 1000)}")
    note(
        f"  CPU per event: the detector's process {run.cpu_s / n * 1000:.1f} ms, the canned "
        f"endpoint {run.endpoint_cpu_per_event_s * 1000:.1f} ms (warm-up events included)"
    )
    shapes = Counter(tuple(_ops(r) for r in rounds(calls)) for calls in run.calls)
    shape, count = shapes.most_common(1)[0]
    note(f"  where the time goes (median ms of the {count} of {n} events in this shape):")
    segments: dict[str, list[float]] = {}
    for (start, end), calls in zip(run.windows, run.calls, strict=True):
        grouped = rounds(calls)
        if tuple(_ops(r) for r in grouped) != shape:
            continue
        previous = start
        for i, group in enumerate(grouped, 1):
            first, last = min(c.read for c in group), max(c.answered for c in group)
            gap = "handler entry -> round 1 sent" if i == 1 else f"round {i - 1} answered -> sent"
            segments.setdefault(gap, []).append(first - previous)
            segments.setdefault(f"round {i}: {_ops(group)}", []).append(last - first)
            previous = last
        segments.setdefault("last answer -> handler returns", []).append(end - previous)
    for name, values in segments.items():
        note(f"    {statistics.median(values) * 1000:7.1f}  {name}")
    injected = len(shape) * LATENCY_S * 1000
    note(
        f"    ({len(shape)} rounds: {injected:.0f} ms injected; every other millisecond is the "
        "detector's own time on the critical path, and the endpoint's few)"
    )


# ---------------------------------------------------------------------------------------------
# cold_start_ratio and peak_rss_mb: fresh python3.13 processes running the built zip

# What Lambda hands every invocation (the parts the handler reads): a cold process is given it too,
# so its first event learns its own account from the function's ARN, as in Lambda, not from STS.
LAMBDA_CONTEXT = f"""\
class Context:
    aws_request_id = "bench-request"
    function_name = "root-key-detector"
    invoked_function_arn = "arn:aws:lambda:us-east-1:{ACCOUNT}:function:root-key-detector"
    def get_remaining_time_in_millis(self):
        return 300_000
"""
COLD_CHILD = (
    LAMBDA_CONTEXT
    + """\
import json, sys, time
event = json.loads(sys.argv[1])
t0 = time.perf_counter()
from detector.handler import lambda_handler
t1 = time.perf_counter()
out = lambda_handler(event, Context())
t2 = time.perf_counter()
print(json.dumps({"phases": [t1 - t0, t2 - t1], "out": out}))
"""
)
BASELINE_CHILD = """\
import time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
boto3.client("iam")
print(t1 - t0, time.perf_counter() - t1)
"""
# Not measured: one more cold process; the canned endpoint's log shows its first event's calls.
COLD_TRACE_CHILD = (
    LAMBDA_CONTEXT
    + """\
import json, sys, time
event = json.loads(sys.argv[1])
def mono():
    return time.clock_gettime(time.CLOCK_MONOTONIC)
t0 = mono()
from detector.handler import lambda_handler
t1 = mono()
out = lambda_handler(event, Context())
print(json.dumps({"t": [t0, t1, mono()], "out": out}))
"""
)
# ru_maxrss of a spawned child starts at its parent's RSS (Linux records the pre-exec image's
# high-water mark in it), and this harness holds more: the child reports VmHWM, the peak RSS of
# its own image, and ru_maxrss only as context. Both in MiB.
RSS_CHILD = (
    LAMBDA_CONTEXT
    + """\
import json, resource, sys
def rss():
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open(sys.argv[1]) as f:
    events = json.load(f)
started = rss()
from detector.handler import lambda_handler
imported = rss()
processed = 0
for i, event in enumerate(events):
    processed += lambda_handler(event, Context())["processed"]
    if i == 0:
        first = rss()
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"started": started, "imported": imported, "first_event": first,
                  "peak": rss(), "ru_maxrss": maxrss, "processed": processed}))
"""
)


@dataclass(frozen=True)
class Timing:
    """Wall time and CPU time (user + system) of one measured run, in seconds."""

    wall: float
    cpu: float
    phases: tuple[float, ...] = ()  # what the child timed itself (import, first event, ...)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spawn(image: LambdaImage, code: str, env: dict[str, str], *args: str) -> tuple[Timing, str]:
    """Run ``python3.13 -c code args`` in the task root: wall time (spawn to exit), CPU, stdout."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        [image.python, "-c", code, *args],
        env=env,
        cwd=image.task_root,
        capture_output=True,
        text=True,
        check=False,
    )
    timing = Timing(time.perf_counter() - start, _children_cpu() - cpu0)
    if proc.returncode != 0:
        raise SystemExit(f"bench: child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return timing, proc.stdout


def alternate(
    a: Callable[[], Timing], b: Callable[[], Timing], pairs: int
) -> list[tuple[Timing, Timing]]:
    """``pairs`` (a, b) measurements after one discarded pair, in ABBA order so drift cancels."""
    a(), b()  # discarded: page caches, allocator warm-up
    out = []
    for i in range(pairs):
        if i % 2 == 0:
            first = a()
            out.append((first, b()))
        else:
            second = b()
            out.append((a(), second))
    return out


def pair_ratio(pairs: list[tuple[Timing, Timing]], attr: str = "wall") -> float:
    """Median over pairs of a/b: neighbours in time share the machine's load."""
    return statistics.median(float(getattr(x, attr) / getattr(y, attr)) for x, y in pairs)


def measure_cold(
    image: LambdaImage,
    env: dict[str, str],
    events: list[dict[str, Any]],
    reference: dict[str, Steps],
    pairs: int,
) -> list[tuple[Timing, Timing]]:
    """Alternating (zip handler + first event, boto3 client) fresh python3.13, spawn to exit."""
    queue = iter(events)

    def handler_run() -> Timing:
        event = next(queue)
        timing, stdout = spawn(image, COLD_CHILD, env, json.dumps(event))
        doc = json.loads(stdout.strip().splitlines()[-1])
        same_path(reference, event, doc["out"])
        return Timing(timing.wall, timing.cpu, tuple(doc["phases"]))

    def baseline_run() -> Timing:
        timing, stdout = spawn(image, BASELINE_CHILD, env)
        return Timing(timing.wall, timing.cpu, tuple(float(x) for x in stdout.split()))

    return alternate(handler_run, baseline_run, pairs)


def trace_cold(
    canned: CannedProcess,
    image: LambdaImage,
    env: dict[str, str],
    event: dict[str, Any],
    reference: dict[str, Steps],
) -> None:
    """One more cold process (not measured): when its first event's calls went out."""
    canned.configure(clear_log=True)
    _, stdout = spawn(image, COLD_TRACE_CHILD, env, json.dumps(event))
    doc = json.loads(stdout.strip().splitlines()[-1])
    same_path(reference, event, doc["out"])
    started, entered, returned = doc["t"]
    note(
        "trace of a cold process's first event (no latency): import "
        f"{1000 * (entered - started):.0f} ms, then the handler "
        f"{1000 * (returned - entered):.0f} ms; calls as the endpoint saw them (ms after handler "
        "entry: read, answered):"
    )
    for call in sorted(canned.log(), key=lambda c: c.read):
        note(
            f"  +{1000 * (call.read - entered):7.1f}  +{1000 * (call.answered - entered):7.1f}  "
            f"{call.op}"
        )


def measure_rss(
    image: LambdaImage, env_for: Callable[[int], dict[str, str]], runs: int
) -> list[dict[str, float]]:
    """Peak RSS (MiB) of fresh python3.13 processes handling 100 events each (run ``i`` in the
    environment ``env_for(i)``)."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.json"
        for run in range(runs):
            path.write_text(json.dumps(hundred_events()))
            _, stdout = spawn(image, RSS_CHILD, env_for(run), str(path))
            out = json.loads(stdout.strip().splitlines()[-1])
            if out["processed"] != 100:
                raise SystemExit(f"bench: RSS child processed {out['processed']} events, not 100")
            results.append(out)
    return results


def import_breakdown(image: LambdaImage, env: dict[str, str], top: int = 15) -> None:
    """``python3.13 -X importtime -c "import detector.handler"``: the heaviest imports."""
    proc = subprocess.run(
        [image.python, "-X", "importtime", "-c", "import detector.handler"],
        env=env,
        cwd=image.task_root,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            self_us, cum_us, indent, name = match.groups()
            rows.append((int(cum_us), int(self_us), len(indent) // 2, name))
    total = max((r[0] for r in rows if r[2] == 0), default=0)
    note(f"imports of detector.handler (-X importtime; top-level total {total / 1000:.0f} ms):")
    note("  by cumulative time (depth <= 2):")
    for cum, self_us, depth, name in sorted((r for r in rows if r[2] <= 2), reverse=True)[:top]:
        note(f"    {cum / 1000:7.1f} ms cum {self_us / 1000:6.1f} ms self  {'  ' * depth}{name}")
    note("  by self time:")
    for self_us, cum, _depth, name in sorted(
        ((r[1], r[0], r[2], r[3]) for r in rows), reverse=True
    )[:top]:
        note(f"    {self_us / 1000:7.1f} ms self {cum / 1000:6.1f} ms cum  {name}")


def report_cold(cold: list[tuple[Timing, Timing]], image: LambdaImage) -> None:
    """Raw samples and phase medians of the cold-start pairs."""
    handlers, baselines = [h for h, _ in cold], [b for _, b in cold]
    modules, compiled = image.bytecode()
    note(
        f"cold start: {len(cold)} alternating pairs of {image.python} (wall = spawn to exit; "
        f"cpu = user+sys); the zip holds {modules} modules, {compiled} with 3.13 bytecode"
    )
    note(f"  zip handler import + first event, wall ms: {_fmt([t.wall for t in handlers], 1000)}")
    note(f"  boto3 client, wall ms: {_fmt([t.wall for t in baselines], 1000)}")
    note(f"  handler cpu ms: {_fmt([t.cpu for t in handlers], 1000)}")
    note(f"  boto3 client cpu ms: {_fmt([t.cpu for t in baselines], 1000)}")
    for label, runs, names in (
        ("handler", handlers, ("import detector.handler", "first event")),
        ("baseline", baselines, ("import boto3", "boto3.client('iam')")),
    ):
        parts = [
            f"{name} {statistics.median(t.phases[i] for t in runs) * 1000:.0f}"
            for i, name in enumerate(names)
        ]
        rest = statistics.median(t.wall - sum(t.phases) for t in runs)
        note(f"  {label} median ms: {', '.join(parts)}, interpreter start+exit {rest * 1000:.0f}")
    in_process = statistics.median(sum(h.phases) / sum(b.phases) for h, b in cold)
    note(
        f"  median wall {statistics.median(t.wall for t in handlers) * 1000:.0f} ms / "
        f"{statistics.median(t.wall for t in baselines) * 1000:.0f} ms; median of per-pair "
        f"ratios: cpu {pair_ratio(cold, 'cpu'):.2f}, timed phases only (no start, no exit; what "
        f"a Lambda container pays) {in_process:.2f}"
    )


# ---------------------------------------------------------------------------------------------
# lambda_zip_mb


def lambda_zip(build: bool) -> Path:
    """``make package`` -> dist/lambda.zip; if that target is missing or fails, an own build."""
    out = ROOT / "dist" / "lambda.zip"
    if not build:
        if not out.exists():
            raise SystemExit("bench: --no-build but dist/lambda.zip does not exist")
        note(f"lambda zip: measuring the existing {out.relative_to(ROOT)} (--no-build)")
        return out
    # -o: never rebuild the venv from here (make bench has already made it).
    proc = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "package"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0 and out.exists():
        note(f"lambda zip: make package: {proc.stdout.strip().splitlines()[0]}")
        return out
    note(f"lambda zip: make package failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    note("lambda zip: building it here instead (runtime deps without boto3 + detector/)")
    return _own_zip(cache_dir() / "lambda.zip")


def _own_zip(out: Path) -> Path:
    provided = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in deps if re.split(r"[=<>!~ ]", d, maxsplit=1)[0].lower() not in provided]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet"),
                *("--disable-pip-version-check", "--no-compile", "--target", str(tree), *pins),
            ],
            check=True,
        )
        shutil.rmtree(tree / "bin", ignore_errors=True)
        shutil.copytree(
            ROOT / "detector",
            tree / "detector",
            ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(tree).as_posix())
    return out


# ---------------------------------------------------------------------------------------------
# classify throughput on a 50 MB CloudTrail log file


def _identity(kind: str, account: str, rnd: random.Random) -> dict[str, Any]:
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": rnd.choice(_SERVICES_INVOKING)}
    if kind == "Root":
        return {
            "type": "Root",
            "principalId": account,
            "arn": f"arn:aws:iam::{account}:root",
            "accountId": account,
            "accessKeyId": _rand_key(rnd, "ASIA"),
            "sessionContext": {
                "attributes": {"creationDate": "2026-11-20T13:51:42Z", "mfaAuthenticated": "true"}
            },
        }
    if kind == "IAMUser":
        user = rnd.choice(["alice", "bob", "ci-deployer", "terraform", "backup"])
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + _rand_key(rnd, "")[:17],
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "accountId": account,
            "accessKeyId": _rand_key(rnd, "AKIA"),
            "userName": user,
        }
    role = rnd.choice(_ROLES)
    session = rnd.choice(
        ["i-0a1b2c3d4e5f60718", "botocore-session-1732110000", "alice@example.com"]
    )
    role_id = "AROA" + _rand_key(rnd, "")[:17]
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": _rand_key(rnd, "ASIA"),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-20T13:02:11Z", "mfaAuthenticated": "false"},
        },
    }


_SERVICES_INVOKING = [
    "config.amazonaws.com",
    "cloudformation.amazonaws.com",
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "securityhub.amazonaws.com",
]
_ROLES = [
    "OrganizationAccountAccessRole",
    "app-prod-task",
    "eks-node-group",
    "AWSReservedSSO_Admin",
]
_AGENTS = [
    "aws-cli/2.22.15 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6",
    "Boto3/1.35.54 md/Botocore#1.35.54 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.10",
    "aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux m/E,g",
    "console.amazonaws.com",
    "AWS Internal",
    "Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.75.1",
]
# (source, name, identity kind, weight, readOnly): mostly the noise a management trail holds.
_NOISE = [
    ("sts.amazonaws.com", "AssumeRole", "AWSService", 18, True),
    ("kms.amazonaws.com", "Decrypt", "AWSService", 14, True),
    ("kms.amazonaws.com", "GenerateDataKey", "AssumedRole", 6, True),
    ("ec2.amazonaws.com", "DescribeInstances", "AssumedRole", 8, True),
    ("ec2.amazonaws.com", "RunInstances", "AssumedRole", 1, False),
    ("s3.amazonaws.com", "GetBucketAcl", "AWSService", 6, True),
    ("s3.amazonaws.com", "ListBuckets", "IAMUser", 2, True),
    ("logs.amazonaws.com", "CreateLogStream", "AssumedRole", 6, False),
    ("lambda.amazonaws.com", "ListFunctions20150331", "AssumedRole", 3, True),
    ("cloudformation.amazonaws.com", "DescribeStacks", "IAMUser", 3, True),
    ("iam.amazonaws.com", "ListRoles", "AssumedRole", 3, True),
    ("iam.amazonaws.com", "GetRole", "AWSService", 4, True),
    ("iam.amazonaws.com", "ListAccessKeys", "IAMUser", 2, True),
    ("iam.amazonaws.com", "CreateAccessKey", "IAMUser", 1, False),
    ("iam.amazonaws.com", "DeleteAccessKey", "AssumedRole", 1, False),
    ("signin.amazonaws.com", "ConsoleLogin", "AssumedRole", 1, False),
    ("ssm.amazonaws.com", "GetParameter", "AssumedRole", 5, True),
    ("dynamodb.amazonaws.com", "DescribeTable", "AssumedRole", 3, True),
    ("config.amazonaws.com", "PutEvaluations", "AWSService", 4, False),
    ("securityhub.amazonaws.com", "BatchImportFindings", "AWSService", 2, False),
    ("ecr.amazonaws.com", "GetAuthorizationToken", "AssumedRole", 2, True),
    ("events.amazonaws.com", "PutEvents", "AssumedRole", 1, False),
    ("iam.amazonaws.com", "GetAccountSummary", "Root", 1, True),
    ("signin.amazonaws.com", "ConsoleLogin", "Root", 1, False),
]


def _rand_key(rnd: random.Random, prefix: str) -> str:
    return prefix + "".join(rnd.choice(_KEY_ALPHABET) for _ in range(16))


_Params = tuple[Any, Any, list[Any] | None]  # requestParameters, responseElements, resources


def _assume_role(rnd: random.Random, account: str) -> _Params:
    role = rnd.choice(_ROLES)
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    credentials = {
        "accessKeyId": _rand_key(rnd, "ASIA"),
        "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE" + _rand_key(rnd, "") * 4,
        "expiration": "Nov 20, 2026, 3:06:12 PM",
    }
    user = {
        "assumedRoleId": "AROA" + _rand_key(rnd, "")[:17] + ":session",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/session",
    }
    return (
        {"roleArn": role_arn, "roleSessionName": "session"},
        {"credentials": credentials, "assumedRoleUser": user},
        [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}],
    )


def _kms(rnd: random.Random, account: str) -> _Params:
    key_arn = f"arn:aws:kms:us-east-1:{account}:key/{uuid.UUID(int=rnd.getrandbits(128))}"
    context = {"aws:lambda:FunctionArn": f"arn:aws:lambda:us-east-1:{account}:function:app"}
    request = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": context}
    if rnd.random() < 0.3:
        request |= {"keyId": key_arn, "keySpec": "AES_256"}
    return request, None, [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}]


def _run_instances(rnd: random.Random, account: str) -> _Params:
    items = [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]
    state = {"code": 0, "name": "pending"}
    return (
        {
            "instancesSet": {"items": items},
            "instanceType": "t3.micro",
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "disableApiTermination": False,
        },
        {
            "requestId": str(uuid.UUID(int=rnd.getrandbits(128))),
            "reservationId": "r-0123456789abcdef0",
            "ownerId": account,
            "instancesSet": {
                "items": [{"instanceId": "i-0123456789abcdef0", "instanceState": state}]
            },
        },
        None,
    )


def _user_key(rnd: random.Random, account: str) -> _Params:
    key = _rand_key(rnd, "AKIA")
    response = {
        "userName": "ci-deployer",
        "accessKeyId": key,
        "status": "Active",
        "createDate": "Nov 20, 2026, 2:06:40 PM",
    }
    return {"userName": "ci-deployer"}, {"accessKey": response}, None


def _evaluations(rnd: random.Random, account: str) -> _Params:
    evaluation = {
        "complianceResourceType": "AWS::EC2::Instance",
        "complianceResourceId": "i-0123456789abcdef0",
        "complianceType": "COMPLIANT",
        "orderingTimestamp": "Nov 20, 2026, 2:00:00 PM",
    }
    token = "eyJ" + _rand_key(rnd, "") * 6
    return {"evaluations": [evaluation], "resultToken": token, "testMode": False}, None, None


_FILTER = {"items": [{"name": "tag:env", "valueSet": {"items": [{"value": "prod"}]}}]}
_STATIC: dict[str, _Params] = {
    "DescribeInstances": ({"instancesSet": {}, "filterSet": _FILTER}, None, None),
    "GetBucketAcl": ({"bucketName": "app-logs", "Host": "s3.amazonaws.com", "acl": ""}, None, None),
    "ConsoleLogin": (None, {"ConsoleLogin": "Success"}, None),
    "GetParameter": ({"name": "/app/prod/db-host", "withDecryption": True}, None, None),
    "GetRole": ({"roleName": "app-prod-task"}, None, None),
    "DescribeTable": ({"tableName": "orders"}, None, None),
    "GetAuthorizationToken": ({"registryIds": []}, None, None),
}
_DYNAMIC: dict[str, Callable[[random.Random, str], _Params]] = {
    "AssumeRole": _assume_role,
    "Decrypt": _kms,
    "GenerateDataKey": _kms,
    "RunInstances": _run_instances,
    "CreateAccessKey": _user_key,  # an IAM user's own key: not root's
    "PutEvaluations": _evaluations,
    "CreateLogStream": lambda rnd, account: (
        {"logGroupName": "/aws/lambda/app", "logStreamName": _rand_key(rnd, "2026/11/20/")},
        None,
        None,
    ),
    "DeleteAccessKey": lambda rnd, account: (
        {"userName": "ci-deployer", "accessKeyId": _rand_key(rnd, "AKIA")},
        None,
        None,
    ),
}


def _params(name: str, rnd: random.Random, account: str) -> _Params:
    """requestParameters, responseElements, resources of one noise record."""
    if name in _DYNAMIC:
        return _DYNAMIC[name](rnd, account)
    return _STATIC.get(name, (None, None, None))  # ListBuckets, ListRoles, ...


def _noise_record(rnd: random.Random, when: datetime) -> dict[str, Any]:
    source, name, kind, _w, read_only = rnd.choices(_NOISE, weights=[n[3] for n in _NOISE])[0]
    account = rnd.choice([ACCOUNT, "210987654321", "555566667777"])
    request, response, resources = _params(name, rnd, account)
    record: dict[str, Any] = {
        "eventVersion": rnd.choice(["1.08", "1.09", "1.10"]),
        "userIdentity": _identity(kind, account, rnd),
        "eventTime": _iso(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": rnd.choice(["us-east-1", "us-east-1", "us-west-2", "eu-west-1"]),
        "sourceIPAddress": f"198.51.100.{rnd.randrange(1, 255)}"
        if kind != "AWSService"
        else source,
        "userAgent": rnd.choice(_AGENTS) if kind != "AWSService" else source,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.UUID(int=rnd.getrandbits(128))),
        "eventID": str(uuid.UUID(int=rnd.getrandbits(128))),
        "readOnly": read_only,
        "eventType": "AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if resources:
        record["resources"] = resources
    if name == "ConsoleLogin":
        record["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/",
            "MobileVersion": "No",
            "MFAUsed": "Yes",
        }
    if rnd.random() < 0.04:
        record["errorCode"] = "AccessDenied"
        record["errorMessage"] = f"User is not authorized to perform: {source.split('.')[0]}:{name}"
    if kind != "AWSService" and rnd.random() < 0.6:
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": source,
        }
    return record


def _root_key_record(rnd: random.Random, when: datetime) -> dict[str, Any]:
    name = rnd.choice(["CreateAccessKey", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"])
    key = _rand_key(rnd, "AKIA")
    record = _noise_record(rnd, when)
    record.update(
        eventSource="iam.amazonaws.com",
        eventName=name,
        awsRegion="us-east-1",
        userIdentity=_identity("Root", record["recipientAccountId"], rnd),
        readOnly=False,
        eventType="AwsApiCall",
    )
    record.pop("errorCode", None)
    record.pop("errorMessage", None)
    record.pop("resources", None)
    if name == "CreateAccessKey":
        record["requestParameters"] = None
        record["responseElements"] = {
            "accessKey": {
                "accessKeyId": key,
                "status": "Active",
                "createDate": "Nov 20, 2026, 2:07:45 PM",
            }
        }
    else:
        record["requestParameters"] = {"accessKeyId": key}
        if name == "UpdateAccessKey":
            record["requestParameters"]["status"] = rnd.choice(["Active", "Inactive"])
        record["responseElements"] = None
    return record


def logfile() -> Path:
    """The cached 50 MiB CloudTrail log file (generated once, deterministic)."""
    path = cache_dir() / f"cloudtrail-{LOGFILE_MIB}mib-v{LOGFILE_VERSION}.json"
    if path.exists():
        return path
    note(f"generating {path.relative_to(ROOT)} (once) ...")
    rnd = random.Random(LOGFILE_SEED)  # noqa: S311 - test data
    start = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    parts: list[str] = []
    size, target = 0, LOGFILE_MIB * MIB
    while size < target:
        when = start + timedelta(seconds=rnd.randrange(300))
        # About 1 in 2,000 records is a root access-key event; the rest is noise.
        maker = _root_key_record if rnd.random() < 0.0005 else _noise_record
        part = json.dumps(maker(rnd, when), separators=(",", ":"))
        parts.append(part)
        size += len(part) + 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text('{"Records":[' + ",".join(parts) + "]}")
    tmp.replace(path)
    return path


def measure_classify(data: bytes, pairs: int) -> tuple[list[tuple[Timing, Timing]], Counter[str]]:
    """Alternating (load_document + parse_input + classify, json.loads) over the same bytes."""
    from detector.domain.document import load_document  # noqa: PLC0415
    from detector.domain.event import parse_input  # noqa: PLC0415
    from detector.domain.verdict import classify  # noqa: PLC0415

    verdicts: Counter[str] = Counter()

    def classify_run() -> Timing:
        cpu, start = time.process_time(), time.perf_counter()
        events = parse_input(load_document(data))
        result = [classify(e) for e in events]
        timing = Timing(time.perf_counter() - start, time.process_time() - cpu)
        if not verdicts:
            verdicts.update(v.value for v in result)
        del events, result
        gc.collect()
        return timing

    def json_run() -> Timing:
        cpu, start = time.process_time(), time.perf_counter()
        doc = json.loads(data)
        timing = Timing(time.perf_counter() - start, time.process_time() - cpu)
        del doc
        gc.collect()
        return timing

    return alternate(classify_run, json_run, pairs), verdicts


# ---------------------------------------------------------------------------------------------


def sandbox_phase(
    events: Events, image: LambdaImage, reps: Reps
) -> tuple[dict[str, Steps], dict[str, str], float]:
    """Against the sandbox (moto in a child process + the Slack emulator, nothing injected):
    the path of every event, and peak_rss_mb. Returns (paths, the detector's environment there,
    peak_rss_mb)."""
    from sandbox.aws_server import RemoteMoto  # noqa: PLC0415 - imports moto
    from sandbox.stack import SandboxStack  # noqa: PLC0415

    with SandboxStack(aws=RemoteMoto()) as stack:
        stack.aws.set_root_key_present(True)  # confirm answers at once
        # These runs hand the handler events back to back (the RSS children 100 each), far
        # faster than Slack lets one channel be posted to: with its rate tiers on, every post
        # after the first few waits a second for a 429's Retry-After, the same path, minutes
        # later. The tiers are the test suite's to check; these runs check paths and memory.
        stack.slack.set_rate_limits(False)
        # ...and the detector's own pacer (one post a second per channel) is opened up alike.
        env = {**stack.detector_env(), "SLACK_POSTS_PER_SECOND": "100"}
        started = time.perf_counter()
        reference = reference_paths(env, events.all())
        note(
            f"correctness: {len(reference)} new-key events handled against the sandbox "
            f"({time.perf_counter() - started:.1f} s, not a figure); every canned run below "
            "must take the same path"
        )
        rss = measure_rss(image, lambda run: rss_env(stack, image, env, run), reps.rss_runs)
    for r in rss:
        note(
            "peak RSS MiB (python3.13, the zip, against the sandbox): interpreter {started:.1f}, "
            "after import {imported:.1f}, after first event {first_event:.1f}, after 100 events "
            "{peak:.1f} (ru_maxrss {ru_maxrss:.1f}, inflated by the parent)".format(**r)
        )
    return reference, env, statistics.median(r["peak"] for r in rss)


def rss_env(stack: Any, image: LambdaImage, env: dict[str, str], run: int) -> dict[str, str]:
    """An RSS child's environment: a ledger table of its own, so every run starts from the
    same state (an event naming a key reads all of its account's key records: with one shared
    table, each run would read the records of the runs before it)."""
    from sandbox.aws import create_ledger_table  # noqa: PLC0415

    table = f"bench-rss-{run}-{uuid.uuid4().hex[:8]}"
    create_ledger_table(stack.aws.client("dynamodb"), table)
    return image.env({**env, "LEDGER_TABLE": table, "CONFIRM_WAIT_SECONDS": "0.2"})


def canned_phase(
    events: Events,
    image: LambdaImage,
    reference: dict[str, Steps],
    sandbox_env: dict[str, str],
    reps: Reps,
    *,
    imports: bool,
) -> dict[str, float]:
    """The latency and CPU figures, against the canned endpoint (its own process)."""
    from sandbox.aws import SLACK_TOKEN  # noqa: PLC0415

    figures: dict[str, float] = {}
    with CannedProcess(SLACK_TOKEN, LATENCY_S) as canned:
        env = {**sandbox_env, "AWS_ENDPOINT_URL": canned.url, "SLACK_API_URL": canned.slack_url}
        child_env = image.env(env)
        warm = measure_warm(canned, image, child_env, events, reference)
        report_warm(warm)
        figures["time_to_alert_rtt"] = statistics.median(warm.to_alert) / LATENCY_S
        figures["warm_alert_rtt"] = statistics.median(warm.walls) / LATENCY_S
        figures["detector_cpu_ms_per_event"] = warm.cpu_s / len(warm.windows) * 1000

        canned.configure(latency_s=0.0)
        *paired, traced = events.cold
        cold = measure_cold(image, child_env, paired, reference, reps.cold_pairs)
        report_cold(cold, image)
        figures["cold_start_ratio"] = pair_ratio(cold, "wall")
        trace_cold(canned, image, child_env, traced, reference)
        if imports:
            import_breakdown(image, child_env)
    return figures


def zip_figure(build: bool) -> tuple[Path, float]:
    """The zip and lambda_zip_mb, with what the zip holds."""
    zip_path = lambda_zip(build=build)
    with zipfile.ZipFile(zip_path) as zf:
        files: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for info in zf.infolist():
            top = info.filename.split("/", 1)[0]
            files[top] += 1
            sizes[top] += info.compress_size
    note(
        f"lambda zip: {zip_path.stat().st_size} bytes; compressed by top-level entry: "
        + ", ".join(f"{k} {v / 1024:.0f} KiB ({files[k]} files)" for k, v in sizes.most_common(6))
    )
    return zip_path, zip_path.stat().st_size / MIB


def classify_figures(reps: Reps) -> dict[str, float]:
    """classify_mb_per_s and classify_vs_json_loads on the cached 50 MiB log file."""
    data = logfile().read_bytes()
    pairs, verdicts = measure_classify(data, reps.classify_pairs)
    mib = len(data) / MIB
    classifies, loads = [c for c, _ in pairs], [j for _, j in pairs]
    note(f"classify: {mib:.1f} MiB, verdicts {dict(verdicts)}, {len(pairs)} alternating pairs")
    for label, runs in (
        ("load_document + parse_input + classify", classifies),
        ("json.loads", loads),
    ):
        note(
            f"  {label}: cpu s {_fmt([t.cpu for t in runs], 1, '')}; "
            f"wall s {_fmt([t.wall for t in runs], 1, '')}"
        )
    # CPU time of this (single-threaded) process: other work on the machine does not count.
    classify_rate = mib / statistics.median(t.cpu for t in classifies)
    json_rate = mib / statistics.median(t.cpu for t in loads)
    json_wall = mib / statistics.median(t.wall for t in loads)
    classify_wall = mib / statistics.median(t.wall for t in classifies)
    note(
        f"  MiB/s: json.loads {json_rate:.1f} cpu, {json_wall:.1f} wall; "
        f"classify {classify_rate:.1f} cpu, {classify_wall:.1f} wall; "
        f"ratio of cpu medians {classify_rate / json_rate:.3f}"
    )
    # Context: json.loads spends much of its time in the cyclic GC (its output has no cycles),
    # and so does classify, which decodes the same way and leaves the collector alone. The
    # ratio against a json.loads with the GC off says what classify costs beyond the decoding.
    gc_free = []
    for _ in range(max(2, len(pairs))):
        gc.disable()
        try:
            cpu = time.process_time()
            doc = json.loads(data)
            gc_free.append(time.process_time() - cpu)
            del doc
        finally:
            gc.enable()
        gc.collect()
    classify_cpu = statistics.median(t.cpu for t in classifies)
    note(
        f"  json.loads with the GC off: cpu s {_fmt(gc_free, 1, '')}; classify vs it "
        f"{statistics.median(gc_free) / classify_cpu:.2f} x (context, not the figure)"
    )
    return {
        "classify_mb_per_s": classify_rate,
        # Median of per-pair ratios: json.loads time / classify time = throughput ratio.
        "classify_vs_json_loads": statistics.median(j.cpu / c.cpu for c, j in pairs),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure everything, print context on stderr and the ``bench:`` lines on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--no-build", action="store_true", help="measure dist/lambda.zip as is")
    parser.add_argument("--imports", action="store_true", help="list the heaviest imports")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    reps = QUICK if args.quick else FULL
    note(f"bench.perf ({'quick' if args.quick else 'full'}); load average {_load()}")

    figures: dict[str, float] = {}
    zip_path, figures["lambda_zip_mb"] = zip_figure(build=not args.no_build)
    image = lambda_image(zip_path)
    events = Events.new(reps)
    reference, sandbox_env, figures["peak_rss_mb"] = sandbox_phase(events, image, reps)
    figures |= canned_phase(events, image, reference, sandbox_env, reps, imports=args.imports)
    figures |= classify_figures(reps)

    note(f"load average at the end {_load()} ({os.cpu_count()} CPUs): other work skews figures")
    missed = []
    for name, (op, target) in TARGETS.items():
        value = figures[name]
        ok = value <= target if op == "<=" else value >= target
        note(f"target {name} {op} {target}: {value:.2f} {'ok' if ok else 'MISSED'}")
        if not ok:
            missed.append(name)
    for name, unit in UNITS.items():
        print(f"bench: {name} {figures[name]:.2f} {unit}", flush=True)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
