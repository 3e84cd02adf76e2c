"""``make docs-images``: pictures of what the detector posts, for the README (docs/*.png).

Runs the detector's real path on the embedded sandbox, as ``make demo`` does: a root access
key's alert, its thread of lifecycle replies (deactivated, deleted), a notice (a root
CreateAccessKey that failed) and a daily sweep's digest. Then it opens the Slack emulator's page
of the channel in headless Chromium, checks that the rendered page shows the alert's title,
fields and buttons, and writes one screenshot of each to ``docs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from detector import handler
from sandbox.aws import ACCOUNT_ID, patched_environ, set_root_key_flag
from sandbox.slack_emulator import StoredMessage
from sandbox.stack import SLACK_CHANNEL, SandboxStack, sample

DOCS = Path(__file__).resolve().parent.parent / "docs"
INSTALL_HINT = (
    "make docs-images needs Chromium, run headless. On Debian or Ubuntu:\n"
    "    sudo apt-get install -y chromium fonts-noto-color-emoji\n"
    "(or point CHROMIUM= at a Chromium or Chrome binary)."
)
WIDTH = 920  # CSS pixels: the sidebar and a message column as wide as a laptop's Slack
SCALE = 2  # device pixels per CSS pixel: sharp on high-density screens
BROWSER_TIMEOUT_S = 120
MEMBER = "210987654321"  # a member account whose role cannot be assumed in the sweep
MEMBER_ROLE = "root-key-detector-member"


def main(argv: Sequence[str] | None = None) -> int:
    """Post, render, check and photograph; exit 0 only when every picture was written."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.docs_images", description=__doc__)
    parser.add_argument("--chromium", default="chromium", help="the browser binary")
    parser.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go")
    args = parser.parse_args(argv)
    browser = shutil.which(args.chromium)
    if browser is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    camera = _Camera(browser, args.out)
    try:
        with SandboxStack() as stack:
            camera.page = lambda ts, replies: stack.slack.page_url(
                SLACK_CHANNEL, ts=ts, replies=replies
            )
            problems = _tell_the_story(stack, camera)
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        problems = [f"{Path(browser).name} exited with {exc.returncode}: " + "\n".join(tail)]
    except subprocess.TimeoutExpired:
        problems = [f"{Path(browser).name} did not finish within {BROWSER_TIMEOUT_S} s"]
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    for path in camera.written:
        print(f"wrote {os.path.relpath(path)}")
    return 1 if problems else 0


# --------------------------------------------------------------------------- the story


def _tell_the_story(stack: SandboxStack, camera: _Camera) -> list[str]:
    """Drive events and a sweep through the Lambda handler, photographing each message as it
    is posted; what the rendered alert lacks (empty when it shows everything)."""
    stack.aws.set_root_key_present(True)
    # A few minutes ago: the lifecycle events and the failed attempt come before "now".
    create = sample("root_create_access_key", now=datetime.now(UTC) - timedelta(minutes=3))
    _deliver(stack, [create], key_present=[True])
    (alert,) = stack.slack.top_level(SLACK_CHANNEL)
    problems = camera.check(alert)
    camera.snap("alert", alert.ts, replies=False, height=900)

    deactivate = _lifecycle(create, "UpdateAccessKey", 30, "Inactive")
    delete = _lifecycle(create, "DeleteAccessKey", 60)
    _deliver(stack, [deactivate, delete], key_present=[True, False])
    if len(stack.slack.replies(SLACK_CHANNEL, alert.ts)) != 2:
        problems.append("the alert's thread does not hold the two lifecycle replies")
    camera.snap("thread", alert.ts, replies=True, height=1800)

    _deliver(stack, [_failed_create(create)], key_present=[False])
    notice = stack.slack.top_level(SLACK_CHANNEL)[-1]
    camera.snap("notice", notice.ts, replies=False, height=900)

    # The daily sweep: a key IAM reports although no event said so, and a member account
    # whose role cannot be assumed (the sandbox's STS endpoint set to a closed port).
    stack.aws.set_root_key_present(True)
    set_root_key_flag(False, MEMBER)
    env = {
        **stack.detector_env(),
        "LOG_LEVEL": "ERROR",
        "MEMBER_ROLE_NAME": MEMBER_ROLE,
        "DETECTOR_ACCOUNT_ID": ACCOUNT_ID,
        "SWEEP_ACCOUNTS": f"{ACCOUNT_ID},{MEMBER}",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
    }
    with patched_environ(env):
        handler._runtime = None  # a fresh container reading this environment
        try:
            _quietly(lambda: handler.lambda_handler({"detector": "sweep"}, None))
        finally:
            handler._runtime = None
    digest = stack.slack.top_level(SLACK_CHANNEL)[-1]
    if "sweep" not in (digest.text or "").lower():
        problems.append(f"the sweep posted no digest (last message: {digest.text!r})")
    camera.snap("digest", digest.ts, replies=False, height=500)
    return problems


