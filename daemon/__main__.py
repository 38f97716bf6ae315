"""`python -m daemon` is the `tradingd` command."""

import sys

from daemon.cli import main

sys.exit(main())
