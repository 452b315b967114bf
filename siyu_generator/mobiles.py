r"""Phones as people type them: every variant of the landing contract, rendered in SQL.

A typed phone is (number, code): the generator draws codes in NumPy and DuckDB renders the
strings, so the ground truth (which numbers appear) never depends on string parsing.

Codes: -1 empty; 0 plain `13800138000`; 1 `138 0013 8000`; 2 `138-0013-8000`;
3 `+86 138 0013 8000`; 4 `+8613800138000`; 5 `0086 13800138000`; 6 `8613800138000`;
7 `(138)00138000`; 8 `138.0013.8000`; 9 full-width `１３８００１３８０００`;
10 `+86-138-0013-8000`.

Unicode spellings (valid too: the contract drops every space, dash, dot and bracket and reads
full-width digits, so these are the same number and the ground truth counts them as such):
11 `138\u00a00013\u00a08000` (NBSP, as Excel and web forms paste it); 12 `13800138000\u00a0`
(a trailing NBSP copied from a web page); 13 `138\u30000013\u30008000` (ideographic space,
an IME in full-width mode); 14 `+86\u2009138\u20090013\u20098000` (thin spaces from a
formatted document); 15 `\t13800138000` (the tab Excel users type to keep a number as text);
16 `（138）0013－8000` (full-width brackets and dash); 17 `＋86 138．0013．8000` (full-width
plus and dots); 18 `＋８６　１３８　００１３　８０００` (all full-width).

Invalid (never a key): 20 ten digits (last digit lost); 21 a letter O typed for a zero;
22 a landline; 23 junk (无, 未留, /, 0, xxx). Invalid values are built so that no run of 11
digits starting 1[3-9] survives in them.
"""

from __future__ import annotations

import numpy as np

from siyu_generator.config import GeneratorConfig

EMPTY = -1
PLAIN = 0
N_VARIANTS = 10
UNICODE_CODES = np.arange(11, 19)
MAX_VALID = 18
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
  WHEN code = 11 THEN s[1:3] || chr(160) || s[4:7] || chr(160) || s[8:11]
  WHEN code = 12 THEN s || chr(160)
  WHEN code = 13 THEN s[1:3] || chr(12288) || s[4:7] || chr(12288) || s[8:11]
  WHEN code = 14 THEN '+86' || chr(8201) || s[1:3] || chr(8201) || s[4:7] || chr(8201)
                      || s[8:11]
  WHEN code = 15 THEN chr(9) || s
  WHEN code = 16 THEN '（' || s[1:3] || '）' || s[4:7] || '－' || s[8:11]
  WHEN code = 17 THEN '＋86 ' || s[1:3] || '．' || s[4:7] || '．' || s[8:11]
  WHEN code = 18 THEN translate('＋86' || chr(12288) || s[1:3] || chr(12288) || s[4:7]
                                || chr(12288) || s[8:11], '0123456789', '０１２３４５６７８９')
  WHEN code = 20 THEN s[1:10]
  WHEN code = 21 THEN s[1:5] || 'O' || s[7:11]
  WHEN code = 22 THEN ['021-', '010-', '020-', '0755-', '0571-', '028-', '027-', '025-'][
                        1 + noise % 8] || (noise // 8 % 90000000 + 10000000)::VARCHAR
  ELSE ['无', '未留', '/', '0', 'xxx', '不详'][1 + noise % 6]
END);
CREATE OR REPLACE MACRO typed_mobile(m, code, noise) AS
  typed_mobile_s(CASE WHEN m > 0 THEN m::VARCHAR END, code, noise);
"""


def variant_codes(rng: np.random.Generator, n: int, p_variant: float,
                  p_unicode: float = 0.0) -> np.ndarray:
    """Valid renderings: plain, one of the ten ASCII variants with probability p_variant, or
    (replacing either) one of the Unicode spellings with probability p_unicode."""
    variant = rng.random(n) < p_variant
    codes = np.where(variant, rng.integers(1, N_VARIANTS + 1, n), PLAIN)
    uni = rng.random(n) < p_unicode
    codes = np.where(uni, rng.choice(UNICODE_CODES, n), codes)
    return codes.astype(np.int16)


def typed_codes(rng: np.random.Generator, n: int, cfg: GeneratorConfig) -> np.ndarray:
    """Codes for phones typed by people: mostly valid variants, some invalid, some empty."""
    codes = variant_codes(rng, n, cfg.p_phone_variant, cfg.p_phone_unicode)
    r = rng.random(n)
    codes[r < cfg.p_phone_invalid + cfg.p_phone_empty] = EMPTY
    invalid = r < cfg.p_phone_invalid
    codes[invalid] = INVALID_CODES[rng.integers(0, len(INVALID_CODES), int(invalid.sum()))]
    return codes


def is_valid_code(codes: np.ndarray) -> np.ndarray:
    return (codes >= 0) & (codes <= MAX_VALID)
