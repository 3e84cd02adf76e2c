"""``make bench-org`` (backfill half): the backfill against ``zcat`` over the same gzipped logs.

Run ``python -m bench.org_backfill [--mb 200] [--workers 8] [--pairs 3] [--quick]``. stdout gets
exactly one line::

    bench: backfill_vs_zcat VALUE x   backfill throughput / zcat throughput (compressed MB/s,
                                      same objects, same run; higher is better, target >= 0.7)

What is measured: at least ``--mb`` MiB of gzipped CloudTrail log objects sit in moto's S3 in a
child process (``RemoteMoto``), behind the proxy that adds 50 ms to every call. The backfill is
``python -m detector backfill`` in a fresh process (interpreter start-up included), classify
only, its S3 client pointed at the proxy; it lists the day folders of both layouts (single
account and organization trail) and downloads, gunzips and prefilters every object. The same
objects are written to a temporary directory and ``zcat FILES > /dev/null`` is timed. Runs
alternate (zcat, backfill) ``--pairs`` times; the figure is the median of the pairs' ratios.

The objects: generating ~2 GB of distinct JSON takes minutes, so a pool of distinct log files
(``--pool``, each ~20 MiB of JSON, ~2 MiB gzipped: noise of assumed roles calling KMS, STS,
EC2, IAM..., with random ids, that compresses ~10x like real CloudTrail) is generated once into
bench/.cache and uploaded as many times as needed (98 objects for 200 MiB), under 12 accounts
(one standalone trail, 11 organization-trail members), 2 regions and 3 days. The mix is
pessimistic: in a third of the objects "Root" appears (a root key's creation and deactivation
in 2 of 12 pool files; a root console login, root ListAccessKeys and an IAM user's new key in 2
more), so they go past the first byte test; real archives hold root activity far more rarely.
2 of 12 more hold an IAM user's key call only. The backfill's output is checked against the
events planted (count and verdicts) in every run.

Each run prints its wall and CPU seconds and the load average to stderr: the figure is a wall
time ratio on a 2-vCPU machine, so other work on the machine moves it (zcat uses one core; the
backfill and the moto child share both).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
MIB = 1 << 20
LATENCY_S = 0.05
POOL_VERSION = 1  # bump when the generator changes: the cached pool is rebuilt
BUCKET = "org-cloudtrail-archive"
PREFIX = "cloudtrail"
ORG = "o-bench0org01"
SINGLE_ACCOUNT = "999999999999"
MEMBERS = [f"1000000000{n:02d}" for n in range(1, 12)]
DAYS = [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)]
TARGET = 0.7


def note(*parts: object) -> None:
    """Context for humans: stderr, so stdout holds only the ``bench:`` line."""
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Realistic CloudTrail noise (deterministic per seed)

_ROLES = [
    "OrganizationAccountAccessRole",
    "AWSServiceRoleForConfig",
    "ci-deployer",
    "data-pipeline",
    "AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b",
    "lambda-exec-orders",
    "eks-node-group-payments",
]
_AGENTS = [
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/kms#1.35.3",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 "
    "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.9 "
    "md/pyimpl#CPython exec-env/CloudShell cfg/retry-mode#standard md/command#sts.get-caller",
    "Terraform/1.9.3 (+https://www.terraform.io) terraform-provider-aws/5.61.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
]
# (eventSource, eventName, readOnly, weight)
_CALLS = [
    ("kms.amazonaws.com", "Decrypt", True, 20),
    ("kms.amazonaws.com", "GenerateDataKey", True, 10),
    ("sts.amazonaws.com", "AssumeRole", True, 15),
    ("ec2.amazonaws.com", "DescribeInstances", True, 8),
    ("s3.amazonaws.com", "GetBucketAcl", True, 6),
    ("config.amazonaws.com", "PutEvaluations", False, 6),
    ("logs.amazonaws.com", "CreateLogStream", False, 8),
    ("iam.amazonaws.com", "GetRole", True, 5),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", True, 3),
    ("ssm.amazonaws.com", "GetParameter", True, 8),
    ("lambda.amazonaws.com", "ListFunctions20150331", True, 3),
    ("dynamodb.amazonaws.com", "DescribeTable", True, 5),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True, 3),
]
_WEIGHTS = [c[3] for c in _CALLS]


class Noise:
    """Makes CloudTrail records of one account's 5-minute window."""

    def __init__(self, seed: int, account: str, start: datetime) -> None:
        self.rnd = random.Random(seed)  # noqa: S311 - test data
        self.account = account
        self.start = start

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    def key(self, prefix: str) -> str:
        """A random access key id with ``prefix``."""
        return prefix + base64.b32encode(self.rnd.getrandbits(80).to_bytes(10, "big")).decode()

    def _time(self) -> str:
        when = self.start + timedelta(seconds=self.rnd.randrange(300))
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def record(self) -> dict[str, Any]:
        """One noise record: an assumed role calling an AWS API."""
        rnd, acct = self.rnd, self.account
        source, name, read_only, _w = rnd.choices(_CALLS, weights=_WEIGHTS)[0]
        role = rnd.choice(_ROLES)
        session = f"{rnd.getrandbits(48):x}"
        when = self._time()
        service = source.split(".")[0]
        request: dict[str, Any] | None = None
        resources: list[dict[str, Any]] = []
        if service == "kms":
            key_arn = f"arn:aws:kms:us-east-1:{acct}:key/{self._id()}"
            request = {"keyId": key_arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
            resources = [{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key_arn}]
        elif service == "iam":
            request = {"roleName": rnd.choice(_ROLES)}
        elif service == "ssm":
            request = {"name": f"/prod/{rnd.choice(_ROLES)}/db-url", "withDecryption": True}
        elif service == "sts":
            request = {
                "roleArn": f"arn:aws:iam::{acct}:role/{rnd.choice(_ROLES)}",
                "roleSessionName": session,
            }
        record: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": f"AROA{self.key('')[:17]}:{session}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
                "accountId": acct,
                "accessKeyId": self.key("ASIA"),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLEROLEID1234",
                        "arn": f"arn:aws:iam::{acct}:role/{role}",
                        "accountId": acct,
                        "userName": role,
                    },
                    "attributes": {"creationDate": when, "mfaAuthenticated": "false"},
                },
            },
            "eventTime": when,
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
            "userAgent": rnd.choice(_AGENTS),
            "requestParameters": request,
            "responseElements": None,
            "requestID": self._id(),
            "eventID": self._id(),
            "readOnly": read_only,
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": acct,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{service}.us-east-1.amazonaws.com",
            },
        }
        return record

    def root(self, name: str, **extra: Any) -> dict[str, Any]:
        """A call by the root user (a console login, a key call, ...)."""
        record = self.record()
        record["userIdentity"] = {
            "type": "Root",
            "principalId": self.account,
            "arn": f"arn:aws:iam::{self.account}:root",
            "accountId": self.account,
            "accessKeyId": self.key("ASIA"),
            "sessionContext": {
                "attributes": {"creationDate": record["eventTime"], "mfaAuthenticated": "true"}
            },
        }
        source = "signin.amazonaws.com" if name == "ConsoleLogin" else "iam.amazonaws.com"
        record.update(eventSource=source, eventName=name, readOnly=False, resources=[])
        record.update(extra)
        return record

    def user_key_call(self) -> dict[str, Any]:
        """An IAM user rotating its own key: mentions CreateAccessKey, not Root."""
        record = self.record()
        record.update(
            eventSource="iam.amazonaws.com",
            eventName="CreateAccessKey",
            requestParameters={"userName": "ci-bot"},
            responseElements={"accessKey": {"accessKeyId": self.key("AKIA"), "status": "Active"}},
        )
        return record


