"""What the Lambda runtime runs, on this machine: CPython 3.13, the built zip, and a boto3.

The Python 3.13 runtime unpacks the zip into its task root and provides boto3 itself: the zip
carries none (it carries 3.13 bytecode of its own modules, see ``infra/package.py``). Here the
zip is unpacked into ``build/bench/task``, and this venv's boto3 (as pinned in
``pyproject.toml``, with the botocore, s3transfer, jmespath, urllib3, python-dateutil and six
installed beside it) is installed once for 3.13 with ``pip install --target`` under
``build/bench/``. A child process gets the task root first on its path, that boto3 after it, and
``PYTHONDONTWRITEBYTECODE``: the task root is read-only in Lambda, so nothing compiled at a cold
start is kept for the next.

3.13 is found by ``infra/package.py``'s own finder (the interpreter ``make package`` compiles the
zip's bytecode with): ``LAMBDA_PYTHON`` if set, else ``python3.13`` on PATH, else pyenv's 3.13.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"


def _note(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _package() -> ModuleType:
    """infra/package.py (a script, not a package), loaded by path."""
    spec = importlib.util.spec_from_file_location("infra_package", ROOT / "infra" / "package.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_python313() -> str:
    """The CPython 3.13 ``make package`` compiles the zip's bytecode with (``LAMBDA_PYTHON`` if
    set, else ``python3.13`` on PATH, else pyenv's 3.13).

    Raises:
        SystemExit: none found (the message lists what was tried).
    """
    python: str = _package().find_lambda_python(os.environ.get("LAMBDA_PYTHON") or None)
    return python


def runtime_pins() -> list[str]:
    """``name==version`` of what the runtime provides, as installed in this venv."""
    return [f"{name}=={metadata.version(name)}" for name in _package().RUNTIME_PROVIDED]


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
