"""The `tradingd` subcommands, one module each: run, replay, check_config, ctl, clear_halt,
research (data, train, backtest, sweep).

Each has `main(args, fail) -> int`; `daemon.cli` parses the arguments and imports only the
command that runs."""
