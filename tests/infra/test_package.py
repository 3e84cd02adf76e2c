"""`make package`'s zip works beside boto3 alone, as in the Lambda runtime.

The zip is built with the same script `make package` runs (infra/package.py, pip from the package
index), unpacked into a temporary directory, and imported by a fresh interpreter whose path holds
only that directory and boto3 with its own dependencies (what the Lambda Python runtime
provides): no site-packages, so slack_sdk and tenacity can only come from the zip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
# What the Lambda Python runtime ships besides the standard library (import names).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

pytestmark = pytest.mark.slow


def _package_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_package", ROOT / "infra" / "package.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(zip, build tree) made by infra/package.py, exactly as `make package` runs it."""
    work = tmp_path_factory.mktemp("package")
    out, tree = work / "lambda.zip", work / "build"
    subprocess.run(  # noqa: S603 - our own script with our own interpreter
        [
            sys.executable,
            str(ROOT / "infra" / "package.py"),
            "--out",
            str(out),
            "--build-dir",
            str(tree),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=240,
    )
    return out, tree


@pytest.fixture(scope="module")
def lambda_path(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """[unzipped package, a directory holding only boto3 and its dependencies]."""
    work = tmp_path_factory.mktemp("lambda")
    task = work / "task"
    with zipfile.ZipFile(built[0]) as zf:
        zf.extractall(task)
    runtime = work / "runtime"
    runtime.mkdir()
    site = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_MODULES:
        source = site / name if (site / name).is_dir() else site / f"{name}.py"
        assert source.exists(), source
        (runtime / source.name).symlink_to(source)
    return [task, runtime]


def test_zip_holds_the_detector_and_its_deps_but_not_boto3(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[0]) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {"detector", "slack_sdk", "tenacity"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"}
    assert "six.py" not in tops
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert "detector/handler.py" in names
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_zip_is_reproducible(built: tuple[Path, Path], tmp_path: Path) -> None:
    package = _package_module()
    again = tmp_path / "again.zip"
    package.write_zip(built[1], again)
    digest = hashlib.sha256
    assert digest(again.read_bytes()).digest() == digest(built[0].read_bytes()).digest()


def test_requirements_come_from_pyproject_minus_the_runtime() -> None:
    pins = _package_module().lambda_requirements(ROOT / "pyproject.toml")
    assert [p.split("==")[0] for p in pins] == ["slack-sdk", "tenacity"]
    assert all("==" in p for p in pins)


PROBE = """
import json, sys
sys.path[:0] = sys.argv[1:3]
task = sys.argv[1]
import slack_sdk, tenacity, boto3
from detector import handler
origins = {m.__name__: m.__file__ for m in (slack_sdk, tenacity, handler, boto3)}
event = json.loads(sys.stdin.read())
print(json.dumps({"origins": origins, "result": handler.lambda_handler(event, None)}))
"""


def test_unpacked_zip_imports_and_handles_an_event_beside_boto3_alone(
    lambda_path: list[Path], tmp_path: Path
) -> None:
    task, runtime = lambda_path
    event = (EVENTS / "eventbridge" / "root_console_signin.json").read_text()
    proc = subprocess.run(  # noqa: S603 - our interpreter, isolated (-I) and without site (-S)
        [sys.executable, "-I", "-S", "-c", PROBE, str(task), str(runtime)],
        input=event,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "AWS_REGION": "us-east-1",
            "SLACK_MODE": "disabled",
            "LOG_LEVEL": "WARNING",
            "LEDGER_TABLE": "root-key-detector-ledger",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing may be called for this event
        },
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    origins = {name: Path(path) for name, path in out["origins"].items()}
    for name in ("slack_sdk", "tenacity", "detector.handler"):
        assert origins[name].is_relative_to(task), (name, origins[name])
    assert origins["boto3"].parent.parent == runtime
    assert out["result"]["processed"] == 1
    (result,) = out["result"]["results"]
    assert result["verdict"] == "ignored"
