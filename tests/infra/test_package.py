"""`make package`'s zip runs beside boto3 alone, as in the Lambda runtime, and from its bytecode.

The zip is built with the same script `make package` runs (infra/package.py, pip from the package
index), unpacked into a temporary directory, and imported by a fresh CPython 3.13 (the runtime's
version, found as `make package` finds it) whose path holds only that directory and boto3 with
its own dependencies (what the Lambda Python runtime provides): no site-packages, so slack_sdk and
tenacity can only come from the zip.

Without CPython 3.13 these tests fail rather than skip: `make package` itself cannot build the zip
without it (the bytecode must come from the runtime's minor version), so a machine that lacks it
cannot ship, and CI (.ci/run: `make test` on a fresh machine) must say so.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

from tests.infra import templates

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
CACHE_TAG = "cpython-313"

pytestmark = pytest.mark.slow


def _package_module() -> ModuleType:
    return templates.infra_script("package")


@pytest.fixture(scope="module")
def lambda_python() -> str:
    """The CPython 3.13 `make package` compiles with ($LAMBDA_PYTHON, python3.13, pyenv's 3.13)."""
    try:
        python: str = _package_module().find_lambda_python(os.environ.get("LAMBDA_PYTHON"))
    except SystemExit as exc:
        missing = str(exc)
    else:
        return python
    pytest.fail(missing, pytrace=False)


def _build(out: Path, tree: Path) -> None:
    proc = subprocess.run(  # noqa: S603 - our own script with our own interpreter
        [
            sys.executable,
            str(ROOT / "infra" / "package.py"),
            "--out",
            str(out),
            "--build-dir",
            str(tree),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, lambda_python: str) -> tuple[Path, Path]:
    """(zip, build tree) made by infra/package.py, exactly as `make package` runs it."""
    work = tmp_path_factory.mktemp("package")
    out, tree = work / "lambda.zip", work / "build"
    _build(out, tree)
    return out, tree


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory, lambda_python: str) -> Path:
    """boto3 (pyproject's pin) and its dependencies for 3.13, compiled, as the runtime has them."""
    runtime = tmp_path_factory.mktemp("runtime")
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (boto3_pin,) = [p for p in pins if p.startswith("boto3==")]
    subprocess.run(  # noqa: S603 - pip with fixed arguments
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-compile", "--target", str(runtime), "--python-version", "3.13"),
            *("--implementation", "cp", "--only-binary=:all:", boto3_pin),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    subprocess.run(  # noqa: S603 - the 3.13 interpreter, fixed arguments
        [lambda_python, "-I", "-m", "compileall", "-q", str(runtime)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    return runtime


@pytest.fixture(scope="module")
def task_dir(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked, as in /var/task."""
    task = tmp_path_factory.mktemp("task")
    with zipfile.ZipFile(built[0]) as zf:
        zf.extractall(task)
    return task


def test_zip_holds_the_detector_its_deps_and_their_bytecode_but_not_boto3(
    built: tuple[Path, Path],
) -> None:
    with zipfile.ZipFile(built[0]) as zf:
        names = zf.namelist()
        infos = zf.infolist()
        contents = {n: zf.read(n) for n in names}
    tops = {n.split("/", 1)[0] for n in names}
    assert {"detector", "slack_sdk", "tenacity"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"}
    assert "six.py" not in tops
    assert "detector/handler.py" in names
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    # Exactly one pyc per module, where a 3.13 interpreter without -O looks for it; no other.
    sources = [PurePosixPath(n) for n in names if n.endswith(".py")]
    expected = {
        (source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc").as_posix()
        for source in sources
    }
    caches = {n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))}
    assert caches == expected
    # This machine's build directory is nowhere in the zip (the pycs name /var/task/...).
    build_dir = str(built[1]).encode()
    assert not [n for n, data in contents.items() if build_dir in data]


def test_the_zip_leaves_out_what_only_the_command_line_runs_and_nothing_it_holds_needs_it(
    task_dir: Path,
) -> None:
    package = task_dir / "detector"
    shipped = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    shipped = {n for n in shipped if n.split("/", 1)[0] != "__pycache__"}
    left_out = _package_module().COMMAND_LINE_ONLY
    assert not {n for n in shipped for out in left_out if n == out or n.startswith(out + "/")}
    assert {"handler.py", "pipeline.py", "sweep.py", "wiring.py"} <= shipped
    # Every module the zip holds imports only what the zip (or the runtime) holds.
    missing = {
        f"{source}: {module}"
        for source in sorted((task_dir / "detector").rglob("*.py"))
        for module in _absolute_imports(source)
        if module.startswith("detector.")
        and not _in_zip(task_dir, module)
        and not _in_zip(task_dir, module.rsplit(".", 1)[0])  # `from x import name`
    }
    assert missing == set()


def _absolute_imports(source: Path) -> set[str]:
    """The modules ``source`` imports absolutely (``from x import y`` gives ``x`` and ``x.y``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _in_zip(task: Path, module: str) -> bool:
    path = task.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


BYTECODE_CHECK = """
import importlib.util, json, marshal, pathlib, sys
task = pathlib.Path(sys.argv[1])
problems = []
sources = sorted(task.rglob("*.py"))
for source in sources:
    rel = source.relative_to(task).as_posix()
    data = pathlib.Path(importlib.util.cache_from_source(str(source))).read_bytes()
    if data[:4] != importlib.util.MAGIC_NUMBER:
        problems.append(f"{rel}: magic {data[:4].hex()}")
    if int.from_bytes(data[4:8], "little") != 0b01:  # hash-based, source not checked
        problems.append(f"{rel}: flags {data[4:8].hex()}")
    if data[8:16] != importlib.util.source_hash(source.read_bytes()):
        problems.append(f"{rel}: compiled from other source text")
    if marshal.loads(data[16:]).co_filename != f"/var/task/{rel}":
        problems.append(f"{rel}: co_filename {marshal.loads(data[16:]).co_filename}")
print(json.dumps({"modules": len(sources), "problems": problems}))
"""


def test_bytecode_is_the_shipped_sources_compiled_by_3_13_unchecked_hash(
    task_dir: Path, lambda_python: str
) -> None:
    proc = subprocess.run(  # noqa: S603 - the 3.13 interpreter, isolated
        [lambda_python, "-I", "-S", "-c", BYTECODE_CHECK, str(task_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["modules"] > 100  # detector/, slack_sdk, tenacity
    assert out["problems"] == []


def test_zip_is_reproducible(built: tuple[Path, Path], tmp_path: Path) -> None:
    """A second build, in another directory, gives the same bytes (bytecode included)."""
    again = tmp_path / "elsewhere" / "again.zip"
    _build(again, tmp_path / "elsewhere" / "build-tree")
    digest = hashlib.sha256
    assert digest(again.read_bytes()).hexdigest() == digest(built[0].read_bytes()).hexdigest()


def test_the_release_zip_is_named_after_the_one_version(built: tuple[Path, Path]) -> None:
    import detector  # noqa: PLC0415

    out = built[0]
    release = out.with_name(f"root-key-detector-{detector.__version__}.zip")
    assert release.read_bytes() == out.read_bytes()
    assert _package_module().detector_version() == detector.__version__


def test_pyproject_takes_its_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "detector.__version__"}


def test_requirements_come_from_pyproject_minus_the_runtime() -> None:
    pins = _package_module().lambda_requirements(ROOT / "pyproject.toml")
    assert [p.split("==")[0] for p in pins] == ["slack-sdk", "tenacity"]
    assert all("==" in p for p in pins)


def test_an_interpreter_other_than_cpython_3_13_is_refused_with_what_to_install(
    tmp_path: Path,
) -> None:
    package = _package_module()
    missing = str(tmp_path / "python3.13")
    with pytest.raises(SystemExit, match=r"(?s)python3\.13: .*Install CPython 3\.13"):
        package.find_lambda_python(missing)
    if sys.implementation.cache_tag != CACHE_TAG:  # the venv's own interpreter (3.11+)
        with pytest.raises(SystemExit, match=f"it is {sys.implementation.cache_tag}, not"):
            package.find_lambda_python(sys.executable)


# Run by the 3.13 interpreter: import the handler from the unpacked zip and handle one event,
# recording every file the compiler is handed source text from.
#
# How "nothing of the zip is compiled" is observed: the import system turns a source file into
# code with the builtin compile() (importlib's SourceLoader.source_to_code), and compile() raises
# the audit event "compile" with the file name (PEP 578; "Audit events table" in the Python
# documentation). An audit hook sees every such call, however compile was looked up, which a
# replaced builtins.compile would not guarantee; and it needs no knowledge of importlib's
# internals, unlike inspecting loaders. When a valid pyc is found, no compile happens at all (an
# unchecked-hash pyc is used without even reading the source). The hook stays on while the first
# event is handled, so a module the handler imports lazily counts too.
# test_the_probe_sees_modules_compiled_from_source shows the hook does see compilation when the
# pycs are missing, so an empty list is evidence, not an accident.
PROBE = """
import json, sys
task, runtime = sys.argv[1:3]
compiled = []
def audit(event, args):
    if event == "compile":
        compiled.append(str(args[1]))
sys.addaudithook(audit)
sys.path[:0] = [task, runtime]
import slack_sdk, tenacity, boto3
from detector import handler
origins = {m.__name__: m.__file__ for m in (slack_sdk, tenacity, handler, boto3)}
event = json.loads(sys.stdin.read())
result = handler.lambda_handler(event, None)
from_zip = sorted(
    name for name, m in list(sys.modules.items())
    if (getattr(m, "__file__", None) or "").startswith(task + "/")
)
print(json.dumps(
    {"origins": origins, "from_zip": from_zip, "compiled": compiled, "result": result}
))
"""


def _probe(python: str, task: Path, runtime: Path, cwd: Path, *flags: str) -> dict[str, object]:
    event = (EVENTS / "eventbridge" / "root_console_signin.json").read_text()
    proc = subprocess.run(  # noqa: S603 - the 3.13 interpreter, isolated (-I), without site (-S)
        [python, "-I", "-S", *flags, "-c", PROBE, str(task), str(runtime)],
        input=event,
        capture_output=True,
        text=True,
        cwd=cwd,
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
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _zip_files(compiled: object, task: Path) -> list[str]:
    assert isinstance(compiled, list)
    return sorted(
        Path(name).relative_to(task).as_posix()
        for name in compiled
        if Path(name).is_relative_to(task)
    )


def test_unpacked_zip_handles_an_event_beside_boto3_alone_without_compiling_itself(
    task_dir: Path, runtime_dir: Path, lambda_python: str, tmp_path: Path
) -> None:
    out = _probe(lambda_python, task_dir, runtime_dir, tmp_path)
    assert isinstance(out["origins"], dict)
    origins = {name: Path(path) for name, path in out["origins"].items()}
    for name in ("slack_sdk", "tenacity", "detector.handler"):
        assert origins[name].is_relative_to(task_dir), (name, origins[name])
    assert origins["boto3"].parent.parent == runtime_dir
    assert isinstance(out["from_zip"], list)
    assert {"detector.handler", "slack_sdk", "tenacity"} <= set(out["from_zip"])
    assert _zip_files(out["compiled"], task_dir) == []
    assert isinstance(out["result"], dict)
    assert out["result"]["processed"] == 1
    (result,) = out["result"]["results"]
    assert result["verdict"] == "ignored"


def test_the_probe_sees_modules_compiled_from_source(
    task_dir: Path, runtime_dir: Path, lambda_python: str, tmp_path: Path
) -> None:
    """The same probe on the zip's sources alone reports the compilation the pycs save."""
    sources = tmp_path / "sources-only"
    for path in task_dir.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = sources / path.relative_to(task_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    out = _probe(lambda_python, sources, runtime_dir, tmp_path, "-B")  # -B: write no pyc
    compiled = _zip_files(out["compiled"], sources)
    assert {"detector/handler.py", "slack_sdk/__init__.py", "tenacity/__init__.py"} <= set(compiled)
    assert isinstance(out["from_zip"], list)
    assert len(compiled) == len(out["from_zip"])  # every module imported from it was compiled
