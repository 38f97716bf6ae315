"""The `tradingd` subcommands: run, replay, ctl."""
