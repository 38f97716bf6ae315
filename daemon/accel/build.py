"""Builds the compiled hot path (`daemon.accel`): `python -m daemon.accel.build [--force]`.

Compiles the `COMPILED` modules with mypyc in a scratch copy of the sources (the source tree is
never touched), then swaps the libraries and a manifest of the sources' hashes into the build
directory in one rename. Up to date: nothing to do. No C compiler, no Python headers or no mypyc:
it says so, removes any old build and exits 0, and the daemon runs interpreted. A compile error
exits 1: the sources no longer compile, which the developer must hear about.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from daemon.accel import (
    COMPILED,
    MANIFEST,
    SOURCE_ROOT,
    accel_dir,
    digest,
    ext_suffix,
    manifest_for,
    verified,
)

PACKAGES = ("daemon", "strategies")  # what the compiled modules import, for mypyc's types
# Third-party packages without type information are `Any` to mypyc; the project's own strict
# typing is checked by `make typecheck`, not here. torch is `Any` too: its calls stay Python
# calls either way, and analysing its inline types took half of a two-minute build (and
# doubled the C the compiler had to get through); skipped, the build takes under half a minute.
MYPY_INI = "[mypy]\nignore_missing_imports = True\n[mypy-torch.*]\nfollow_imports = skip\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="default: " + str(accel_dir()))
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    out: Path = args.out or accel_dir()
    if not args.force and verified(out)[0] is not None:
        print(f"accel: compiled hot path up to date in {out}")
        return 0
    if (missing := missing_toolchain()) is not None:
        print(f"accel: not compiled ({missing}); the daemon runs interpreted, same behaviour, "
              "slower order path", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="tradingd-accel-") as scratch:
        return build(Path(scratch), out)


def missing_toolchain() -> str | None:
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        return "no Python headers (Python.h)"
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypyc is not installed (pip install mypy)"
    return None


def build(scratch: Path, out: Path) -> int:
    for package in PACKAGES:
        shutil.copytree(SOURCE_ROOT / package, scratch / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (scratch / "mypy.ini").write_text(MYPY_INI)
    files = [str(Path(*m.split(".")).with_suffix(".py")) for m in COMPILED]
    print(f"accel: compiling {len(files)} modules with mypyc (about half a minute)")
    done = subprocess.run([sys.executable, "-m", "mypyc", *files], cwd=scratch,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        print("accel: mypyc failed; the daemon runs interpreted until this is fixed",
              file=sys.stderr)
        return 1
    suffix = ext_suffix()
    groups = list(scratch.glob(f"*__mypyc{suffix}"))
    if len(groups) != 1:
        print(f"accel: expected one mypyc group library, found {groups}", file=sys.stderr)
        return 1
    stage = out.with_name(out.name + ".new")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    digests = {}
    for module in COMPILED:
        library = scratch.joinpath(*module.split(".")).with_name(
            module.rsplit(".", 1)[-1] + suffix)
        shutil.copy2(library, stage / (module + suffix))
        # The hash of the copy mypyc compiled, not of the tree now: an edit during the build
        # must not be certified by it.
        source = scratch.joinpath(*module.split(".")).with_suffix(".py")
        digests[module] = digest(source)
    shutil.copy2(groups[0], stage / groups[0].name)
    manifest = manifest_for(digests, groups[0].name)
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
    _swap(stage, out)
    print(f"accel: compiled hot path built in {out}")
    return 0


def _swap(stage: Path, out: Path) -> None:
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
