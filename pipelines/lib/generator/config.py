"""Generator parameters: every rate in one place, with the reason for its default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorConfig:
    # channel presence (independent draws; persons with none get one by these weights):
    # gives ~60 % single-channel members and a minority present in 3–4 channels
    p_pos: float = 0.45
    p_tmall: float = 0.30
    p_miniprogram: float = 0.35
    p_wecom: float = 0.22
    # identity hard cases
    p_second_phone: float = 0.03  # a work and a private phone
    p_couple_shared_phone: float = 0.01  # partner's card registered with one's own phone
    p_counter_phone: float = 0.015  # cashier types the store's counter phone
    counter_phone_stores: int = 10
    p_placeholder_phone: float = 0.004  # 13800138000 & co.
    p_phone_change: float = 0.01  # a later-day re-delivery of a POS card with a new phone
    p_staff_phone_in_remark: float = 0.03  # staff types their own phone into remark_mobiles
    n_staff: int = 40
    n_staff_typing_own_phone: int = 5
    p_unionid_unbound_share: float = 0.30  # share of the period before the Open Platform binding
    p_mp_phone_authorised: float = 0.70
    p_wecom_remark_mobile: float = 0.55
    p_wecom_deleted: float = 0.03
    # phones as typed (POS till, WeCom remarks)
    p_phone_empty: float = 0.05
    p_phone_invalid: float = 0.02
    p_phone_variant: float = 0.30  # typed with spaces, dashes, +86, full-width digits, ...
    # purchase behaviour (BG/NBD-like): rate λ ~ Gamma(r, 1/α) per day, dropout p ~ Beta(a, b)
    rate_shape_r: float = 0.7
    rate_scale_alpha: float = 45.0  # mean λ = r/α ≈ one purchase per 64 days while alive
    dropout_a: float = 0.8
    dropout_b: float = 3.5
    p_buyer: float = 0.80  # members who ever buy
    guest_order_share: float = 0.12  # POS guests and Tmall non-member buyers
    # money
    p_discount: float = 0.40
    p_refund: float = 0.05
    p_partial_refund: float = 0.4  # of refunds
    # behaviour events per mini-program user (Poisson mean over the period)
    events_per_user: float = 8.0
    # delivery dirt
    malformed_rows_per_file: float = 0.6  # Poisson mean of broken lines appended to a file
    p_resend_file: float = 0.03  # a day's file delivered again under a second name
    p_gzip: float = 0.2
    p_bom: float = 0.3
    p_excel_wrapped_id: float = 0.5
    n_stores: int = 50
    n_products: int = 300