@dataclass(frozen=True)
class PoolFile:
    """One distinct gzipped log file and how many root key events it holds."""

    path: Path
    size: int
    root_key_events: int


def _pool_file(index: int, raw_mib: float, start: datetime) -> tuple[bytes, int]:
    """The gzipped bytes of pool file ``index`` and its number of root key events."""
    noise = Noise(20261128 + index, MEMBERS[index % len(MEMBERS)], start)
    parts: list[str] = []
    size, target = 0, int(raw_mib * MIB)
    while size < target:
        part = json.dumps(noise.record(), separators=(",", ":"))
        parts.append(part)
        size += len(part) + 1
    planted: list[dict[str, Any]] = []
    planted_keys = 0
    kind = index % 6
    if kind == 0:  # a root key's story: created, deactivated
        key = noise.key("AKIA")
        planted.append(
            noise.root(
                "CreateAccessKey",
                requestParameters=None,
                responseElements={"accessKey": {"accessKeyId": key, "status": "Active"}},
            )
        )
        planted.append(
            noise.root(
                "UpdateAccessKey",
                requestParameters={"accessKeyId": key, "status": "Inactive"},
                responseElements=None,
            )
        )
        planted_keys = 2
    elif kind == 2:  # root console use and an IAM user's key: every needle, no match
        planted.append(noise.root("ConsoleLogin", requestParameters=None))
        planted.append(noise.root("ListAccessKeys", requestParameters=None))
        planted.append(noise.user_key_call())
    elif kind == 4:  # an IAM user's key only
        planted.append(noise.user_key_call())
    rnd = random.Random(index)  # noqa: S311 - test data
    for record in planted:
        parts.insert(rnd.randrange(len(parts)), json.dumps(record, separators=(",", ":")))
    raw = ('{"Records":[' + ",".join(parts) + "]}").encode()
    return gzip.compress(raw, compresslevel=6, mtime=0), planted_keys


