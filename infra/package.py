"""Build the Lambda zip: detector/ plus the pinned runtime dependencies the Lambda runtime lacks.

The Python Lambda runtime already provides boto3 (and botocore, s3transfer, jmespath, urllib3,
python-dateutil, six), so those are left out; everything else in pyproject's
``[project].dependencies`` is installed as wheels for the Lambda platform (arm64, CPython 3.13).

Every module is shipped with its bytecode, compiled by a CPython 3.13 interpreter (the runtime's
version: bytecode is specific to a minor version), so a cold start reads ``__pycache__`` instead of
compiling ``detector/``, ``slack_sdk`` and ``tenacity``. The pycs are hash-based and unchecked
(PEP 552): valid without source timestamps (zip entries carry a fixed one) and never checked
against the source, which nobody can change in a deployed zip. Every 3.13 release shares one magic
number; an interpreter with another would ignore the pycs and compile the sources, as before.

The zip is reproducible: sorted entries, fixed timestamps and permissions, and bytecode that
depends only on the sources and the 3.13 release compiling them (see ``compile_bytecode``).

The zip is also written as ``root-key-detector-<version>.zip`` beside ``--out`` (the version is
``detector.__version__``, the one source): the release's artefact; ``dist/lambda.zip`` stays for
what reads that path (``make deploy``, the benchmarks).

Usage: python infra/package.py [--out dist/lambda.zip] [--build-dir build/lambda]
                               [--python /path/to/python3.13]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON = "3.13"
LAMBDA_CACHE_TAG = "cpython-313"  # sys.implementation.cache_tag of the runtime's interpreter
# Where the Lambda runtime unpacks the zip (LAMBDA_TASK_ROOT): the file names recorded in the
# bytecode, rather than this machine's build directory.
TASK_ROOT = "/var/task"
LAMBDA_PLATFORM = "manylinux2014_aarch64"  # arm64 (Graviton) Lambda
# Distributions the Lambda Python runtime ships, and the top-level names they install.
RUNTIME_PROVIDED = {
    "boto3": ["boto3"],
    "botocore": ["botocore"],
    "s3transfer": ["s3transfer"],
    "jmespath": ["jmespath"],
    "urllib3": ["urllib3"],
    "python-dateutil": ["dateutil"],
    "six": ["six.py"],
}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!-]+)\s*$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lambda_requirements(pyproject: Path) -> list[str]:
    """The exact ``name==version`` pins to ship, i.e. the runtime dependencies minus boto3 & co.

    Raises:
        SystemExit: a dependency is not pinned exactly (the zip must be reproducible).
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    pins: list[str] = []
    for spec in project.get("dependencies", []):
        match = _PIN.match(spec)
        if not match:
            raise SystemExit(f"{pyproject.name}: dependency {spec!r} is not pinned with ==")
        name, version = match.groups()
        if _canonical(name) not in RUNTIME_PROVIDED:
            pins.append(f"{name}=={version}")
    return pins


