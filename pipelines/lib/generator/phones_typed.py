"""Phones as people type them: every variant of the landing contract, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
INVALID_EXAMPLES = np.array(["021-12345678", "0755-8888666", "1380013800", "12345", "无",
                             "13800l38000", "138001380001", "020 3333 4444"])


def typed_variants(rng: np.random.Generator, mobiles: np.ndarray, p_variant: float) -> np.ndarray:
    """Render 11-digit mobiles the way tills and staff type them (30 % not plain)."""
    s = pd.Series(mobiles, dtype=object)
    kind = np.where(rng.random(len(s)) < p_variant, rng.integers(1, 11, len(s)), 0)
    a, b, c = s.str[:3], s.str[3:7], s.str[7:]
    variants = {
        1: a + " " + b + " " + c,
        2: a + "-" + b + "-" + c,
        3: "+86 " + a + " " + b + " " + c,
        4: "+86" + s,
        5: "0086 " + s,
        6: "86" + s,
        7: "(" + a + ")" + b + c,
        8: a + "." + b + "." + c,
        9: s.str.translate(FULLWIDTH),
        10: "+86-" + a + "-" + b + "-" + c,
    }
    out = s.copy()
    for k, v in variants.items():
        m = kind == k
        out[m] = v[m]
    return out.to_numpy()


def invalid_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    return INVALID_EXAMPLES[rng.integers(0, len(INVALID_EXAMPLES), n)]
