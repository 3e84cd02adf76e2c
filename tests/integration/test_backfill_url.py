"""``backfill --bucket s3://bucket/prefix``: the URL form reads what the two options read."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from detector import cli
from tests.factories import record
from tests.integration.test_backfill import BUCKET, D20, PRIMARY, Archive, s3  # noqa: F401

pytestmark = pytest.mark.integration


def _run(*args: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = cli.main(["backfill", *args, "--since", "2026-11-20", "--until", "2026-11-20"], out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def prefixed(s3: Any) -> Archive:  # noqa: F811 - the fixture imported above
    archive = Archive(s3, prefix="trails/prod/")
    archive.put(PRIMARY, D20, [record(eventID="under-prefix", eventTime="2026-11-20T10:00:00Z")])
    Archive(s3).put(PRIMARY, D20, [record(eventID="no-prefix")])
    return archive


@pytest.mark.parametrize("url", [f"s3://{BUCKET}/trails/prod", f"s3://{BUCKET}/trails/prod/"])
def test_an_s3_url_names_the_bucket_and_the_prefix(prefixed: Archive, url: str) -> None:
    code, lines = _run("--bucket", url)
    assert code == 0
    assert lines == prefixed.expected({D20})
    assert [line["event_id"] for line in lines] == ["under-prefix"]


def test_the_old_form_reads_the_same(prefixed: Archive) -> None:
    assert _run("--bucket", BUCKET, "--prefix", "trails/prod") == _run(
        "--bucket", f"s3://{BUCKET}/trails/prod"
    )


def test_a_url_without_a_prefix_reads_the_bucket_root(prefixed: Archive) -> None:
    code, lines = _run("--bucket", f"s3://{BUCKET}")
    assert code == 0
    assert [line["event_id"] for line in lines] == ["no-prefix"]


def test_the_prefix_given_twice_is_refused(
    prefixed: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run("--bucket", f"s3://{BUCKET}/trails/prod", "--prefix", "trails/prod")
    assert (code, lines) == (2, [])
    assert "prefix is given twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "bad",
    [
        "https://org-trail-archive.s3.amazonaws.com/trails",
        "s3://",
        "s3:///trails/prod",
        "s3://Org_Trail/x",
        "s3://org-trail-archive/x?versionId=1",
    ],
)
def test_a_bad_url_is_a_clear_error_before_anything_is_read(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["backfill", "--bucket", bad, "--since", "2026-11-20"], io.StringIO())
    assert stop.value.code == 2
    assert "not a bucket name or an s3://bucket/prefix URL" in capsys.readouterr().err
