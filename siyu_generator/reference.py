"""Stores and products: the reference files every channel's orders point at.

Fifty stores in real Chinese cities (tier-1 and new-tier-1 cities get several), and a few
hundred SKUs of a beauty and personal-care brand with list prices ending in .00 or .90 and
unit costs well below them (gross margin 45–75 %, typical of the category).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# (city, province, malls) — store names are city + mall, as on a receipt header
STORE_SITES = [
    ("上海", "上海", ["来福士", "环球港", "港汇恒隆", "七宝万科", "大悦城"]),
    ("北京", "北京", ["国贸商城", "西单大悦城", "三里屯太古里", "朝阳大悦城", "望京凯德"]),
    ("广州", "广东", ["天河城", "正佳广场", "太古汇"]),
    ("深圳", "广东", ["万象城", "海岸城", "COCO Park"]),
    ("杭州", "浙江", ["湖滨银泰", "万象城", "西溪印象城"]),
    ("成都", "四川", ["太古里", "IFS国际金融中心", "万象城"]),
    ("南京", "江苏", ["德基广场", "新街口中央商场"]),
    ("武汉", "湖北", ["武商广场", "楚河汉街"]),
    ("西安", "陕西", ["赛格国际", "大悦城"]),
    ("重庆", "重庆", ["解放碑时代广场", "观音桥大融城"]),
    ("苏州", "江苏", ["苏州中心", "观前街"]),
    ("天津", "天津", ["恒隆广场", "大悦城"]),
    ("长沙", "湖南", ["IFS国金中心", "五一广场"]),
    ("郑州", "河南", ["丹尼斯大卫城"]),
    ("青岛", "山东", ["万象城"]),
    ("厦门", "福建", ["万象城"]),
    ("宁波", "浙江", ["天一广场"]),
    ("合肥", "安徽", ["银泰中心"]),
    ("昆明", "云南", ["顺城购物中心"]),
    ("沈阳", "辽宁", ["万象城"]),
    ("济南", "山东", ["恒隆广场"]),
    ("福州", "福建", ["东百中心"]),
    ("无锡", "江苏", ["恒隆广场"]),
    ("东莞", "广东", ["万达广场"]),
    ("佛山", "广东", ["岭南天地"]),
    ("大连", "辽宁", ["恒隆广场"]),
    ("南宁", "广西", ["万象城"]),
]
EDITIONS = ["", "经典款", "升级款", "限定款", "2代", "Pro", "清爽型", "滋润型", "节日版", "mini"]

# category -> (price range in yuan, product stems, sizes)
CATALOGUE = {
    "面部护肤": ((89, 599), ["玻尿酸保湿精华液", "烟酰胺亮肤精华", "修护面霜", "氨基酸洁面乳",
                         "补水爽肤水", "抗皱眼霜", "清透防晒乳", "舒缓修护面膜"],
             ["30ml", "50ml", "100ml", "5片装"]),
    "彩妆": ((59, 329), ["丝绒哑光口红", "水光唇釉", "持妆粉底液", "气垫BB霜", "四色眼影盘",
                       "防水眼线笔", "定妆散粉", "腮红"], ["01号", "02号", "03号", "05号"]),
    "香水香氛": ((129, 799), ["花果香淡香水", "木质调香水", "香氛蜡烛", "车载香薰", "扩香石"],
             ["30ml", "50ml", "100ml", "礼盒"]),
    "身体护理": ((39, 199), ["香氛沐浴露", "磨砂膏", "身体乳", "护手霜", "止汗露"],
             ["200ml", "400ml", "50g", "三支装"]),
    "洗护发": ((39, 229), ["控油洗发水", "修护护发素", "发膜", "头皮精华", "免洗护发精油"],
            ["300ml", "500ml", "100ml", "旅行装"]),
    "礼盒套装": ((199, 1299), ["护肤礼盒", "彩妆礼盒", "香氛礼盒", "节日限定礼盒"],
             ["单套", "双人套", "限定版", "豪华版"]),
}


@dataclass(frozen=True)
class Reference:
    stores: pd.DataFrame
    products: pd.DataFrame
    store_weight: np.ndarray  # how busy each store is (sums to 1)
    product_weight: np.ndarray  # how popular each SKU is (sums to 1)

    @property
    def price_cents(self) -> np.ndarray:
        return np.round(self.products["list_price"].to_numpy() * 100).astype(np.int64)


def make_stores(rng: np.random.Generator) -> pd.DataFrame:
    rows = [(city, prov, mall) for city, prov, malls in STORE_SITES for mall in malls]
    n = len(rows)
    opened = np.datetime64("2012-03-01") + rng.integers(0, 3650, n).astype("timedelta64[D]")
    return pd.DataFrame({
        "store_id": [f"S{i:03d}" for i in range(1, n + 1)],
        "store_name": [f"{city}{mall}店" for city, _, mall in rows],
        "city": [r[0] for r in rows],
        "province": [r[1] for r in rows],
        "opened_at": np.datetime_as_string(opened, unit="D"),
    })


def make_products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    cats = list(CATALOGUE)
    cat = rng.integers(0, len(cats), n)
    names, lo, hi = [], np.zeros(n), np.zeros(n)
    for i, c in enumerate(cat):  # a few hundred SKUs: a loop over the catalogue is fine
        (p_lo, p_hi), stems, sizes = CATALOGUE[cats[c]]
        k = i // len(stems)
        edition = EDITIONS[(k // len(sizes)) % len(EDITIONS)]
        names.append(f"{stems[i % len(stems)]} {sizes[k % len(sizes)]} {edition}".strip())
        lo[i], hi[i] = p_lo, p_hi
    price = np.floor(lo + rng.random(n) * (hi - lo)) + np.where(rng.random(n) < 0.5, 0.0, 0.9)
    margin = rng.uniform(0.45, 0.75, n)
    return pd.DataFrame({
        "sku": [f"SKU{i:05d}" for i in range(1, n + 1)],
        "product_name": names,
        "category": [cats[c] for c in cat],
        "list_price": np.round(price, 2),
        "unit_cost": np.round(price * (1 - margin), 2),
    })


def make_reference(rng: np.random.Generator, n_products: int) -> Reference:
    stores = make_stores(rng)
    products = make_products(rng, n_products)
    sw = rng.permutation(1.0 / np.arange(1, len(stores) + 1) ** 0.6)
    pw = rng.permutation(1.0 / np.arange(1, n_products + 1) ** 0.9)
    return Reference(stores, products, sw / sw.sum(), pw / pw.sum())


def write_reference(ref: Reference, folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fmt = {"float_format": "%.2f", "index": False, "encoding": "utf-8", "lineterminator": "\n"}
    ref.stores.to_csv(folder / "stores.csv", **fmt)
    ref.products.to_csv(folder / "products.csv", **fmt)
