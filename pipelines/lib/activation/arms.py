"""A member's arm in an audience, the same rule as macros/activation.sql (tested equal).

arm_unit = the first 32 bits of md5(salt|audience_code|member_id) as an integer / 2^32, a
number in [0, 1) that is uniform over members, the same on every night, run and engine, and
independent between audiences (the audience code is part of what is hashed). A member is in
the holdout arm when arm_unit < the audience's holdout_share. A sender or an analyst can
recompute an arm with nothing but the three strings and the share.
"""

from __future__ import annotations

import hashlib


def arm_unit(member_id: str, audience_code: str, salt: str) -> float:
    digest = hashlib.md5(f"{salt}|{audience_code}|{member_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def arm(member_id: str, audience_code: str, salt: str, holdout_share: float) -> str:
    return "holdout" if arm_unit(member_id, audience_code, salt) < holdout_share else "treated"
