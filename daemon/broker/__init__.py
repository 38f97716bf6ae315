"""Brokers: where approved orders go. `base` defines the protocol every broker implements."""
