"""Market data sources behind one protocol: simulated, replayed, or from an exchange."""
