"""Stores and products: the reference files every channel's orders point at."""

from __future__ import annotations

import numpy as np
import pandas as pd

CITIES = [
    ("上海", "上海"), ("北京", "北京"), ("广州", "广东"), ("深圳", "广东"), ("杭州", "浙江"),
    ("成都", "四川"), ("南京", "江苏"), ("武汉", "湖北"), ("西安", "陕西"), ("重庆", "重庆"),
    ("苏州", "江苏"), ("天津", "天津"), ("长沙", "湖南"), ("郑州", "河南"), ("青岛", "山东"),
    ("厦门", "福建"), ("宁波", "浙江"), ("合肥", "安徽"), ("昆明", "云南"), ("沈阳", "辽宁"),
]
DISTRICTS = ["万达店", "大悦城店", "万象城店", "银泰店", "来福士店", "太古里店", "吾悦店", "龙湖天街店"]
CATEGORIES = {
    "护肤 skincare": (59, 399), "彩妆 makeup": (39, 259), "香氛 fragrance": (99, 599),
    "个护 personal care": (19, 129), "家居 home": (29, 299), "零食 snacks": (9, 69),
}


def make_stores(rng: np.random.Generator, n: int) -> pd.DataFrame:
    city_idx = rng.integers(0, len(CITIES), n)
    city_idx[: min(n, len(CITIES))] = np.arange(min(n, len(CITIES)))
    names = [f"{CITIES[c][0]}{DISTRICTS[i % len(DISTRICTS)]}" for i, c in enumerate(city_idx)]
    opened = pd.to_datetime("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    return pd.DataFrame({
        "store_id": [f"S{i:03d}" for i in range(1, n + 1)],
        "store_name": names,
        "city": [CITIES[c][0] for c in city_idx],
        "province": [CITIES[c][1] for c in city_idx],
        "opened_at": opened.strftime("%Y-%m-%d"),
    })


def make_products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    cats = list(CATEGORIES)
    cat_idx = rng.integers(0, len(cats), n)
    lo = np.array([CATEGORIES[cats[c]][0] for c in cat_idx])
    hi = np.array([CATEGORIES[cats[c]][1] for c in cat_idx])
    price = np.round(lo + rng.random(n) * (hi - lo)) - 0.1  # 99.9-style prices
    cost = np.round(price * rng.uniform(0.25, 0.55, n), 2)
    return pd.DataFrame({
        "sku": [f"SKU{i:05d}" for i in range(1, n + 1)],
        "product_name": [f"{cats[c].split()[0]}单品{i:03d}" for i, c in enumerate(cat_idx, 1)],
        "category": [cats[c] for c in cat_idx],
        "list_price": np.round(price, 2),
        "unit_cost": cost,
    })
