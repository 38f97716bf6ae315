"""Research: data, training, backtest reports and sweeps. Never imported by `tradingd run`: its
plotting, dataframe and cluster libraries (the `research` extra) stay out of the daemon."""
