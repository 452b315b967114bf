"""Vectorised string building (NumPy/pyarrow kernels, no Python loops over rows)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEX = np.array(list("0123456789abcdef"))
B64 = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def random_tokens(rng: np.random.Generator, n: int, length: int, alphabet=B64,
                  prefix: str = "") -> np.ndarray:
    idx = rng.integers(0, len(alphabet), size=(n, length))
    body = alphabet[idx].view(f"<U{length}").ravel()
    return np.char.add(prefix, body) if prefix else body


def numbered(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    s = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return np.asarray(pc.binary_join_element_wise(prefix, s, "").to_numpy(zero_copy_only=False))


def unique_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` distinct valid mainland mobiles as 11-digit strings."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < n:
        second = rng.integers(3, 10, size=int(n * 1.2) + 10)
        rest = rng.integers(0, 10**9, size=len(second))
        cand = 10**10 + second * 10**9 + rest
        out = np.unique(np.concatenate([out, cand]))
    out = rng.permutation(out)[:n]
    return out.astype(str)
