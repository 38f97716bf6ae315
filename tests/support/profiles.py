"""Hypothesis profiles, and how many examples the risk-gate property runs under each.

`make test` runs the `ci` profile. The gate property is the proof that no approved order breaks
a limit, so under `ci` it runs 10,000 examples (about 30 s on two cores); `dev`
(HYPOTHESIS_PROFILE=dev) runs 300 for quick local loops. GATE_PROPERTY_EXAMPLES=<n> overrides
both, e.g. for a long soak.

The ccxt broker's malformed-reply property (`tests/component/test_ccxt_broker_fuzz.py`) talks
HTTP to the fake exchange, about 0.4 s an example: 40 under `ci` (~20 s), 10 under `dev`;
BROKER_FUZZ_EXAMPLES=<n> overrides both.
"""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
GATE_PROPERTY_EXAMPLES = int(os.environ.get(
    "GATE_PROPERTY_EXAMPLES", {"dev": 300}.get(PROFILE, 10_000)))
BROKER_FUZZ_EXAMPLES = int(os.environ.get(
    "BROKER_FUZZ_EXAMPLES", {"dev": 10}.get(PROFILE, 40)))
