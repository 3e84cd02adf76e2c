"""``backfill`` over a CloudTrail archive in the sandbox's S3: both layouts, days, --apply."""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from detector import cli
from detector.adapters.archive import s3_archive
from detector.cli.output import event_line
from detector.domain.event import parse_input
from detector.domain.verdict import Verdict, classify
from detector.errors import ArchiveError
from detector.log import get_logger
from sandbox.aws import SLACK_CHANNEL
from sandbox.stack import SandboxStack
from tests.factories import delete_record, record, update_record

pytestmark = pytest.mark.integration

LOGFILES = Path(__file__).parent.parent / "events" / "logfiles"
BUCKET = "org-trail-archive"
ORG = "o-a1b2c3d4e5"
PRIMARY = "123456789012"  # a standalone account's own trail
MEMBER = "210987654321"  # an organization trail's member account
KEY = "AKIAIOSFODNN7EXAMPLE"


def _logfile(name_start: str) -> list[dict[str, Any]]:
    path = next(LOGFILES.glob(f"{name_start}_*.json"))
    records: list[dict[str, Any]] = json.loads(path.read_text())["Records"]
    return records


def _noise(n: int, tag: str, account: str) -> list[dict[str, Any]]:
    """Roles and users at work; some call the key APIs, none is root."""
    names = ["AssumeRole", "CreateAccessKey", "GetRole", "DeleteAccessKey", "ListRoles"]
    return [
        record(
            eventName=names[i % len(names)],
            eventSource="sts.amazonaws.com" if i % len(names) == 0 else "iam.amazonaws.com",
            eventID=f"{tag}-noise-{i}",
            eventTime=f"2026-11-20T1{i % 10}:00:00Z",
            recipientAccountId=account,
            requestParameters={"userName": "ci-bot"},
            **{
                "userIdentity.type": "AssumedRole",
                "userIdentity.arn": f"arn:aws:sts::{account}:assumed-role/ci/ci",
                "userIdentity.accountId": account,
            },
        )
        for i in range(n)
    ]


@dataclass
class Archive:
    """What was uploaded, to compute what the backfill must print."""

    s3: Any
    prefix: str = ""
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def put(
        self,
        account: str,
        day: date,
        records: list[dict[str, Any]],
        *,
        region: str = "us-east-1",
        org: str | None = None,
        body: bytes | None = None,
    ) -> str:
        trail = f"AWSLogs/{org}/{account}" if org else f"AWSLogs/{account}"
        stamp = f"{day:%Y%m%d}T{len(self.objects) % 24:02d}05Z"
        name = f"{account}_CloudTrail_{region}_{stamp}_Vq7sWm2Lp9XcR{len(self.objects):03d}.json.gz"
        key = f"{self.prefix}{trail}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}"
        doc = json.dumps({"Records": records}, separators=(",", ":")).encode()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body or gzip.compress(doc))
        self.objects[key] = records
        return key

    def expected(self, days: set[date]) -> list[dict[str, Any]]:
        """classify of every record of the day folders, root key events only, by time."""
        lines = []
        for key in sorted(self.objects):
            if _folder_day(key) not in days:
                continue
            for event in parse_input({"Records": copy.deepcopy(self.objects[key])}):
                verdict = classify(event)
                if verdict is not Verdict.IGNORED:
                    lines.append((event, event_line(f"s3://{BUCKET}/{key}", event), verdict))
        rank = {Verdict.CREATED: 0, Verdict.DEACTIVATED: 1, Verdict.ACTIVATED: 1}
        lines.sort(key=lambda x: (x[0].event_time, rank.get(x[2], 2)))
        return [line | {"verdict": verdict.value} for _, line, verdict in lines]


def _folder_day(key: str) -> date:
    y, m, d = key.split("/CloudTrail/")[1].split("/")[1:4]
    return date(int(y), int(m), int(d))


