"""Identifier building blocks, vectorised: random tokens, scrambled numbers, mobiles.

Tokens are written straight into an Arrow string buffer from a NumPy byte matrix, so a
million openids cost one random draw and no Python loop. Numeric ids are bijective scrambles
of a sequence number (unique by construction, random-looking like real ones).

No id may contain a run of digits that the privacy scan would mistake for a mobile (11 digits
starting 1[3-9], separators ignored): numeric ids keep every 11-digit window away from a
leading 1, and letters break long runs elsewhere.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                    dtype=np.uint8)
ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                      dtype=np.uint8)
UPPER = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
NO_ONE = np.frombuffer(b"023456789", dtype=np.uint8)
#: Mainland mobile prefixes in use (China Mobile, Unicom, Telecom, virtual operators).
MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155, 156,
     157, 158, 159, 166, 170, 171, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186,
     187, 188, 189, 191, 193, 195, 198, 199], dtype=np.int64)


def byte_matrix_to_strings(matrix: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix of ASCII bytes as an Arrow string array, without copies."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def tokens(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray = B64,
           prefix: str = "") -> pa.Array:
    """`n` random strings `prefix + length chars` (collisions are astronomically unlikely)."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    body = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    return byte_matrix_to_strings(np.hstack([np.broadcast_to(head, (n, len(head))), body]))


def scramble(seq: np.ndarray, modulus: int, mult: int, add: int) -> np.ndarray:
    """A bijection of [0, modulus): unique in, unique out, but no visible order."""
    assert np.gcd(mult, modulus) == 1
    seq = np.asarray(seq, dtype=np.int64) % modulus
    if len(seq) and int(seq.max()) * mult + add >= 2**63:
        raise OverflowError("scramble: sequence too large for this multiplier")
    return (seq * mult + add) % modulus


def digits_without_one(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """(n, width) ASCII digit matrix with no '1', to lead numeric ids safely."""
    return NO_ONE[rng.integers(0, len(NO_ONE), size=(n, width))]


def decimal_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ints as an (n, width) ASCII matrix."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + 48).astype(np.uint8)


def letter_codes(seq: np.ndarray, width: int) -> np.ndarray:
    """Unique upper-case codes (base 26) of a scrambled sequence, as an (n, width) matrix."""
    modulus = 26**width
    x = scramble(seq, modulus, 9_123_456_791, 104_729_000_017)
    powers = 26 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return UPPER[x[:, None] // powers % 26]


def unique_mobiles(rng: np.random.Generator, n: int, exclude: np.ndarray) -> np.ndarray:
    """`n` distinct valid mainland mobiles (int64), none of them in `exclude`, random order."""
    out = np.zeros(0, dtype=np.int64)
    exclude = np.asarray(exclude, dtype=np.int64)
    while len(out) < n:
        k = int((n - len(out)) * 1.05) + 16
        cand = (MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), k)] * 10**8
                + rng.integers(0, 10**8, k))
        out = np.unique(np.concatenate([out, cand]))
        out = out[~np.isin(out, exclude)]
    return rng.permutation(out)[:n]
