"""`tradingd data | train | backtest | sweep`: the research commands (`daemon.research`)."""

from __future__ import annotations

import argparse
from typing import Any


def main(args: argparse.Namespace, fail: Any) -> int:
    from daemon.research import commands

    return commands.run(args)
