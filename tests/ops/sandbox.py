"""Run a Python script under the seccomp policy a systemd unit file declares.

Owns the offline emulation of three [Service] settings, because CI runs in a
container where systemd is not PID 1 and cannot start the unit for real:

* ``SystemCallFilter=`` (allow list, then ``~`` removals, groups expanded by
  ``systemd-analyze syscall-filter`` so the sets match the installed systemd)
  with ``SystemCallErrorNumber=`` (default action kills, as in systemd);
* ``RestrictAddressFamilies=`` (``socket()`` of other families -> EAFNOSUPPORT);
* ``MemoryDenyWriteExecute=`` (the same mmap/mprotect/pkey_mprotect/shmat
  rules systemd 252 installs).

Filters are built with libseccomp (the library systemd itself uses) through
ctypes, loaded into this process, then the target script runs via ``runpy``.
Not emulated: mount/user namespaces, ProtectSystem, User=, capabilities and
SystemCallArchitectures (native x86-64 only). It answers one question: do
the daemon's dependencies survive the unit's syscall-level restrictions?

Usage: python tests/ops/sandbox.py UNIT_FILE SCRIPT [ARGS...]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import mmap
import runpy
import socket
import subprocess
import sys
from pathlib import Path

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_GE = 5
SCMP_CMP_MASKED_EQ = 7
SHM_EXEC = 0o100000
AF_MAX = 46  # linux/socket.h; families >= this are refused too, as systemd does


def scmp_act_errno(value: int) -> int:
    return 0x00050000 | (value & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def unit_values(unit_text: str, key: str) -> list[str]:
    """All values of ``key=`` in the [Service] section, in order."""
    values: list[str] = []
    section = ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        name, sep, value = line.partition("=")
        if sep and section == "[Service]" and name.strip() == key:
            values.append(value.strip())
    return values


@functools.cache
def expand_group(name: str) -> frozenset[str]:
    """Syscall names in a ``@group`` (recursively), per the installed systemd."""
    out = subprocess.run(
        ["systemd-analyze", "syscall-filter", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand_group(item) if item.startswith("@") else {item}
    return frozenset(names)


def _expand(items: list[str]) -> set[str]:
    names: set[str] = set()
    for item in items:
        names |= expand_group(item) if item.startswith("@") else {item}
    return names


def syscall_allow_list(unit_text: str) -> set[str] | None:
    """The allowed syscalls, or None if the unit sets no allow list."""
    allowed: set[str] | None = None
    for value in unit_values(unit_text, "SystemCallFilter"):
        if not value:
            allowed = None
            continue
        deny = value.startswith("~")
        items = value.lstrip("~").split()
        if deny:
            if allowed is not None:
                allowed -= _expand(items)
        else:
            # systemd adds @default implicitly to any allow list.
            allowed = (allowed or set(expand_group("@default"))) | _expand(items)
    return allowed


class _Filter:
    def __init__(self, lib: ctypes.CDLL, default_action: int) -> None:
        self._lib = lib
        self._ctx = lib.seccomp_init(default_action)
        if not self._ctx:
            raise OSError("seccomp_init failed")

    def add(self, action: int, syscall: str, *cmps: tuple[int, int, int, int]) -> None:
        number = self._lib.seccomp_syscall_resolve_name(syscall.encode())
        if number < 0:  # not a syscall on this architecture (e.g. 32-bit only)
            return
        array = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = self._lib.seccomp_rule_add_array(self._ctx, action, number, len(cmps), array)
        if rc != 0:
            raise OSError(-rc, f"seccomp_rule_add({syscall})")

    def load(self) -> None:
        rc = self._lib.seccomp_load(self._ctx)
        self._lib.seccomp_release(self._ctx)
        if rc != 0:
            raise OSError(-rc, "seccomp_load")


def _libseccomp() -> ctypes.CDLL:
    path = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(path, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def apply_unit_policy(unit_text: str) -> None:
    """Load into this process the seccomp filters the unit would get."""
    lib = _libseccomp()
    yes = {"1", "yes", "true", "on"}

    families = unit_values(unit_text, "RestrictAddressFamilies")
    if families and families[-1] and not families[-1].startswith("~"):
        allowed = {getattr(socket, name) for name in families[-1].split()}
        flt = _Filter(lib, SCMP_ACT_ALLOW)
        refuse = scmp_act_errno(errno.EAFNOSUPPORT)
        for family in range(AF_MAX):
            if family not in allowed:
                flt.add(refuse, "socket", (0, SCMP_CMP_EQ, family, 0))
        flt.add(refuse, "socket", (0, SCMP_CMP_GE, AF_MAX, 0))
        flt.load()

    mdwe = unit_values(unit_text, "MemoryDenyWriteExecute")
    if mdwe and mdwe[-1].lower() in yes:
        flt = _Filter(lib, SCMP_ACT_ALLOW)
        eperm = scmp_act_errno(errno.EPERM)
        write_exec = mmap.PROT_WRITE | mmap.PROT_EXEC
        flt.add(eperm, "mmap", (2, SCMP_CMP_MASKED_EQ, write_exec, write_exec))
        for call in ("mprotect", "pkey_mprotect"):
            flt.add(eperm, call, (2, SCMP_CMP_MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
        flt.add(eperm, "shmat", (2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
        flt.load()

    allowed_calls = syscall_allow_list(unit_text)
    if allowed_calls is not None:
        errno_names = unit_values(unit_text, "SystemCallErrorNumber")
        default = (
            scmp_act_errno(getattr(errno, errno_names[-1]))
            if errno_names and errno_names[-1]
            else SCMP_ACT_KILL_PROCESS
        )
        flt = _Filter(lib, default)
        for call in sorted(allowed_calls):
            flt.add(SCMP_ACT_ALLOW, call)
        flt.load()


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: sandbox.py UNIT_FILE SCRIPT [ARGS...]")
    apply_unit_policy(Path(argv[0]).read_text())
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
