"""`python -m daemon` is the `tradingd` command."""

import sys

from daemon.ops import startup_signals

if sys.argv[1:2] == ["run"]:
    # Before the imports below (torch among them): a stop meanwhile exits cleanly, logged.
    startup_signals.install()

from daemon.cli import main  # after the stop signals are caught

sys.exit(main())
