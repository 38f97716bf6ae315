"""The one way a state file is written: whole or not at all, and on the disk when it returns.

Temp file beside the target, write, fsync, rename over the target, fsync the directory (the
rename is durable only once the directory entry is on the disk). A crash at any point leaves
the old file or the new one, never a torn one. `risk_state.json` (the halt latch) and
`final_state.json` both go through here.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o666) -> None:
    """Replace `path` with `data`. `durable=False` skips both fsyncs (still atomic: a crash
    leaves one whole version, maybe the old one). `mode` applies to a newly created file, less
    the umask, as `open` would; the latch passes 0o600. Raises `OSError`."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb", opener=lambda name, flags: os.open(name, flags, mode)) as fh:
        fh.write(data)
        fh.flush()
        if durable:
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
