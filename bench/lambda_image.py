"""What the Lambda runtime runs, on this machine: CPython 3.13, the built zip, and a boto3.

The Python 3.13 runtime unpacks the zip into its task root and provides boto3 itself (the zip
carries none, see ``infra/package.py``). Here: the zip is unpacked into ``build/bench/task``, and
boto3 with the exact versions this venv tests against (boto3 as pinned in ``pyproject.toml``, and
its botocore, s3transfer, jmespath, urllib3, python-dateutil, six as installed here) is
installed once for 3.13 with ``pip install --target`` into ``build/bench/``. A child process then
gets the task root first on its path, that boto3 after it, and ``PYTHONDONTWRITEBYTECODE``: the
task root is read-only in Lambda, so nothing compiled at a cold start is kept for the next.

3.13 is found as ``infra/package.py`` may one day find it: ``LAMBDA_PYTHON`` if set, else
``python3.13`` on PATH, else pyenv's 3.13 versions (a pyenv shim on PATH fails unless 3.13 is a
selected version; the interpreter behind it works).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
LAMBDA_VERSION = (3, 13)
# What the runtime provides beside the zip (infra/package.py's RUNTIME_PROVIDED).
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python-dateutil",
    "six",
)


def _note(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _probe(command: str) -> tuple[str | None, str]:
    """(sys.executable, "") when ``command`` runs CPython 3.13, else (None, why not)."""
    code = (
        "import sys; print(sys.implementation.name, *sys.version_info[:2]); print(sys.executable)"
    )
    try:
        proc = subprocess.run(
            [command, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        return None, (errors[0] if errors else f"exit {proc.returncode}")
    wanted = "cpython " + " ".join(str(v) for v in LAMBDA_VERSION)
    if lines[0] != wanted:
        return None, f"it is {lines[0]}"
    return lines[1], ""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name))


def find_python313() -> str:
    """The path of a CPython 3.13 interpreter.

    Raises:
        SystemExit: none found (the message lists what was tried).
    """
    explicit = os.environ.get("LAMBDA_PYTHON")
    candidates = [explicit] if explicit else ["python3.13"]
    if not explicit:
        for root in dict.fromkeys([os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]):
            if root:
                found = glob.glob(os.path.join(root, "versions", "3.13*", "bin", "python3.13"))
                candidates += sorted(found, key=_version_key, reverse=True)
    tried = []
    for command in candidates:
        executable, why = _probe(command)
        if executable:
            return executable
        tried.append(f"  {command}: {why}")
    raise SystemExit(
        "bench: no CPython 3.13 found (the Lambda runtime's version; cold_start_ratio and "
        "peak_rss_mb run the zip under it). Tried:\n"
        + "\n".join(tried)
        + "\nInstall one (e.g. `pyenv install 3.13`) or set LAMBDA_PYTHON=/path/to/python3.13."
    )


def runtime_pins() -> list[str]:
    """``name==version`` of what the runtime provides, as installed in this venv."""
    return [f"{name}=={metadata.version(name)}" for name in RUNTIME_DISTRIBUTIONS]


def boto3_for(python: str) -> Path:
    """A directory holding this venv's boto3 (and its dependencies) installed for ``python``."""
    pins = runtime_pins()
    tag = "-".join(p.replace("==", "-") for p in pins[:2])
    target = BUILD / f"runtime-py313-{tag}"
    stamp = target / ".complete"
    if stamp.exists() and stamp.read_text() == "\n".join(pins):
        return target
    _note(f"installing {', '.join(pins)} for {python} into {target.relative_to(ROOT)} (once)")
    shutil.rmtree(target, ignore_errors=True)
    proc = subprocess.run(
        [
            *(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--only-binary=:all:", "--target", str(target), *pins),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench: pip could not install {pins} for 3.13:\n{proc.stderr[-2000:]}")
    shutil.rmtree(target / "bin", ignore_errors=True)
    stamp.write_text("\n".join(pins))
    return target


@dataclass(frozen=True)
class LambdaImage:
    """An interpreter and a path that run the zip's handler as the Lambda runtime would."""

    python: str
    task_root: Path
    runtime_path: Path

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        """A child's whole environment: nothing of this venv, ``extra`` (the detector's)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only if HOME is unset
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{self.task_root}{os.pathsep}{self.runtime_path}",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }

    def bytecode(self) -> tuple[int, int]:
        """(modules in the task root, of them with 3.13 bytecode beside them)."""
        sources = list(self.task_root.rglob("*.py"))
        compiled = sum(
            (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").exists() for p in sources
        )
        return len(sources), compiled


def lambda_image(zip_path: Path) -> LambdaImage:
    """Unpack ``zip_path`` afresh into build/bench/task beside a 3.13 boto3."""
    python = find_python313()
    runtime_path = boto3_for(python)
    task_root = BUILD / "task"
    shutil.rmtree(task_root, ignore_errors=True)
    task_root.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task_root)
    return LambdaImage(python, task_root, runtime_path)
