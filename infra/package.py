"""Build the Lambda zip: detector/ plus the pinned runtime dependencies the Lambda runtime lacks.

The Python Lambda runtime already provides boto3 (and botocore, s3transfer, jmespath, urllib3,
python-dateutil, six), so those are left out; everything else in pyproject's
``[project].dependencies`` is installed as wheels for the Lambda platform (arm64, CPython 3.13).
The zip is reproducible: sorted entries, fixed timestamps and permissions, no bytecode.

Usage: python infra/package.py [--out dist/lambda.zip] [--build-dir build/lambda]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_PYTHON = "3.13"
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


def copy_package(source: Path, target: Path) -> None:
    """Copy the ``detector`` package into ``target`` without bytecode."""
    shutil.copytree(
        source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
    )


def strip(tree: Path) -> None:
    """Remove bytecode caches and pip's console-script stubs from ``tree``."""
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


def main(argv: list[str] | None = None) -> int:
    """Build the zip and print its path, size and SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "lambda.zip")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda")
    args = parser.parse_args(argv)

    requirements = lambda_requirements(ROOT / "pyproject.toml")
    install(requirements, args.build_dir)
    copy_package(ROOT / "detector", args.build_dir)
    strip(args.build_dir)
    write_zip(args.build_dir, args.out)

    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size = args.out.stat().st_size
    print(f"{args.out}: {size} bytes ({size / 1024:.0f} KiB), sha256 {digest}")
    print(f"  bundled: detector/ + {', '.join(requirements) or 'nothing else'}")
    print("  not bundled (the Lambda runtime provides them): " + ", ".join(RUNTIME_PROVIDED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