@pytest.fixture
def s3(sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in sandbox.aws.env().items():
        monkeypatch.setenv(name, value)
    client = sandbox.aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def archive(s3: Any) -> Archive:
    """Three days of an organization's archive, both layouts, plus what must not be read."""
    arc = Archive(s3)
    d18, d19, d20, d21, d22 = (date(2026, 11, n) for n in (18, 19, 20, 21, 22))
    # Day 19: noise in the standalone account; an old-style regional root deactivation of a
    # member's key in the organization trail's eu-west-1 folder.
    arc.put(PRIMARY, d19, _noise(30, "p19", PRIMARY))
    regional = update_record(
        "Inactive",
        "AKIAI44QH8DHBEXAMPLE",
        eventID="regional-update",
        eventTime="2026-11-19T08:00:00Z",
        awsRegion="eu-west-1",
        recipientAccountId=MEMBER,
        **{"userIdentity.accountId": MEMBER},
    )
    arc.put(MEMBER, d19, [*_noise(10, "m19", MEMBER), regional], region="eu-west-1", org=ORG)
    # Day 20: the standalone account's log file as CloudTrail wrote it, among noise; a key
    # created just before midnight of the 19th, delivered in the 20th's folder; a same-second
    # create and delete listed delete first.
    lf1 = _logfile(PRIMARY)
    arc.put(PRIMARY, d20, [*_noise(15, "p20a", PRIMARY), *lf1, *_noise(15, "p20b", PRIMARY)])
    late = record(eventID="late-create", eventTime="2026-11-19T23:58:10Z")
    same_second = [
        delete_record(
            "AKIASAMESECONDEXAMPL", eventID="ss-delete", eventTime="2026-11-20T15:00:00Z"
        ),
        record(
            eventID="ss-create",
            eventTime="2026-11-20T15:00:00Z",
            **{"responseElements.accessKey.accessKeyId": "AKIASAMESECONDEXAMPL"},
        ),
    ]
    arc.put(PRIMARY, d20, [late, *_noise(5, "p20c", PRIMARY), *same_second])
    # Day 21: the member account's log file in the organization trail's folder.
    lf2 = [
        r | {"eventTime": r["eventTime"].replace("2024-12-12", "2026-11-21")}
        for r in _logfile(MEMBER)
    ]
    arc.put(MEMBER, d21, [*_noise(20, "m21", MEMBER), *lf2], org=ORG)
    arc.put(MEMBER, d21, _noise(25, "m21b", MEMBER), org=ORG)
    # Outside --since/--until, and folders that are not a trail's: never read.
    arc.put(PRIMARY, d18, [record(eventID="outside-18", eventTime="2026-11-18T10:00:00Z")])
    arc.put(MEMBER, d22, [record(eventID="outside-22", eventTime="2026-11-22T10:00:00Z")], org=ORG)
    s3.put_object(
        Bucket=BUCKET,
        Key=f"AWSLogs/{PRIMARY}/CloudTrail-Digest/us-east-1/2026/11/20/digest.json.gz",
        Body=b"not a log file",
    )
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/not-an-account/CloudTrail/x", Body=b"ignored")
    return arc


def _run(*args: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = cli.main(["backfill", "--bucket", BUCKET, *args], out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


D19, D20, D21 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)


def test_both_layouts_over_three_days_in_time_order(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run("--since", "2026-11-19", "--until", "2026-11-21")
    assert code == 0, capsys.readouterr().err
    assert lines == archive.expected({D19, D20, D21})

    by_id = {line["event_id"]: line for line in lines}
    assert "outside-18" not in by_id
    assert "outside-22" not in by_id
    assert by_id["regional-update"]["verdict"] == "root-key-deactivated"
    assert by_id["regional-update"]["source"].startswith(
        f"s3://{BUCKET}/AWSLogs/{ORG}/{MEMBER}/CloudTrail/eu-west-1/2026/11/19/"
    )
    assert by_id["late-create"]["source"].split("/")[-4:-1] == ["2026", "11", "20"]
    times = [line["event_time"] for line in lines]
    assert times == sorted(times)
    ids = [line["event_id"] for line in lines]
    assert ids.index("ss-create") == ids.index("ss-delete") - 1
    # The fixture log files' own verdicts are all there.
    verdicts = {line["verdict"] for line in lines}
    assert verdicts == {v.value for v in Verdict} - {"ignored"}
    assert {"account", "access_key_id", "principal_type", "assumed_root"} <= lines[0].keys()

    err = capsys.readouterr().err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("backfill: 6 files listed, 2 skipped by prefilter,")
    assert f"{len(lines)} records matched" in summary
    assert "0 unreadable" in summary
    assert "\r" not in err  # no progress bar when stderr is not a terminal


def test_since_and_until_select_the_day_folders(archive: Archive) -> None:
    code, lines = _run("--since", "2026-11-21", "--until", "2026-11-21")
    assert code == 0
    assert lines == archive.expected({D21})
    assert lines
    assert {line["account"] for line in lines} == {MEMBER}

    code, lines = _run("--since", "2026-11-19", "--until", "2026-11-19")
    assert [line["event_id"] for line in lines] == ["regional-update"]

    code, lines = _run("--since", "2026-11-23", "--until", "2026-11-24")
    assert (code, lines) == (0, [])


def test_the_prefix_goes_before_awslogs(s3: Any) -> None:
    prefixed = Archive(s3, prefix="trails/prod/")
    prefixed.put(PRIMARY, D20, [record(eventID="under-prefix", eventTime="2026-11-20T10:00:00Z")])
    Archive(s3).put(PRIMARY, D20, [record(eventID="no-prefix")])
    code, lines = _run("--prefix", "trails/prod", "--since", "2026-11-20", "--until", "2026-11-20")
    assert code == 0
    assert [line["event_id"] for line in lines] == ["under-prefix"]
    assert lines == prefixed.expected({D20})


def test_an_unreadable_object_is_reported_and_exits_2_after_the_rest(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = archive.put(MEMBER, D21, [], org=ORG, body=gzip.compress(b'{"Records":[')[:-4])
    plain = archive.put(PRIMARY, D21, [], body=b"<html>not a log</html>")
    del archive.objects[broken], archive.objects[plain]

    code, lines = _run("--since", "2026-11-19", "--until", "2026-11-21")
    assert code == 2
    assert lines == archive.expected({D19, D20, D21})
    err = capsys.readouterr().err
    assert f"s3://{BUCKET}/{broken}: not a CloudTrail log file" in err
    assert f"s3://{BUCKET}/{plain}: not a CloudTrail log file" in err
    assert "2 unreadable" in err.strip().splitlines()[-1]


def test_a_missing_bucket_is_a_clear_error(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _run("--bucket", "no-such-archive", "--since", "2026-11-20")
    assert (code, lines) == (2, [])
    assert "bucket 'no-such-archive' does not exist" in capsys.readouterr().err


def test_an_object_gone_between_listing_and_reading_names_its_code(s3: Any) -> None:
    archive = s3_archive(BUCKET, workers=1)
    key = f"AWSLogs/{PRIMARY}/CloudTrail/us-east-1/2026/11/20/gone.json.gz"
    with pytest.raises(ArchiveError, match=r"^cannot read \(NoSuchKey\): "):
        archive.fetch(key)


# ---------------------------------------------------------------------------------------------
# --apply


@pytest.fixture
def detector_env(sandbox: SandboxStack, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in sandbox.detector_env().items():
        monkeypatch.setenv(name, value)
    sandbox.aws.set_root_key_present(True)
    yield
    for handler in list(get_logger().handlers):  # --apply configured logging to stderr
        get_logger().removeHandler(handler)


@pytest.mark.usefixtures("detector_env")
def test_apply_runs_the_pipeline_once_per_event(s3: Any, sandbox: SandboxStack) -> None:
    arc = Archive(s3)
    create = record(eventID="apply-create", eventTime="2026-11-19T09:00:00Z")
    deactivate = update_record(
        "Inactive", KEY, eventID="apply-deactivate", eventTime="2026-11-20T09:00:00Z"
    )
    for_user = record(
        eventID="apply-user-key",
        eventTime="2026-11-20T10:00:00Z",
        requestParameters={"userName": "bob"},
    )
    # The deactivation is listed first (a later day, an earlier key): order comes from time.
    arc.put(MEMBER, D20, [*_noise(10, "a", MEMBER), for_user], org=ORG)
    arc.put(PRIMARY, D20, [deactivate, *_noise(10, "b", PRIMARY)])
    arc.put(PRIMARY, D19, [create])

    code, first = _run("--since", "2026-11-19", "--until", "2026-11-20", "--apply")
    assert code == 0, first
    assert [line["event_id"] for line in first] == [
        "apply-create",
        "apply-deactivate",
        "apply-user-key",
    ]
    assert [line["verdict"] for line in first] == [
        "root-key-created",
        "root-key-deactivated",
        "root-created-user-key",
    ]
    assert "finding-imported" in first[0]["actions"]
    assert "alerted" in first[0]["actions"]
    assert "replied" in first[1]["actions"]
    assert first[0]["source"].startswith(f"s3://{BUCKET}/AWSLogs/{PRIMARY}/CloudTrail/")
    (finding,) = sandbox.aws.findings()
    assert finding["Resources"][0]["Details"]["AwsIamAccessKey"]["Status"] == "Inactive"
    top = sandbox.slack.top_level(SLACK_CHANNEL)
    assert len(top) == 2  # the key's alert, the notice about bob's key
    messages = len(sandbox.slack.messages(SLACK_CHANNEL))

    code, again = _run("--since", "2026-11-19", "--until", "2026-11-20", "--apply")
    assert code == 0
    assert [line["event_id"] for line in again] == [line["event_id"] for line in first]
    assert all(line["status"] == "duplicate" and not line["actions"] for line in again)
    assert len(sandbox.aws.findings()) == 1
    assert len(sandbox.slack.messages(SLACK_CHANNEL)) == messages


def test_apply_without_configuration_names_the_variable(
    archive: Archive,
    sandbox: SandboxStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in sandbox.detector_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LEDGER_TABLE")
    code, lines = _run("--since", "2026-11-20", "--apply")
    assert (code, lines) == (2, [])
    assert "LEDGER_TABLE" in capsys.readouterr().err


@pytest.mark.usefixtures("detector_env")
def test_apply_reports_a_failed_event_and_a_second_run_completes_it(
    s3: Any, sandbox: SandboxStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    Archive(s3).put(PRIMARY, D20, [record(eventID="apply-fails", eventTime="2026-11-20T09:00:00Z")])
    monkeypatch.setenv("SLACK_CHANNEL_ID", "C0NOSUCHCHAN")  # Slack answers channel_not_found

    code, (failed,) = _run("--since", "2026-11-20", "--until", "2026-11-20", "--apply")
    assert code == 1
    assert failed["verdict"] == "root-key-created"
    assert "channel_not_found" in failed["error"]
    assert len(sandbox.aws.findings()) == 1  # what did succeed stays done

    monkeypatch.setenv("SLACK_CHANNEL_ID", SLACK_CHANNEL)
    code, (done,) = _run("--since", "2026-11-20", "--until", "2026-11-20", "--apply")
    assert code == 0, done
    assert "alerted" in done["actions"]
    assert len(sandbox.aws.findings()) == 1
    assert len(sandbox.slack.top_level(SLACK_CHANNEL)) == 1


def test_bombs_among_the_objects_are_refused_and_the_rest_is_read(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight workers, eight bombs: each is reported unreadable, none is parsed (a gzip past
    the size cap stops decompressing there; a JSON bomb is costed before json.loads)."""
    root = json.dumps(record(), separators=(",", ":")).encode()
    json_bomb = gzip.compress(b'{"Records":[' + root + b"," + b"[]," * 10_000_000 + b"{}]}")
    gzip_bomb = gzip.compress(b'{"Records":[' + root + b"," + b" " * (65 << 20) + b"{}]}")
    bombs = [
        archive.put(MEMBER, D21, [], org=ORG, body=json_bomb if i % 2 else gzip_bomb)
        for i in range(8)
    ]
    for key in bombs:
        del archive.objects[key]

    code, lines = _run("--since", "2026-11-19", "--until", "2026-11-21", "--workers", "8")
    assert code == 2
    assert lines == archive.expected({D19, D20, D21})
    err = capsys.readouterr().err
    for key in bombs:
        assert f"s3://{BUCKET}/{key}: not a CloudTrail log file" in err
    assert "8 unreadable" in err.strip().splitlines()[-1]
