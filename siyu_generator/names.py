"""Names people go by in each channel: real names at the till, nicknames online.

All characters are in GBK (Tmall files are GBK) and none is a comma or a quote, so CSV lines
need no quoting except where dirt is meant to break them.
"""

from __future__ import annotations

import numpy as np

SURNAMES = np.array(list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"))
#: Surname frequency falls off steeply (王李张刘陈 cover a third of the population).
SURNAME_WEIGHTS = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
GIVEN_F = np.array(list("芳娜秀敏静丽艳娟霞桂英玉兰萍玲丹婷雪琳欣怡涵萱彤颖倩璐瑶佳悦琪晴薇"))
GIVEN_M = np.array(list("伟强磊军洋勇杰涛明超刚平辉鹏飞鑫波宁浩宇轩晨博文斌俊峰凯阳毅昊然"))
PINYIN = np.array(["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou",
                   "xu", "sun", "ma", "zhu", "hu", "guo", "he", "gao", "lin", "luo"])
PINYIN_GIVEN = np.array(["wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "jun", "yang",
                         "yan", "jie", "juan", "tao", "ming", "chao", "xia", "ping", "hui", "ting"])
NICK_HEADS = np.array(["小", "阿", "大", "快乐的", "爱吃", "喜欢", "一只", "安静的", "追风的",
                       "Amy", "Lily", "Coco", "Jenny", "Kevin", "Tony", "Momo", "Yoyo"])
NICK_TAILS = np.array(["鱼", "猫", "兔子", "桃子", "橙子", "糖", "月亮", "星星", "木木", "果果",
                       "酱", "宝", "同学", "妈妈", "先生", "Zz", "_", "呀"])


def _pick(rng: np.random.Generator, values: np.ndarray, n: int,
          weights: np.ndarray | None = None) -> np.ndarray:
    if weights is None:
        return values[rng.integers(0, len(values), n)]
    return values[rng.choice(len(values), size=n, p=weights / weights.sum())]


def real_names(rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    """Chinese names of two or three characters, given names by gender."""
    n = len(female)
    surname = _pick(rng, SURNAMES, n, SURNAME_WEIGHTS)
    g1 = np.where(female, _pick(rng, GIVEN_F, n), _pick(rng, GIVEN_M, n))
    g2 = np.where(female, _pick(rng, GIVEN_F, n), _pick(rng, GIVEN_M, n))
    two = rng.random(n) < 0.35
    return np.strings.add(np.strings.add(surname, g1), np.where(two, "", g2))


def nicknames(rng: np.random.Generator, n: int) -> np.ndarray:
    """WeChat / Taobao style nicknames: 小鱼, Amy桃子, 快乐的猫2019, ..."""
    head = _pick(rng, NICK_HEADS, n)
    tail = _pick(rng, NICK_TAILS, n)
    year = np.where(rng.random(n) < 0.25, rng.integers(1985, 2012, n).astype(str), "")
    return np.strings.add(np.strings.add(head, tail), year)


def tmall_nicks(rng: np.random.Generator, n: int) -> np.ndarray:
    """买家会员名: tb + digits (default accounts) or a chosen nickname."""
    default = np.strings.add("tb", rng.integers(10**8, 10**9, n).astype(str))
    return np.where(rng.random(n) < 0.45, default, nicknames(rng, n))


def staff_userids(rng: np.random.Generator, n: int) -> np.ndarray:
    """WeCom userids as admins create them: pinyin name plus a number when taken."""
    base = np.strings.add(_pick(rng, PINYIN, n), _pick(rng, PINYIN_GIVEN, n))
    return np.strings.add(base, np.char.zfill(np.arange(1, n + 1).astype(str), 3))


def honorifics(names: np.ndarray, female: np.ndarray) -> np.ndarray:
    """How staff write a customer in a remark: 王女士 / 李先生."""
    return np.strings.add(np.strings.slice(names, 0, 1), np.where(female, "女士", "先生"))