def pool(count: int, raw_mib: float) -> list[PoolFile]:
    """The cached pool of distinct log files (generated once)."""
    folder = CACHE / f"org-backfill-v{POOL_VERSION}-{raw_mib:g}mib"
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest: dict[str, int] = (
        json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    )
    out: list[PoolFile] = []
    start = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)
    for index in range(count):
        path = folder / f"pool-{index:03d}.json.gz"
        if not path.exists() or path.name not in manifest:
            began = time.perf_counter()
            data, planted = _pool_file(index, raw_mib, start)
            path.write_bytes(data)
            manifest[path.name] = planted
            manifest_path.write_text(json.dumps(manifest, indent=1))
            note(
                f"  generated {path.name}: {len(data) / MIB:.2f} MiB gzipped"
                f" in {time.perf_counter() - began:.1f} s"
            )
        out.append(PoolFile(path, path.stat().st_size, manifest[path.name]))
    return out


# ---------------------------------------------------------------------------------------------
# The archive: pool files uploaded under both layouts, across days and regions


@dataclass(frozen=True)
class Placed:
    """One uploaded object."""

    key: str
    source: PoolFile


def layout(files: list[PoolFile], target_bytes: int) -> list[Placed]:
    """Keys for enough copies of the pool to reach ``target_bytes`` (round robin)."""
    placed: list[Placed] = []
    total = 0
    n = 0
    rnd = random.Random(7)  # noqa: S311 - key suffixes
    accounts = [SINGLE_ACCOUNT, *MEMBERS]
    while total < target_bytes:
        source = files[n % len(files)]
        account = accounts[n % len(accounts)]
        day = DAYS[(n // len(accounts)) % len(DAYS)]
        region = "eu-west-1" if n % 9 == 8 else "us-east-1"
        stamp = f"{day:%Y%m%d}T{(n * 5) // 60 % 24:02d}{(n * 5) % 60:02d}Z"
        suffix = "".join(
            rnd.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=16)
        )
        name = f"{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
        trail = f"AWSLogs/{account}" if account == SINGLE_ACCOUNT else f"AWSLogs/{ORG}/{account}"
        key = f"{PREFIX}/{trail}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}"
        placed.append(Placed(key, source))
        total += source.size
        n += 1
    return placed


def upload(s3: Any, placed: list[Placed]) -> None:
    """Create the bucket and upload every object, plus objects the backfill must not read."""
    s3.create_bucket(Bucket=BUCKET)
    cache: dict[Path, bytes] = {}
    for item in placed:
        body = cache.setdefault(item.source.path, item.source.path.read_bytes())
        s3.put_object(Bucket=BUCKET, Key=item.key, Body=body)
    # Outside the date range, and a digest folder: never listed.
    outside = placed[0].key.replace("/2026/11/19/", "/2026/11/18/")
    s3.put_object(Bucket=BUCKET, Key=outside, Body=b"not read: outside --since/--until")
    digest = f"{PREFIX}/AWSLogs/{SINGLE_ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/20/d.json.gz"
    s3.put_object(Bucket=BUCKET, Key=digest, Body=b"not read: digest folder")


# ---------------------------------------------------------------------------------------------
# Runs


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_zcat(files: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of ``zcat FILES > /dev/null``."""
    cpu = _children_cpu_s()
    began = time.perf_counter()
    subprocess.run(["zcat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began, _children_cpu_s() - cpu


def run_backfill(env: dict[str, str], workers: int) -> tuple[float, float, list[str], str]:
    """Wall and CPU seconds of ``python -m detector backfill`` (a fresh process, start-up
    included), its lines and its summary line."""
    cmd = [
        sys.executable,
        "-m",
        "detector",
        "backfill",
        "--bucket",
        BUCKET,
        "--prefix",
        PREFIX,
        "--since",
        f"{DAYS[0]}",
        "--until",
        f"{DAYS[-1]}",
        "--workers",
        str(workers),
    ]
    cpu = _children_cpu_s()
    began = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, check=False
    )
    elapsed = time.perf_counter() - began
    cpu = _children_cpu_s() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"backfill exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed, cpu, proc.stdout.splitlines(), proc.stderr.strip().splitlines()[-1]


def measure(moto: Any, placed: list[Placed], workers: int, pairs: int) -> list[float]:
    """Upload, then alternate zcat and the backfill ``pairs`` times; each pair's ratio."""
    total = sum(p.source.size for p in placed)
    expected = sum(p.source.root_key_events for p in placed)
    began = time.perf_counter()
    upload(moto.client("s3"), placed)
    note(f"uploaded to moto in {time.perf_counter() - began:.1f} s")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto.proxy_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONPATH": str(ROOT),
    }
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-org-") as tmp:
        local: list[Path] = []
        for n, item in enumerate(placed):
            path = Path(tmp) / f"{n:05d}.json.gz"
            path.write_bytes(item.source.path.read_bytes())
            local.append(path)
        run_zcat(local)  # discarded: page cache
        for n in range(pairs):
            zcat_s, zcat_cpu = run_zcat(local)
            backfill_s, backfill_cpu, lines, summary = run_backfill(env, workers)
            verdicts = {json.loads(line)["verdict"] for line in lines}
            if len(lines) != expected or verdicts != {"root-key-created", "root-key-deactivated"}:
                raise RuntimeError(f"backfill found {len(lines)} root key events {verdicts}")
            ratios.append(zcat_s / backfill_s)
            note(
                f"pair {n + 1}: zcat {zcat_s:.2f} s ({total / MIB / zcat_s:.1f} MiB/s,"
                f" CPU {zcat_cpu:.1f} s), backfill {backfill_s:.2f} s"
                f" ({total / MIB / backfill_s:.1f} MiB/s, CPU {backfill_cpu:.1f} s),"
                f" ratio {zcat_s / backfill_s:.2f}; load average {os.getloadavg()[0]:.1f}"
            )
            note(f"  {summary}")
    return ratios


def main(argv: list[str] | None = None) -> int:
    """Generate, upload, time, print the ``bench:`` line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--mb", type=float, default=200.0, help="gzipped MiB to read (>= 200)")
    parser.add_argument("--workers", type=int, default=8, help="backfill --workers")
    parser.add_argument("--pairs", type=int, default=3, help="alternating (zcat, backfill) runs")
    parser.add_argument("--pool", type=int, default=12, help="distinct log files generated")
    parser.add_argument("--file-mib", type=float, default=20.0, help="JSON MiB per log file")
    parser.add_argument("--quick", action="store_true", help="one pair")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET}x")
    args = parser.parse_args(argv)

    from sandbox.aws_server import RemoteMoto  # noqa: PLC0415 - moto only when run

    note(f"pool: {args.pool} distinct log files of {args.file_mib:g} MiB JSON each")
    files = pool(args.pool, args.file_mib)
    placed = layout(files, int(args.mb * MIB))
    total = sum(p.source.size for p in placed)
    note(
        f"archive: {len(placed)} objects, {total / MIB:.1f} MiB ({total / 1e6:.1f} MB) gzipped"
        f" from {len({p.source.path for p in placed})} distinct files,"
        f" {sum(p.source.root_key_events for p in placed)} root key events planted"
    )
    moto = RemoteMoto(latency_s=LATENCY_S).start()
    try:
        ratios = measure(moto, placed, args.workers, 1 if args.quick else max(1, args.pairs))
    finally:
        moto.stop()
    ratio = statistics.median(ratios)
    note(
        f"settings: --workers {args.workers}, {LATENCY_S * 1000:.0f} ms per S3 call,"
        f" {os.cpu_count()} CPUs; target >= {TARGET}x"
    )
    print(f"bench: backfill_vs_zcat {ratio:.2f} x", flush=True)
    return 1 if args.check and not ratio >= TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
