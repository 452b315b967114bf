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


#: Every mobile the generator can draw: a prefix and eight digits.
MOBILE_SPACE = len(MOBILE_PREFIXES) * 10**8
#: Slots start here, above the position of every placeholder number (the largest,
#: 18888888888, sits at 37 * 10^8 + 88888888): walking past a placeholder then never lands
#: on another slot's number, so distinct slots give distinct mobiles.
SLOT_BASE = 3_800_000_000
MAX_SLOTS = MOBILE_SPACE - SLOT_BASE


def slot_mobiles(slots: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Distinct valid mainland mobiles for distinct slot numbers, none of them in `exclude`.

    A number is a fixed bijection of its slot (a scramble of the space of 44 prefixes × 10^8),
    so the generator hands out phones by slot (person index, spare index) and any subset of
    persons gets the same numbers whatever else is generated: no draw, no global uniqueness
    check. A slot that falls on an excluded number walks on through the bijection (cycle
    walking); slots start above every excluded number's position, so no other slot maps there.
    """
    slots = np.asarray(slots, dtype=np.int64)
    if len(slots) and (int(slots.min()) < 0 or int(slots.max()) >= MAX_SLOTS):
        raise ValueError(f"mobile slots must lie in [0, {MAX_SLOTS})")
    exclude = np.asarray(exclude, dtype=np.int64)
    ex_pos = np.array([(int(np.flatnonzero(e // 10**8 == MOBILE_PREFIXES)[0]) * 10**8
                        + e % 10**8) for e in exclude], dtype=np.int64)
    assert not len(ex_pos) or int(ex_pos.max()) < SLOT_BASE
    pos = scramble(slots + SLOT_BASE, MOBILE_SPACE, 1_611_516_911, 2_654_435_761)
    bad = np.isin(pos, ex_pos)
    while bad.any():
        pos[bad] = scramble(pos[bad], MOBILE_SPACE, 1_611_516_911, 2_654_435_761)
        bad = np.isin(pos, ex_pos)
    return MOBILE_PREFIXES[pos // 10**8] * 10**8 + pos % 10**8
