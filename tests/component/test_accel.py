"""The compiled order path: loaded only when built from exactly the sources beside it.

A build that no longer matches its sources (an edit, another module set, another Python, a
missing library) must never shadow them: the daemon runs those sources interpreted instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import daemon.risk.gate
from daemon import accel
from daemon.accel.build import missing_toolchain


def _manifest(where: Path, **changes: object) -> dict[str, object]:
    """A build directory with the manifest a build of the current sources writes, and empty
    library files (nothing here loads them)."""
    suffix = accel.ext_suffix()
    manifest: dict[str, object] = accel.manifest_for(
        {m: accel.digest(accel.source_of(m)) for m in accel.COMPILED}, "g__mypyc" + suffix)
    manifest.update(changes)
    where.mkdir(parents=True, exist_ok=True)
    for module in accel.COMPILED:
        (where / (module + suffix)).write_bytes(b"")
    (where / ("g__mypyc" + suffix)).write_bytes(b"")
    (where / accel.MANIFEST).write_text(json.dumps(manifest))
    return manifest


def test_a_build_of_these_sources_is_accepted(tmp_path: Path) -> None:
    _manifest(tmp_path)
    libraries, problem = accel.verified(tmp_path)
    assert problem == ""
    assert libraries is not None and set(libraries) == {*accel.COMPILED, "g__mypyc"}


def test_a_build_of_an_edited_source_is_refused(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    modules = manifest["modules"]
    assert isinstance(modules, dict)
    modules["daemon.risk.gate"]["sha256"] = "0" * 64  # the source changed after this build
    (tmp_path / accel.MANIFEST).write_text(json.dumps(manifest))
    libraries, problem = accel.verified(tmp_path)
    assert libraries is None and "daemon.risk.gate changed" in problem


def test_a_build_of_other_modules_or_another_python_or_incomplete_is_refused(
        tmp_path: Path) -> None:
    suffix = accel.ext_suffix()
    partial = {m: {"library": m + suffix, "sha256": accel.digest(accel.source_of(m))}
               for m in accel.COMPILED[1:]}
    _manifest(tmp_path / "fewer", modules=partial)
    assert accel.verified(tmp_path / "fewer")[0] is None
    _manifest(tmp_path / "other", ext_suffix=".cpython-39-x86_64-linux-gnu.so")
    assert "another Python" in accel.verified(tmp_path / "other")[1]
    _manifest(tmp_path / "torn")
    (tmp_path / "torn" / ("daemon.risk.gate" + suffix)).unlink()
    assert "missing" in accel.verified(tmp_path / "torn")[1]
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / accel.MANIFEST).write_text("{not json")
    assert "unreadable" in accel.verified(tmp_path / "garbled")[1]
    assert "no compiled build" in accel.verified(tmp_path / "absent")[1]


def _loaded_from(env: dict[str, str]) -> list[str]:
    code = ("import daemon, daemon.risk.gate; print(daemon.risk.gate.__file__); "
            "print(daemon.accel.status)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.splitlines()


def test_this_suite_runs_the_build_wherever_one_can_be_made() -> None:
    # `make test` builds first: with a C compiler the suite must be testing the compiled path
    # (unless told not to), and without one it must say why it is interpreted.
    if os.environ.get(accel.ENV_OFF) == "1":
        assert accel.status == f"interpreted: {accel.ENV_OFF}=1"
    elif missing_toolchain() is None:
        assert accel.status.startswith("compiled"), accel.status
        assert (daemon.risk.gate.__file__ or "").endswith(accel.ext_suffix())
    else:
        assert accel.status.startswith("interpreted: no compiled build"), accel.status


def test_an_edited_module_runs_interpreted_not_its_stale_build(tmp_path: Path) -> None:
    real = accel.accel_dir()
    if accel.verified(real)[0] is None:  # no build here: a made-up stale one shows the same
        _manifest(real := tmp_path / "made")
    stale = tmp_path / "stale"
    shutil.copytree(real, stale)
    manifest = json.loads((stale / accel.MANIFEST).read_text())
    manifest["modules"]["daemon.risk.gate"]["sha256"] = "0" * 64
    (stale / accel.MANIFEST).write_text(json.dumps(manifest))
    path, status = _loaded_from({accel.ENV_DIR: str(stale), accel.ENV_OFF: ""})
    assert path.endswith("gate.py") and "daemon.risk.gate changed" in status
    path, status = _loaded_from({accel.ENV_OFF: "1"})
    assert path.endswith("gate.py") and status == f"interpreted: {accel.ENV_OFF}=1"


def test_without_a_compiler_the_build_steps_aside_and_removes_an_old_build(
        tmp_path: Path) -> None:
    old = tmp_path / "accel"
    _manifest(old)
    done = subprocess.run([sys.executable, "-m", "daemon.accel.build", "--out", str(old),
                           "--force"], env={**os.environ, "CC": "/nonexistent/cc"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0  # make run goes on, interpreted
    assert "no C compiler" in done.stderr
    assert not old.exists(), "a build that can no longer be made must not linger"
