"""Execution: decisions, routing through the gate, flatten, reconciliation, the replay walk."""
