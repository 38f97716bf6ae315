"""The compiled hot path: the order path's modules built with mypyc, and loading them safely.

The modules in `COMPILED` (bar -> strategy decision -> risk gate -> books -> broker) are plain,
strictly typed Python. `python -m daemon.accel.build` compiles them with mypyc (part of mypy) into
`<venv>/tradingd-accel/`, with a manifest of each source's SHA-256. On import of `daemon`,
`install()` loads the compiled modules in place of their sources only when every hash still
matches the source beside it: an edited module is never shadowed by a stale build, it runs
interpreted until the next build. Without a C compiler the build says so and the daemon runs
interpreted; the behaviour is the same either way (the test suite runs on both), only the
speed differs. `TRADINGD_INTERPRETED=1` forces the interpreted path.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

COMPILED = (
    "daemon.model", "daemon.clock", "daemon.features", "daemon.execution.decisions",
    "strategies.ar_forecast", "daemon.handoff", "daemon.tasks.signal", "daemon.tasks.routing",
    "daemon.execution.router", "daemon.risk.gate", "daemon.risk.throttle",
    "daemon.book.inventory", "daemon.book.view", "daemon.book.strategy_view",
    "daemon.venues.paper", "daemon.venues.paper_market", "daemon.venues.paper_margin",
    "daemon.execution.market_walk",
    "daemon.risk.breaker_screen", "daemon.journal.memory", "daemon.execution.booking",
    "daemon.risk.breakers", "daemon.ops.tally", "daemon.book.lots", "daemon.book.closable",
    "daemon.book.recent_ids", "daemon.risk.liquidation",
)
MANIFEST = "manifest.json"
ENV_DIR = "TRADINGD_ACCEL_DIR"  # where the build lives; default <sys.prefix>/tradingd-accel
ENV_OFF = "TRADINGD_INTERPRETED"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the directory that holds `daemon/`

# What `install` did, for the startup log line, the health endpoint and the bench.
status = "interpreted: not loaded yet"


def accel_dir() -> Path:
    return Path(os.environ.get(ENV_DIR) or Path(sys.prefix) / "tradingd-accel")


def source_of(module: str) -> Path:
    return SOURCE_ROOT.joinpath(*module.split(".")).with_suffix(".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules (and mypyc's shared group library) by exact name."""

    def __init__(self, libraries: dict[str, Path]) -> None:
        self._libraries = libraries

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        library = self._libraries.get(fullname)
        if library is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(library))
        return importlib.util.spec_from_file_location(fullname, library, loader=loader)


def install() -> str:
    """Load the compiled modules from now on if the build matches these sources; say which."""
    global status
    status = _install()
    return status


def _install() -> str:
    if os.environ.get(ENV_OFF) == "1":
        return f"interpreted: {ENV_OFF}=1"
    libraries, problem = verified(accel_dir())
    if libraries is None:
        return f"interpreted: {problem}"
    if any(m in sys.modules for m in COMPILED):
        return "interpreted: its modules were imported before the build could be loaded"
    sys.meta_path.insert(0, _Finder(libraries))
    return f"compiled: {len(COMPILED)} modules (mypyc)"


def verified(where: Path) -> tuple[dict[str, Path] | None, str]:
    """The build's libraries by module name if it was built from exactly these sources for
    this Python, else None and why not."""
    try:
        manifest = json.loads((where / MANIFEST).read_text())
        if manifest.get("ext_suffix") != ext_suffix():
            return None, "the compiled build is for another Python"
        if set(manifest["modules"]) != set(COMPILED):
            return None, "the compiled build is of another set of modules"
        libraries: dict[str, Path] = {}
        for module in COMPILED:
            entry = manifest["modules"].get(module)
            if entry is None:
                return None, f"{module} is not in the compiled build"
            source = source_of(module)
            if not source.exists() or digest(source) != entry["sha256"]:
                return None, (f"{module} changed since the build "
                              "(python -m daemon.accel.build)")
            libraries[module] = where / entry["library"]
        group = manifest["group"]
        libraries[group["name"]] = where / group["library"]
    except FileNotFoundError:
        return None, "no compiled build (python -m daemon.accel.build)"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return None, f"unreadable compiled build manifest ({err!r})"
    missing = [str(p) for p in libraries.values() if not p.exists()]
    if missing:
        return None, f"compiled build incomplete: {missing[0]} is missing"
    return libraries, ""


def manifest_for(digests: dict[str, str], group_library: str) -> dict[str, Any]:
    """A build's manifest: each module's library (`<module><suffix>`) and its source's hash,
    and mypyc's shared group library. `verified` reads what this writes."""
    suffix = ext_suffix()
    return {"ext_suffix": suffix,
            "modules": {m: {"library": m + suffix, "sha256": d} for m, d in digests.items()},
            "group": {"name": group_library.removesuffix(suffix), "library": group_library}}


def ext_suffix() -> str:
    return importlib.machinery.EXTENSION_SUFFIXES[0]
