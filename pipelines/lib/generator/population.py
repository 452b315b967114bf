"""The latent population: persons, their phones, channels and identifiers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.lib.generator.config import GeneratorConfig
from pipelines.lib.generator.ids import numbered, random_tokens, unique_mobiles

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"))
GIVEN = np.array(list("伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉玲丹建飞鑫波宁婷雪琳晨欣怡浩宇子涵梓轩思彤雨萱"))


@dataclass
class Population:
    n: int
    person_id: np.ndarray
    gender: np.ndarray  # 'M' / 'F'
    birthday: np.ndarray  # datetime64[D]
    home_store: np.ndarray  # index into stores
    name: np.ndarray
    phone_a: np.ndarray  # primary mobile (11 digits)
    phone_b: np.ndarray  # second phone for some persons, else == phone_a
    has_pos: np.ndarray
    has_tmall: np.ndarray
    has_mp: np.ndarray
    has_wecom: np.ndarray
    reg_day: dict[str, np.ndarray]  # channel -> day index (may be >= days: not yet joined)
    card: np.ndarray
    ouid: np.ndarray
    openid: np.ndarray
    unionid: np.ndarray
    external_userid: np.ndarray
    purchase_rate: np.ndarray  # per day while alive
    dropout: np.ndarray  # per purchase
    is_buyer: np.ndarray


def make_population(rng: np.random.Generator, n: int, days: int, cfg: GeneratorConfig,
                    n_stores: int, start: np.datetime64) -> Population:
    person_id = numbered("P", np.arange(1, n + 1), 8)
    gender = np.where(rng.random(n) < 0.62, "F", "M")
    birthday = np.datetime64("1965-01-01") + rng.integers(0, 40 * 365, n).astype("timedelta64[D]")
    # stores are not equally busy: a Zipf-ish preference
    weights = 1.0 / np.arange(1, n_stores + 1) ** 0.6
    home_store = rng.choice(n_stores, size=n, p=weights / weights.sum())
    name = np.char.add(SURNAMES[rng.integers(0, len(SURNAMES), n)],
                       np.char.add(GIVEN[rng.integers(0, len(GIVEN), n)],
                                   np.where(rng.random(n) < 0.6,
                                            GIVEN[rng.integers(0, len(GIVEN), n)], "")))
    phones = unique_mobiles(rng, 2 * n + 1000)
    phone_a = phones[:n]
    second = rng.random(n) < cfg.p_second_phone
    phone_b = np.where(second, phones[n:2 * n], phone_a)

    has = np.stack([rng.random(n) < p for p in
                    (cfg.p_pos, cfg.p_tmall, cfg.p_miniprogram, cfg.p_wecom)], axis=1)
    none = ~has.any(axis=1)
    w = np.array([cfg.p_pos, cfg.p_tmall, cfg.p_miniprogram, cfg.p_wecom])
    has[np.flatnonzero(none), rng.choice(4, size=int(none.sum()), p=w / w.sum())] = True
    # WeCom contacts are mostly customers met in a store or the mini-program
    has[:, 3] &= has[:, 0] | has[:, 2] | (rng.random(n) < 0.3)
    has[none & ~has.any(axis=1), 0] = True

    # joining: the first channel on a day in the period, later channels afterwards
    first_day = rng.integers(0, days, n)
    reg = {}
    for i, ch in enumerate(("pos", "tmall", "miniprogram", "wecom")):
        lag = (rng.exponential(60, n) * (rng.random(n) < 0.7)).astype(int)
        reg[ch] = np.where(has[:, i], first_day + lag, 10**6)

    unionid = np.where(has[:, 2] | has[:, 3], random_tokens(rng, n, 26, prefix="oU"), "")
    rate = np.minimum(rng.gamma(cfg.rate_shape_r, 1.0 / cfg.rate_scale_alpha, n), 0.1)
    dropout = rng.beta(cfg.dropout_a, cfg.dropout_b, n)
    return Population(
        n=n, person_id=person_id, gender=gender, birthday=birthday, home_store=home_store,
        name=name, phone_a=phone_a, phone_b=phone_b,
        has_pos=has[:, 0], has_tmall=has[:, 1], has_mp=has[:, 2], has_wecom=has[:, 3],
        reg_day=reg,
        card=numbered("C", np.arange(1, n + 1) * 7 + 100000, 9),
        ouid=random_tokens(rng, n, 22, prefix="AAF"),
        openid=random_tokens(rng, n, 27, prefix="o"),
        unionid=unionid,
        external_userid=random_tokens(rng, n, 30, prefix="wm"),
        purchase_rate=rate, dropout=dropout, is_buyer=rng.random(n) < cfg.p_buyer,
    )


def seasonality(start: np.datetime64, days: int) -> np.ndarray:
    """Daily demand multiplier: 双11 (Nov 1–11), 618 (Jun 1–18), 春节 (late Jan–Feb) bumps."""
    dates = start + np.arange(days).astype("timedelta64[D]")
    month = dates.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    s = np.ones(days)
    s[(month == 11) & (dom <= 11)] = 2.5
    s[(month == 11) & (dom == 11)] = 6.0
    s[(month == 6) & (dom <= 18)] = 1.8
    s[(month == 6) & (dom == 18)] = 4.0
    s[((month == 1) & (dom >= 15)) | ((month == 2) & (dom <= 15))] = 1.5
    s[(month == 12) & (dom >= 20)] = 1.3
    return s / s.mean()
