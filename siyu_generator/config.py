"""Generator parameters: every rate in one place, each with the reason for its default.

Rates are per person, per order or per file as noted. The defaults aim at what a mid-sized
Chinese consumer brand sees: most members known to one channel only, a few per cent of hard
identity cases, a few malformed rows per delivered file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Channel order used by every array in the generator.
CHANNELS = ("pos", "tmall", "miniprogram", "wecom")
#: Numbers typed as placeholders when a customer will not give a phone.
PLACEHOLDER_MOBILES = ("13800138000", "13900000000", "13888888888", "18888888888",
                       "13000000000", "13333333333")


@dataclass(frozen=True)
class GeneratorConfig:
    # ---------------------------------------------------------------- population, channels
    #: P(a person is known to 1, 2, 3, 4 channels): mostly single-channel, a few omnichannel.
    channel_count_weights: tuple[float, float, float, float] = (0.62, 0.24, 0.10, 0.04)
    #: Relative pull of pos, tmall, miniprogram, wecom when choosing which channels.
    channel_affinity: tuple[float, float, float, float] = (0.50, 0.30, 0.32, 0.14)
    #: Members who joined before the first day; channels export them on day 1 (initial load).
    p_existing_member: float = 0.30
    existing_tenure_days: int = 1095
    #: Mean lag (days) between joining a first and a further channel.
    later_channel_lag_days: float = 90.0

    # ---------------------------------------------------------------- identity hard cases
    #: A private and a work phone: POS and WeCom see one, Tmall and the mini-program the other.
    p_two_phones: float = 0.03
    #: POS cards registered with the partner's phone (two persons, one mobile).
    p_couple: float = 0.01
    #: POS cards on which the cashier typed the store's counter phone.
    p_counter_phone: float = 0.02
    counter_cards_per_phone: tuple[int, int] = (20, 60)
    #: POS cards carrying 13800138000 & co.
    p_placeholder_phone: float = 0.004
    #: POS cards re-delivered on a later day with a new phone number.
    p_phone_change: float = 0.02
    #: POS cards re-delivered on a later day with the birthday filled in.
    p_profile_update: float = 0.03
    #: WeCom staff (shopping guides): one per this many contacts, 1–max per store; a share
    #: of them habitually type their own phone into their customers' remark_mobiles.
    contacts_per_staff: int = 400
    max_staff_per_store: int = 20
    p_staff_types_own_phone: float = 0.10
    p_own_phone_when_habit: float = 0.5
    #: Share of the period before the mini-program was bound to the Open Platform (no unionid).
    open_platform_binding_share: float = 0.30
    #: Pre-binding users re-delivered with their unionid after the binding.
    p_unionid_backfill: float = 0.40
    #: Mini-program users who authorise their phone at sign-up / later (re-delivered).
    p_mp_phone_at_signup: float = 0.60
    p_mp_phone_later: float = 0.15
    #: WeCom contacts whose unionid the API returns.
    p_wecom_unionid: float = 0.85
    #: WeCom contacts whose remark_mobiles hold the customer's phone as typed by staff.
    p_wecom_remark_mobile: float = 0.55
    #: Staff who write the phone into the free-text remark as well (a privacy trap).
    p_wecom_remark_text_phone: float = 0.02
    #: Contacts added by a second staff member, edited later, deleted later (callback only).
    p_wecom_second_follow_user: float = 0.08
    p_wecom_edit: float = 0.10
    p_wecom_deleted: float = 0.04
    #: WeCom customer groups (groups.py): persons in a group — contacts often, others rarely
    #: (invited by a friend, a poster's QR code); a share in a second group.
    p_group_contact: float = 0.50
    p_group_other: float = 0.06
    p_second_group: float = 0.15
    #: Memberships per group on average (per store); log-normal popularity spread, so sizes
    #: run from a handful to a few hundred.
    group_mean_size: int = 40
    group_size_sigma: float = 1.1
    #: Days from a group's creation (or the person's arrival) to joining, on average.
    group_join_lag_days: float = 45.0
    #: Members who leave in the period, mean stay (days), and who come back later.
    p_group_leave: float = 0.30
    group_stay_days: float = 60.0
    p_group_rejoin: float = 0.15
    #: Groups nobody joins after some day (dead), and groups dismissed in the period.
    p_group_dead: float = 0.25
    p_group_dismissed: float = 0.04
    #: Leave callbacks that never arrive (the list shows the member gone: the day is known).
    p_group_callback_lost: float = 0.10
    #: Tmall members re-delivered with a higher 会员等级.
    p_tmall_level_change: float = 0.05

    # ---------------------------------------------------------------- phones as typed
    #: POS mobiles / WeCom remark mobiles left empty or typed invalid (landline, 10 digits,
    #: a letter O for a zero, junk such as 无).
    p_phone_empty: float = 0.04
    p_phone_invalid: float = 0.02
    #: Share of typed phones not in plain 11-digit form (spaces, dashes, +86, full-width...).
    p_phone_variant: float = 0.35
    #: Share of typed phones spelled with Unicode spaces (NBSP pasted from Excel or a web form,
    #: U+3000 from a full-width IME, thin space, a tab) or full-width punctuation (（）－．＋):
    #: valid numbers all the same (see mobiles.py, codes 11–18).
    p_phone_unicode: float = 0.03

    # ---------------------------------------------------------------- purchases (BG/NBD-like)
    #: Members who ever buy (others joined for a coupon or a free gift).
    p_buyer: float = 0.75
    #: Purchase rate per day while alive: Gamma(shape r, rate alpha); mean r/alpha ~ 5.5/year.
    rate_shape_r: float = 0.6
    rate_scale_alpha: float = 40.0
    max_rate_per_day: float = 0.25
    #: Dropout probability after each purchase: Beta(a, b), mean 0.2.
    dropout_a: float = 1.0
    dropout_b: float = 4.0
    #: Members who joined earlier and are still active on day 1.
    p_existing_alive: float = 0.55
    #: New members who buy on the day they join (POS registers at the till).
    p_buy_at_join: float = 0.55
    #: Members who buy at the till without showing their card (a guest receipt).
    p_pos_member_unidentified: float = 0.08
    #: Anonymous orders relative to member orders of the channel.
    pos_guest_share: float = 0.20
    tmall_non_member_share: float = 0.35
    #: Lines per order: 1 + Poisson(mean), at most max_lines (distinct SKUs, popular ones first).
    lines_poisson_mean: float = 0.6
    max_lines: int = 6
    #: Orders with a coupon, 满减 or member discount (on 双11/618/双12 days: p_discount_promo).
    p_discount: float = 0.35
    p_discount_promo: float = 0.75
    #: Refund probability per order: pos (returns), tmall, miniprogram.
    p_refund: tuple[float, float, float] = (0.03, 0.08, 0.05)
    p_partial_refund: float = 0.40
    #: POS return receipts exported with their returned lines (the rest: the cashier refunded
    #: an amount without scanning the goods, so the receipt has no lines).
    p_pos_return_lines: float = 0.70
    #: Online orders created late one day and paid the next (NOTPAY / 等待买家付款 first).
    p_pay_next_day: float = 0.04
    #: Online orders never paid (closed the next day), relative to paid online orders.
    p_abandoned: float = 0.05
    #: Tmall orders also delivered as 卖家已发货 between paid and 交易成功.
    p_tmall_shipped_delivery: float = 0.60

    # ---------------------------------------------------------------- mini-program events
    #: Background browsing events per user-year for an average buyer (more for frequent
    #: buyers), on top of the views, carts and coupons around each mini-program order.
    events_per_user_year: float = 6.0
    #: Callback / tracking events delivered twice (a retried callback, an SDK re-sending a
    #: batch) and events arriving minutes late, so files are not in event-time order
    #: (wecom/contact_events, miniprogram/events; every copy stays in its event's dt).
    p_event_duplicate: float = 0.02
    p_event_late: float = 0.05

    # ---------------------------------------------------------------- delivery dirt
    #: Mean malformed rows per delivered file, at most this share of the file's rows.
    malformed_rows_per_file: float = 1.5
    malformed_max_share: float = 0.01
    #: Files delivered a second time under another name in the same dt folder.
    p_resend_file: float = 0.02
    #: Channel-days whose files are all gzipped.
    p_gzip_day: float = 0.15
    gzip_level: int = 6
    #: POS files written with a UTF-8 byte-order mark.
    p_bom: float = 0.30
    #: Channel-days whose files are written with CRLF line ends (a Windows till, Qianniu on
    #: Windows; the JSON exporters mostly run on Linux): pos, tmall, miniprogram, wecom.
    p_crlf_day: tuple[float, float, float, float] = (0.40, 0.50, 0.10, 0.10)
    #: Tmall rows whose 订单编号 arrives Excel-wrapped as ="3912..." (Excel export habit).
    p_excel_wrapped_id: float = 0.50
    #: Export days on which a wrapped id is written raw (`="3912..."`, unquoted) rather than
    #: CSV-quoted (`"=""3912..."""`); both read as the same field value.
    p_excel_wrapped_raw_day: float = 0.50
    #: Above this many rows a day's delivery is split into part-0001, part-0002, ...
    max_rows_per_file: int = 200_000

    # ---------------------------------------------------------------- reference data
    #: SKUs in reference/products.csv (stores are a fixed list of 50 in real cities).
    n_products: int = 400

    # ---------------------------------------------------------------- blocks
    #: Persons drawn together from one block's own random streams (derived from the seed and
    #: the block number). Part of what the bytes depend on — unlike the chunk size (how many
    #: persons are held in memory at once), which never changes a byte. Counter phones and
    #: couples are matched inside a block; staff, groups and all ids span the zone.
    block_persons: int = 50_000

    # ---------------------------------------------------------------- execution
    #: Entities formatted and written concurrently (DuckDB and zlib release the GIL).
    workers: int = 2

    def to_dict(self) -> dict:
        return asdict(self)
