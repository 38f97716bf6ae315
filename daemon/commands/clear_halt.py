"""`tradingd clear-halt`: clear a latched halt with the daemon stopped (running: `ctl resume`).

Clears both copies of the latch, `risk_state.json` and the journal's: either one left halted
would keep the next start halted. The cleared state carries no PnL: the next start measures the
breakers from the equity it finds (the losses so far are accepted by whoever cleared it).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon.exitcodes import ExitCode
from daemon.journal.store import Journal, journal_path
from daemon.risk.latch import FILE_NAME, JsonFileStore, RiskState, stricter


def main(args: argparse.Namespace, fail: Any) -> int:
    cfg = config_mod.load(args.config)
    latched = clear_halt(config_mod.resolve_path(cfg, cfg.daemon.state_dir))
    if latched is None:
        print("no halt was latched")
        return ExitCode.OK
    print(f"halt cleared (was: {latched.halt_detail or latched.halt_reason}); "
          f"operator's reason: {args.reason}")
    return ExitCode.OK


def clear_halt(state_dir: Path) -> RiskState | None:
    """Clear a latched halt in both copies. Return what was latched (the stricter copy), or
    None if neither copy was halted (then nothing is written)."""
    store = JsonFileStore(state_dir / FILE_NAME)
    file_copy = store.load()
    journal = journal_path(state_dir)
    journal_copy = asyncio.run(_clear_journal_copy(journal)) if journal.exists() else None
    latched = stricter(file_copy, journal_copy)
    if latched is None or not latched.halted:
        return None
    store.save(RiskState())
    return latched


async def _clear_journal_copy(path: Path) -> RiskState | None:
    journal = await Journal.open(path)
    try:
        saved = await journal.load_risk_state()
        if saved is not None and saved.halted:
            await journal.save_risk_state(RiskState())
        return saved
    finally:
        await journal.close()