def install(requirements: list[str], target: Path) -> None:
    """pip-install wheels for the Lambda platform into ``target`` (emptied first)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if not requirements:
        return
    subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--platform",
            LAMBDA_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--only-binary=:all:",
            *requirements,
        ],
        check=True,
    )
    # A transitive dependency may have pulled in something the runtime provides: drop it.
    for dist, tops in RUNTIME_PROVIDED.items():
        for top in tops:
            path = target / top
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for info in target.glob("*.dist-info"):
            if _canonical(info.name.rsplit("-", 1)[0]) == dist:
                shutil.rmtree(info)


def _probe(command: str) -> tuple[str | None, str]:
    """(the interpreter's sys.executable, "") if ``command`` runs CPython 3.13, else (None, why)."""
    try:
        proc = subprocess.run(  # noqa: S603 - an interpreter we look for, fixed arguments
            [
                command,
                "-I",
                "-c",
                "import sys; print(sys.implementation.cache_tag); print(sys.executable)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        # First and last lines: a pyenv shim explains itself first, a traceback last.
        why = " ... ".join(dict.fromkeys(lines[:1] + lines[-1:]))
        return None, why or f"exit {proc.returncode}"
    if lines[0] != LAMBDA_CACHE_TAG:
        return None, f"it is {lines[0]}, not {LAMBDA_CACHE_TAG}"
    return lines[1], ""


def find_lambda_python(explicit: str | None = None) -> str:
    """The path of a CPython 3.13 interpreter to compile the bytecode with.

    ``explicit`` (``--python``, or the ``LAMBDA_PYTHON`` environment variable) is used alone when
    given. Otherwise: ``python3.13`` on PATH, then pyenv's 3.13 versions (a pyenv shim on PATH
    fails unless 3.13 is among the selected versions; the interpreter behind it works directly).

    Raises:
        SystemExit: no candidate runs CPython 3.13; the message says what to install.
    """
    if explicit:
        candidates = [explicit]
    else:
        candidates = ["python3.13"]
        roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
        for root in dict.fromkeys(r for r in roots if r):
            found = glob.glob(os.path.join(root, "versions", "3.13*", "bin", "python3.13"))
            # Newest patch release first (3.13.10 after 3.13.9).
            candidates += sorted(found, key=_version_key, reverse=True)
    tried: list[str] = []
    for command in candidates:
        executable, why = _probe(command)
        if executable:
            return executable
        tried.append(f"  {command}: {why}")
    raise SystemExit(
        "package.py: no working CPython 3.13 found; the Lambda runtime is Python 3.13 and the "
        "zip's bytecode must be compiled by the same minor version. Tried:\n"
        + "\n".join(tried)
        + "\nInstall CPython 3.13 (e.g. `pyenv install 3.13`, `uv python install 3.13`, or your "
        "distribution's python3.13 package) or name one: "
        "`make package LAMBDA_PYTHON=/path/to/python3.13` (package.py --python, or the "
        "LAMBDA_PYTHON environment variable)."
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name  # .../versions/<version>/bin/python3.13
    return tuple(int(part) for part in re.findall(r"\d+", version))


def compile_bytecode(tree: Path, python: str) -> None:
    """Compile every module in ``tree`` with ``python`` (3.13) into ``__pycache__`` beside it.

    What goes into a pyc, and why it is the same on every build of the same sources:

    - the header: 3.13's magic number, the "hash-based, unchecked" flag and a SipHash of the
      source (keyed by the magic number), instead of the source's mtime and size;
    - the marshalled code object. Its file names are ``/var/task/<path>`` (``-d``), not this
      machine's build directory; on import the runtime replaces them with the module's actual
      path anyway. Since Python 3.11 marshal writes set and frozenset constants in an order
      that does not depend on the string hash seed (https://github.com/python/cpython/issues/81777);
      the seed is fixed to 0 all the same.
    - marshal flags an object for back-references when its reference count is above one, and
      compiling one file can leave objects alive that change those counts for the files compiled
      after it (https://github.com/python/cpython/issues/129724): a pyc can depend on what was
      compiled before it in the same process. One process compiles the files in compileall's
      sorted order, with no worker pool (which would hand files out in a varying order), so the
      same tree gives the same bytes.

    The interpreter runs without site-packages, user site or ``PYTHON*`` settings other than the
    hash seed, so nothing of this machine's environment reaches the compiler.
    """
    subprocess.run(  # noqa: S603 - the interpreter find_lambda_python checked, fixed arguments
        [
            python,
            "-S",  # no site-packages, no user site, no current directory on sys.path
            "-s",
            "-P",
            "-m",
            "compileall",
            "-q",  # list errors only
            "-d",
            TASK_ROOT,
            "--invalidation-mode",
            "unchecked-hash",
            "-o",
            "0",  # the runtime does not run with -O: plain .cpython-313.pyc
            str(tree),
        ],
        check=True,
        env={"PYTHONHASHSEED": "0"},
    )


# What only the command line runs (``python -m detector``, from a checkout): the Lambda's entry
# points never import it, so the zip does not carry it.
COMMAND_LINE_ONLY = frozenset(
    {
        "__main__.py",
        "cli",
        "domain/preview.py",
        "domain/logscan.py",
        "domain/summary.py",
        "adapters/archive.py",
        "adapters/stack.py",
    }
)


def copy_package(source: Path, target: Path) -> None:
    """Copy the ``detector`` package into ``target`` without this checkout's bytecode, and
    without the modules only the command line runs (``COMMAND_LINE_ONLY``)."""
    caches = shutil.ignore_patterns("__pycache__", "*.py[co]")

    def ignore(folder: str, names: list[str]) -> set[str]:
        where = Path(folder).relative_to(source)
        left_out = {n for n in names if (where / n).as_posix() in COMMAND_LINE_ONLY}
        return set(caches(folder, names)) | left_out

    shutil.copytree(source, target / source.name, ignore=ignore)


def strip(tree: Path) -> None:
    """Remove bytecode caches and pip's console-script stubs from ``tree``.

    pip runs with ``--no-compile`` and detector/ is copied without caches; this makes sure no pyc
    but those of ``compile_bytecode`` (3.13, hash-based) reaches the zip.
    """
    for cache in sorted(tree.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for pyc in tree.rglob("*.py[co]"):
        pyc.unlink()
    shutil.rmtree(tree / "bin", ignore_errors=True)


def write_zip(tree: Path, out: Path) -> None:
    """Zip ``tree`` reproducibly: sorted paths, fixed time, 0644 files, no directory entries."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    files = sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are honoured
            info.external_attr = (0o100644 & 0xFFFF) << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)


def detector_version() -> str:
    """``detector.__version__``, read from the source (this script imports nothing of it)."""
    text = (ROOT / "detector" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if found is None:
        raise SystemExit("package: detector/__init__.py has no __version__ line")
    return found.group(1)


def release_name() -> str:
    """The release zip's file name: ``root-key-detector-<version>.zip``."""
    return f"root-key-detector-{detector_version()}.zip"


def main(argv: list[str] | None = None) -> int:
    """Build the zip and print its path, size and SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "lambda.zip")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument(
        "--python",
        default=os.environ.get("LAMBDA_PYTHON") or None,
        help="CPython 3.13 to compile the bytecode with (default: $LAMBDA_PYTHON, else python3.13 "
        "on PATH, else pyenv's 3.13)",
    )
    args = parser.parse_args(argv)

    python = find_lambda_python(args.python)  # first: fail before the download if there is none
    requirements = lambda_requirements(ROOT / "pyproject.toml")
    install(requirements, args.build_dir)
    copy_package(ROOT / "detector", args.build_dir)
    strip(args.build_dir)
    compile_bytecode(args.build_dir, python)
    write_zip(args.build_dir, args.out)
    release = args.out.with_name(release_name())
    if release != args.out:
        shutil.copyfile(args.out, release)

    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size = args.out.stat().st_size
    print(f"{args.out}: {size} bytes ({size / 1024:.0f} KiB), sha256 {digest}")
    print(f"  also as {release}")
    print(f"  bundled: detector/ + {', '.join(requirements) or 'nothing else'}")
    print(f"  bytecode: unchecked-hash pycs compiled by {python}")
    print("  not bundled (the Lambda runtime provides them): " + ", ".join(RUNTIME_PROVIDED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
