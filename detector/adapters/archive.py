"""A CloudTrail log archive in S3: list its day folders and read its log objects.

Every call goes through the AWS_CALL retry policy; a failure leaves as ArchiveError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from detector import retry
from detector.adapters.aws_errors import aws_call
from detector.domain.event import ACCOUNT_ID_PATTERN
from detector.errors import ArchiveError, AwsCallError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from mypy_boto3_s3 import S3Client

_ACCOUNT_DIR = re.compile(f"^{ACCOUNT_ID_PATTERN}$")
_ORG_DIR = re.compile(r"^o-[a-z0-9]{10,32}$")
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class LogObject:
    """One object in a day folder."""

    key: str
    size: int


class S3Archive:
    """A CloudTrail archive: ``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/Y/M/D/``.

    Every call goes through the AWS_CALL retry policy (botocore itself makes one attempt).
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        prefix: str = "",
        retry_env: retry.RetryEnv | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.root = logs_root(prefix)
        self._retry_env = retry_env or retry.RetryEnv()

    def _call(self, service: str, fn: Callable[[], _T]) -> _T:
        result: _T = retry.build(retry.AWS_CALL, self._retry_env)(aws_call, service, fn)
        return result

    def _list(self, prefix: str, delimiter: str | None) -> tuple[list[str], list[LogObject]]:
        folders: list[str] = []
        objects: list[LogObject] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            page = self._call("s3.ListObjectsV2", lambda: self.s3.list_objects_v2(**kwargs))
            folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []) if "Prefix" in p)
            objects.extend(
                LogObject(o["Key"], int(o.get("Size", 0)))
                for o in page.get("Contents", [])
                if "Key" in o and not o["Key"].endswith("/")
            )
            if not page.get("IsTruncated"):
                return folders, objects
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def _folders(self, prefix: str) -> list[str]:
        """The sub-folders of ``prefix`` (one level, ``Delimiter='/'``)."""
        return self._list(prefix, "/")[0]

    def _region_folders(self, pool: Executor) -> list[str]:
        """``.../CloudTrail/<region>/`` of every account (and organization) found under AWSLogs/.

        Discovered level by level with delimited listings, the calls of a level in parallel.
        """
        top = self._folders(self.root)
        trails = [f"{p}CloudTrail/" for p in top if _ACCOUNT_DIR.match(_leaf(p))]
        orgs = [p for p in top if _ORG_DIR.match(_leaf(p))]
        for members in pool.map(self._folders, orgs):
            trails.extend(f"{p}CloudTrail/" for p in members if _ACCOUNT_DIR.match(_leaf(p)))
        regions: list[str] = []
        for found in pool.map(self._folders, trails):
            regions.extend(found)
        return sorted(regions)

    def log_objects(self, pool: Executor, days: Sequence[date]) -> list[LogObject]:
        """Every object in the day folders of ``days`` of every account and region, by key.

        Raises:
            ArchiveError: the bucket or a folder cannot be listed.
        """
        try:
            day_prefixes = [
                f"{region}{day:%Y/%m/%d}/" for region in self._region_folders(pool) for day in days
            ]
            found: list[LogObject] = []
            for objects in pool.map(lambda p: self._list(p, None)[1], day_prefixes):
                found.extend(objects)
        except AwsCallError as exc:
            raise ArchiveError(self._listing_problem(exc)) from exc
        return sorted(found, key=lambda o: o.key)

    def _listing_problem(self, exc: AwsCallError) -> str:
        code, status = exc.code, exc.status
        if status is None:  # S3 never answered
            return f"cannot list s3://{self.bucket}/: {exc.detail}"
        if code == "NoSuchBucket":
            return f"bucket {self.bucket!r} does not exist"
        where = f"s3://{self.bucket}/{self.root}"
        if code in _DENIED_CODES or status == 403:
            return f"access denied listing {where} ({code}): {exc.detail}"
        return f"cannot list {where} ({code}): {exc.detail}"

    def fetch(self, key: str) -> bytes:
        """The object's bytes (body read inside the retried call: a cut stream is retried).

        Raises:
            ArchiveError: the object cannot be read; its message says why.
        """

        def get() -> bytes:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return body.read()
            finally:
                body.close()

        try:
            return self._call("s3.GetObject", get)
        except AwsCallError as exc:
            raise ArchiveError(f"cannot read ({exc.code}): {exc.detail}") from exc

    def url(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"


def logs_root(prefix: str) -> str:
    """Where the trail's ``AWSLogs/`` folder is, given the trail's S3 key prefix."""
    prefix = prefix.strip("/")
    if prefix == "AWSLogs" or prefix.endswith("/AWSLogs"):  # given with AWSLogs: forgive it
        return f"{prefix}/"
    return f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"


def _leaf(folder: str) -> str:
    return folder.rstrip("/").rsplit("/", 1)[-1]


def s3_archive(bucket: str, prefix: str = "", *, workers: int) -> S3Archive:
    """The archive through an S3 client with a connection per worker; AWS_ENDPOINT_URL is
    honoured as everywhere."""
    import boto3  # noqa: PLC0415 - classify must not pay for boto3
    from botocore.config import Config  # noqa: PLC0415

    from detector.adapters.aws import botocore_config  # noqa: PLC0415

    session = boto3.session.Session()
    config = botocore_config().merge(
        Config(
            max_pool_connections=max(10, workers + 2),
            # Log objects are gzip, whose CRC-32 zlib checks over every byte: S3's own checksum
            # would be computed a second time for nothing.
            response_checksum_validation="when_required",
        )
    )
    client: S3Client = session.client(
        "s3", region_name=session.region_name or "us-east-1", config=config
    )
    return S3Archive(client, bucket, prefix)