def _deliver(stack: SandboxStack, records: list[dict[str, Any]], key_present: list[bool]) -> None:
    # Triage from Slack on, as a deployment with SlackInteractivity has it: the alert shows its
    # Acknowledge, Suppress and Resolve buttons.
    with patched_environ({**stack.interactivity_env(), "LOG_LEVEL": "ERROR"}):
        handler._runtime = None
        for record, present in zip(records, key_present, strict=True):
            stack.aws.set_root_key_present(present)
            stack.put_cloudtrail_event(record)
            routed = stack.receive_routed()
            if not routed:
                raise RuntimeError(f"the rule did not route {record['eventName']}")
            for event in routed:
                _quietly(lambda event=event: handler.lambda_handler(event, None))
        handler._runtime = None


def _quietly(invoke: Callable[[], object]) -> None:
    """One handler invocation, its EMF metrics line (stdout, for CloudWatch) not printed."""
    with contextlib.redirect_stdout(io.StringIO()):
        invoke()


def _shifted(create: dict[str, Any], seconds: int) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(create))
    when = datetime.strptime(create["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    record["eventID"] = str(uuid.uuid4())
    record["eventTime"] = (when + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def _lifecycle(
    create: dict[str, Any], name: str, seconds: int, status: str | None = None
) -> dict[str, Any]:
    record = _shifted(create, seconds)
    key = create["responseElements"]["accessKey"]["accessKeyId"]
    record.update(
        eventName=name,
        requestParameters={"accessKeyId": key, **({"status": status} if status else {})},
        responseElements=None,
    )
    return record


def _failed_create(create: dict[str, Any]) -> dict[str, Any]:
    """Root tried to create a third key: IAM refused (two keys at most)."""
    record = _shifted(create, 120)
    record.update(
        errorCode="LimitExceededException",
        errorMessage="Cannot exceed quota for AccessKeysPerUser: 2",
        responseElements=None,
    )
    return record


# --------------------------------------------------------------------------- the browser


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="docs-images-") as profile:
        command = [
            browser,
            "--headless",
            # Chromium refuses to run as root with its sandbox (containers, CI runners).
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ]
        return subprocess.run(command, capture_output=True, timeout=BROWSER_TIMEOUT_S, check=True)  # noqa: S603


class _Text(HTMLParser):
    """The text a reader sees (what style and title elements hold left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script", "title"}:
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script", "title"}:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


class _Camera:
    """Chromium pointed at the emulator's page: DOM checks and screenshots."""

    def __init__(self, browser: str, out: Path) -> None:
        self.browser = browser
        self.out = out
        self.page: Callable[[str, bool], str] = lambda ts, replies: ""
        self.written: list[Path] = []

    def snap(self, name: str, ts: str, *, replies: bool, height: int) -> None:
        """``docs/slack-NAME.png``: the thread of ``ts``, trimmed below its last line."""
        path = self.out / f"slack-{name}.png"
        _chromium(
            self.browser,
            f"--screenshot={path}",
            f"--window-size={WIDTH},{height}",
            f"--force-device-scale-factor={SCALE}",
            self.page(ts, replies),
        )
        _trim(path, margin=12 * SCALE)
        self.written.append(path)

    def check(self, alert: StoredMessage) -> list[str]:
        """What of the alert's title, field labels and button labels the rendered page lacks."""
        dom = _chromium(self.browser, "--dump-dom", self.page(alert.ts, False)).stdout
        reader = _Text()
        reader.feed(dom.decode("utf-8"))
        shown = " ".join("".join(reader.parts).split())
        expected: list[str] = []
        for block in alert.blocks or []:
            if block["type"] == "header":
                expected.append(block["text"]["text"])
            for field in block.get("fields", []):
                expected.append(field["text"].split("\n", 1)[0].strip("*"))
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    expected.append(element["text"]["text"])
        problems = [f"the page does not show {text!r}" for text in expected if text not in shown]
        if len(expected) < 8:
            problems.append(f"the alert has too few titles, fields and buttons: {expected}")
        if "<!date^" in shown or "*" in shown:
            problems.append("the page shows raw mrkdwn")
        return problems


# --------------------------------------------------------------------------- PNG trimming


def _trim(path: Path, *, margin: int) -> None:
    """Cut the blank run of rows at the bottom of a screenshot, keeping ``margin`` of them.

    A row PNG filters as "Up" with nothing but zero bytes repeats the row above it (PNG
    specification, "Filtering"): the bottom run of such rows is the page's empty end. The rows
    kept are copied as they are filtered (a row's filter reads only rows above it).
    """
    chunks = _chunks(path.read_bytes())
    width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or kind not in {2, 6} or interlace:
        return  # not what Chromium writes: leave it as it is
    stride = width * (4 if kind == 6 else 3)
    raw = zlib.decompress(b"".join(body for name, body in chunks if name == b"IDAT"))
    blank = bytes(stride)
    first = height
    while first > 1:
        row = (first - 1) * (1 + stride)
        if raw[row] != 2 or raw[row + 1 : row + 1 + stride] != blank:  # 2: the Up filter
            break
        first -= 1
    keep = min(height, first + margin)
    header = struct.pack(">IIBBBBB", width, keep, depth, kind, 0, 0, 0)
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    out += [_chunk(n, b) for n, b in chunks if n not in {b"IHDR", b"IDAT", b"IEND"}]
    out.append(_chunk(b"IDAT", zlib.compress(raw[: keep * (1 + stride)], 9)))
    out.append(_chunk(b"IEND", b""))
    path.write_bytes(b"".join(out))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        out.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return out


def _chunk(name: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(name + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", crc)


if __name__ == "__main__":
    sys.exit(main())
