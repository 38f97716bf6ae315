"""tradingd: a live trading daemon. Its order path runs compiled when a build matches the
sources (`daemon.accel`); installing that here, before any of those modules is imported."""

from daemon import accel

accel.install()
