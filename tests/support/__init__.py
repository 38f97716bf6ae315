"""Test support: waiting on conditions, running the daemon as a subprocess, test strategies."""
