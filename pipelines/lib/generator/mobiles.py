"""Phones as people type them: every variant of the landing contract, rendered in SQL.

A typed phone is (number, code): the generator draws codes in NumPy and DuckDB renders the
strings, so the ground truth (which numbers appear) never depends on string parsing.

Codes: -1 empty; 0 plain `13800138000`; 1 `138 0013 8000`; 2 `138-0013-8000`;
3 `+86 138 0013 8000`; 4 `+8613800138000`; 5 `0086 13800138000`; 6 `8613800138000`;
7 `(138)00138000`; 8 `138.0013.8000`; 9 full-width `１３８００１３８０００`;
10 `+86-138-0013-8000`. Invalid (never a key): 20 ten digits (last digit lost); 21 a letter
O typed for a zero; 22 a landline; 23 junk (无, 未留, /, 0, xxx). Invalid values are built so
that no run of 11 digits starting 1[3-9] survives in them.
"""

from __future__ import annotations

import numpy as np

from pipelines.lib.generator.config import GeneratorConfig

EMPTY = -1
PLAIN = 0
N_VARIANTS = 10
INVALID_CODES = np.array([20, 21, 22, 23])

#: DuckDB macros: typed_mobile(number BIGINT, code INT, noise BIGINT) -> VARCHAR (NULL: empty).
MACROS_SQL = r"""
CREATE OR REPLACE MACRO typed_mobile_s(s, code, noise) AS (CASE
  WHEN s IS NULL OR code < 0 THEN NULL
  WHEN code = 0 THEN s
  WHEN code = 1 THEN s[1:3] || ' ' || s[4:7] || ' ' || s[8:11]
  WHEN code = 2 THEN s[1:3] || '-' || s[4:7] || '-' || s[8:11]
  WHEN code = 3 THEN '+86 ' || s[1:3] || ' ' || s[4:7] || ' ' || s[8:11]
  WHEN code = 4 THEN '+86' || s
  WHEN code = 5 THEN '0086 ' || s
  WHEN code = 6 THEN '86' || s
  WHEN code = 7 THEN '(' || s[1:3] || ')' || s[4:11]
  WHEN code = 8 THEN s[1:3] || '.' || s[4:7] || '.' || s[8:11]
  WHEN code = 9 THEN translate(s, '0123456789', '０１２３４５６７８９')
  WHEN code = 10 THEN '+86-' || s[1:3] || '-' || s[4:7] || '-' || s[8:11]
  WHEN code = 20 THEN s[1:10]
  WHEN code = 21 THEN s[1:5] || 'O' || s[7:11]
  WHEN code = 22 THEN ['021-', '010-', '020-', '0755-', '0571-', '028-', '027-', '025-'][
                        1 + noise % 8] || (noise // 8 % 90000000 + 10000000)::VARCHAR
  ELSE ['无', '未留', '/', '0', 'xxx', '不详'][1 + noise % 6]
END);
CREATE OR REPLACE MACRO typed_mobile(m, code, noise) AS
  typed_mobile_s(CASE WHEN m > 0 THEN m::VARCHAR END, code, noise);
"""


def variant_codes(rng: np.random.Generator, n: int, p_variant: float) -> np.ndarray:
    """Valid renderings: plain, or one of the ten variants with probability p_variant."""
    variant = rng.random(n) < p_variant
    return np.where(variant, rng.integers(1, N_VARIANTS + 1, n), PLAIN).astype(np.int16)


def typed_codes(rng: np.random.Generator, n: int, cfg: GeneratorConfig) -> np.ndarray:
    """Codes for phones typed by people: mostly valid variants, some invalid, some empty."""
    codes = variant_codes(rng, n, cfg.p_phone_variant)
    r = rng.random(n)
    codes[r < cfg.p_phone_invalid + cfg.p_phone_empty] = EMPTY
    invalid = r < cfg.p_phone_invalid
    codes[invalid] = INVALID_CODES[rng.integers(0, len(INVALID_CODES), int(invalid.sum()))]
    return codes


def is_valid_code(codes: np.ndarray) -> np.ndarray:
    return (codes >= 0) & (codes <= N_VARIANTS)
