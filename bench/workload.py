"""The AR benchmark workload: an Ornstein–Uhlenbeck walk of trade prices, one trade a second.

log price x_t = (1 - kappa) * x_{t-1} + eps_t with eps ~ N(0, sigma^2), sigma = 1e-3,
kappa = 1e-4, x_0 = 0, from `numpy.random.default_rng(seed)`; price = round(p0 * exp(x_t), 2)
with p0 = 100000; size ~ U(0.001, 0.5) from the same generator. Trades are 1 s apart from
`start_ns`. Generated in chunks of 100,000 trades (each chunk draws its normals, then its
sizes), so a 10M-tick soak holds a few MB of arrays at a time, never reaches the sizes where
glibc's adaptive mmap threshold keeps freed arrays in the heap, and any run length starts with
the same ticks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

SIGMA = 1e-3
KAPPA = 1e-4
P0 = 100_000.0
SEED = 42
START_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z: minute bars align with the ticks
SPACING_NS = 10**9
CHUNK = 100_000
_BLOCK = 1000  # closed form within a block: a^-1000 = e^0.1, no loss of precision

Floats = npt.NDArray[np.float64]
Chunk = tuple[npt.NDArray[np.int64], Floats, Floats]


def ou_path(x0: float, eps: Floats, a: float) -> Floats:
    """x_t = a x_{t-1} + eps_t for t = 1..n, vectorized a block at a time.

    Inside a block x_j = a^j (x0 + sum_{k<=j} a^-k eps_k); blocks are short enough that the
    powers stay near 1, so this agrees with the plain recursion to ~1e-16.
    """
    out = np.empty_like(eps)
    k = np.arange(1, _BLOCK + 1, dtype=np.float64)
    up, down = a ** k, a ** -k
    x = x0
    for lo in range(0, len(eps), _BLOCK):
        e = eps[lo:lo + _BLOCK]
        m = len(e)
        block = up[:m] * (x + np.cumsum(e * down[:m]))
        out[lo:lo + m] = block
        x = float(block[-1])
    return out


def ou_chunks(n_ticks: int, seed: int = SEED, start_ns: int = START_NS,
              chunk: int = CHUNK) -> Iterator[Chunk]:
    rng = np.random.default_rng(seed)
    a = 1.0 - KAPPA
    x = 0.0
    done = 0
    while done < n_ticks:
        m = min(chunk, n_ticks - done)
        eps = rng.normal(0.0, SIGMA, m)
        sizes = rng.uniform(0.001, 0.5, m)
        xs = ou_path(x, eps, a)
        x = float(xs[-1])
        prices = np.round(P0 * np.exp(xs), 2)
        ts = start_ns + (done + np.arange(m, dtype=np.int64)) * SPACING_NS
        yield ts, prices, sizes
        done += m
