"""`siyu generate`: a deterministic synthetic landing zone that follows landing contract v1.

One latent population of persons (`population.py`) buys through a BG/NBD-like process with
seasonality (`behaviour.py`); each channel exports what its system would (`channels.py`);
files are written with DuckDB's partitioned COPY and then damaged the way real deliveries are
(`writer.py`). `_truth/` maps every identifier to its person so identity resolution can be
scored. Same arguments, same bytes: one PCG64 stream, no wall clock, single-threaded writes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.generator import behaviour, channels
from pipelines.lib.generator.config import GeneratorConfig
from pipelines.lib.generator.ids import numbered, random_tokens, unique_mobiles
from pipelines.lib.generator.population import make_population, seasonality
from pipelines.lib.generator.reference import make_products, make_stores
from pipelines.lib.generator.writer import apply_dirt, copy_partitioned, write_csv, write_json

__all__ = ["GeneratorConfig", "generate"]

FEN = 100


def generate(out_dir: Path, members: int, days: int, seed: int,
             end_date: date = date(2026, 10, 31),
             config: GeneratorConfig | None = None) -> dict:
    cfg = config or GeneratorConfig()
    out = Path(out_dir)
    rng = np.random.Generator(np.random.PCG64(seed))
    start = np.datetime64(end_date) - np.timedelta64(days - 1, "D")

    stores = make_stores(rng, cfg.n_stores)
    products = make_products(rng, cfg.n_products)
    pop = make_population(rng, members, days, cfg, len(stores), start)
    season = seasonality(start, days)
    extra_phones = unique_mobiles(rng, 2 * members + cfg.counter_phone_stores + cfg.n_staff + 10)
    extra_phones = extra_phones[~np.isin(extra_phones, np.concatenate([pop.phone_a, pop.phone_b]))]
    counter_phones = extra_phones[: cfg.counter_phone_stores]
    staff_phones = extra_phones[cfg.counter_phone_stores: cfg.counter_phone_stores + cfg.n_staff]

    person, day = behaviour.purchase_days(rng, pop, days, season)
    channel = behaviour.choose_channel(rng, pop, person, day)
    orders, lines = channels.make_orders(rng, pop, person, day, channel, days, start, season,
                                         cfg, stores, products, behaviour.order_lines)
    shared: list = []
    pos_m = channels.pos_members(rng, pop, days, start, cfg, stores, counter_phones, shared)
    tm_m = channels.tmall_members(rng, pop, days, start)
    mp_u = channels.mp_users(rng, pop, days, start, cfg)
    wc, wc_events = channels.wecom_contacts(rng, pop, days, start, cfg, stores, staff_phones)
    buy_weight = np.bincount(person, minlength=pop.n) > 0
    ev = behaviour.events(rng, pop, days, cfg, products, buy_weight.astype(float))

    con = duckdb.connect()
    con.execute("SET threads = 1")  # byte-identical output: one writer thread
    con.execute("SET preserve_insertion_order = true")
    landing = out / "landing"
    if landing.exists():
        import shutil
        shutil.rmtree(landing)
    counts: dict[str, int] = {}
    counts.update(_pos(con, rng, pop, orders, lines, pos_m, start, days, landing))
    counts.update(_tmall(con, rng, pop, orders, lines, tm_m, start, days, landing, cfg))
    counts.update(_miniprogram(con, rng, pop, orders, lines, mp_u, ev, start, days, landing))
    counts.update(_wecom(con, wc, wc_events, landing))
    con.close()

    dirt = {}
    for rel, fmt, enc, bom in (
        ("pos/members", "csv", "utf-8", True), ("pos/orders", "csv", "utf-8", True),
        ("pos/order_items", "csv", "utf-8", True), ("tmall/members", "csv", "gbk", False),
        ("tmall/orders", "csv", "gbk", False), ("tmall/order_items", "csv", "gbk", False),
        ("miniprogram/users", "jsonl", "utf-8", False),
        ("miniprogram/orders", "jsonl", "utf-8", False),
        ("miniprogram/events", "jsonl", "utf-8", False),
        ("wecom/external_contacts", "jsonl", "utf-8", False),
        ("wecom/contact_events", "jsonl", "utf-8", False),
    ):
        dirt[rel] = apply_dirt(landing, rel, fmt, enc, cfg, rng, bom)

    write_csv(out / "reference" / "stores.csv", stores)
    write_csv(out / "reference" / "products.csv", products)
    truth = _truth(out / "_truth", pop, pos_m, tm_m, mp_u, wc, counter_phones, staff_phones,
                   shared)
    summary = {
        "persons": members, "days": days, "seed": seed,
        "start_date": str(start), "end_date": str(end_date),
        "rows": counts, "dirt": dirt, "truth": truth,
    }
    write_json(out / "_truth" / "manifest.json", summary)
    return summary


def _money(col: str) -> str:
    return f"printf('%.2f', {col})"


def _pos(con, rng, pop, orders, lines, pos_m, start, days, landing) -> dict[str, int]:
    o = orders[orders["channel"] == 0].copy()
    member = (o["person"] >= 0).to_numpy()
    pidx = np.maximum(o["person"].to_numpy(), 0)
    has_card = member & pop.has_pos[pidx] & (pop.reg_day["pos"][pidx] <= o["day"].to_numpy())
    o["member_card_no"] = np.where(has_card, pop.card[pidx], "")
    o["order_id"] = numbered("P", o["order_idx"].to_numpy(), 10)
    o["order_time"] = channels.ts(start, o["day"].to_numpy(), o["secs"].to_numpy())
    o["dt"] = channels.dt_str(start, o["day"].to_numpy())
    o["payment_method"] = np.array(["wechat", "alipay", "unionpay", "cash"])[
        rng.choice(4, size=len(o), p=[0.5, 0.3, 0.1, 0.1])]
    o["order_type"], o["original_order_id"] = "sale", ""
    r = o[o["refund"] & (o["refund_day"] < days)].copy()
    amount = np.where(r["partial"], r["partial_amount"], r["paid"])
    r["original_order_id"] = r["order_id"]
    r["order_id"] = numbered("R", r["order_idx"].to_numpy(), 10)
    r["order_type"] = "return"
    r["total"] = -np.where(r["partial"], r["partial_amount"], r["total"])
    r["discount"] = -np.where(r["partial"], 0.0, r["discount"])
    r["paid"] = -amount
    r["order_time"] = channels.ts(start, r["refund_day"].to_numpy(), r["secs"].to_numpy())
    r["dt"] = channels.dt_str(start, r["refund_day"].to_numpy())
    allo = pd.concat([o, r], ignore_index=True).sort_values(["dt", "order_time", "order_id"],
                                                            kind="stable")
    con.register("pos_orders", allo)
    copy_partitioned(con, f"""SELECT order_id, store AS store_id, member_card_no, order_time,
        {_money('total')} AS total_amount, {_money('discount')} AS discount_amount,
        {_money('paid')} AS paid_amount, payment_method, order_type, original_order_id, dt
        FROM pos_orders""", landing / "pos" / "orders", "csv")
    li = lines.merge(o[["order_idx", "order_id", "dt"]], on="order_idx")
    con.register("pos_lines", li)
    copy_partitioned(con, f"""SELECT order_id, line_no, sku, quantity,
        {_money('unit_price')} AS unit_price, {_money('line_amount')} AS line_amount, dt
        FROM pos_lines""", landing / "pos" / "order_items", "csv")
    con.register("pos_members", pos_m.sort_values(["dt", "registered_at", "member_card_no"],
                                                  kind="stable"))
    copy_partitioned(con, """SELECT member_card_no, mobile, name, gender, birthday, store_id,
        registered_at, dt FROM pos_members""", landing / "pos" / "members", "csv")
    return {"pos/orders": len(allo), "pos/order_items": len(li), "pos/members": len(pos_m)}


def _tmall(con, rng, pop, orders, lines, tm_m, start, days, landing, cfg) -> dict[str, int]:
    o = orders[orders["channel"] == 1].copy()
    n = len(o)
    pidx = np.maximum(o["person"].to_numpy(), 0)
    member = (o["person"] >= 0).to_numpy() & pop.has_tmall[pidx] & (
        pop.reg_day["tmall"][pidx] <= o["day"].to_numpy())
    oid = (3900000000000000 + o["order_idx"].to_numpy() * 13 + 7).astype(str)
    o["oid"] = np.where(rng.random(n) < cfg.p_excel_wrapped_id,
                        np.char.add(np.char.add('="', oid.astype("U16")), '"'), oid)
    o["nick"] = random_tokens(rng, n, 8, prefix="tb_")
    o["ouid"] = np.where(member, pop.ouid[pidx], "")
    o["recv"] = channels.masked(np.where(o["person"] >= 0, pop.phone_b[pidx],
                                         unique_mobiles(rng, n)))
    created = channels.ts(start, o["day"].to_numpy(), o["secs"].to_numpy())
    paid_at = channels.ts(start, o["day"].to_numpy(), o["secs"].to_numpy() + 60)
    unpaid = rng.random(n) < 0.05
    ship_day = o["day"].to_numpy() + rng.integers(2, 6, n)
    rows = []

    def rows_for(mask, dt_day, status, paid_at_v, paid_v, refund_v):
        rows.append(pd.DataFrame({
            "订单编号": o["oid"][mask], "买家会员名": o["nick"][mask], "ouid": o["ouid"][mask],
            "买家应付货款": o["total"][mask] - o["discount"][mask] + 0.0,
            "买家实际支付金额": paid_v[mask], "订单状态": status,
            "订单创建时间": created[mask], "订单付款时间": paid_at_v[mask],
            "收货人手机号": o["recv"][mask], "退款金额": refund_v[mask], "店铺名称": "品牌官方旗舰店",
            "dt": channels.dt_str(start, dt_day[mask]), "_o": o["order_idx"][mask]}))

    zero = np.zeros(n)
    paid = o["paid"].to_numpy()
    day = o["day"].to_numpy()
    empty = np.full(n, "", dtype=object)
    rows_for(unpaid, day, "等待买家付款", empty, zero, zero)
    rows_for(unpaid & (day + 1 < days), day + 1, "交易关闭", empty, zero, zero)
    ok = ~unpaid
    rows_for(ok, day, "买家已付款，等待卖家发货", paid_at, paid, zero)
    rows_for(ok & (ship_day < days), ship_day, "交易成功", paid_at, paid, zero)
    refund = ok & o["refund"].to_numpy()
    rday = np.maximum(o["refund_day"].to_numpy(), ship_day + 1)
    full = refund & ~o["partial"].to_numpy() & (rday < days)
    part = refund & o["partial"].to_numpy() & (rday < days)
    rows_for(full, rday, "交易关闭", paid_at, paid, paid)
    rows_for(part, rday, "交易成功", paid_at, paid, o["partial_amount"].to_numpy())
    allo = pd.concat(rows, ignore_index=True).sort_values(["dt", "_o"], kind="stable")
    con.register("tm_orders", allo)
    copy_partitioned(con, f"""SELECT 订单编号, 买家会员名, ouid, {_money('买家应付货款')} AS 买家应付货款,
        {_money('买家实际支付金额')} AS 买家实际支付金额, 订单状态, 订单创建时间, 订单付款时间,
        收货人手机号, {_money('退款金额')} AS 退款金额, 店铺名称, dt FROM tm_orders""",
                     landing / "tmall" / "orders", "csv")
    li = lines.merge(o[["order_idx", "oid", "day"]], on="order_idx")
    li["dt"] = channels.dt_str(start, li["day"].to_numpy())
    li["refund_status"] = ""
    con.register("tm_lines", li)
    copy_partitioned(con, f"""SELECT oid AS 订单编号, sku AS 商品编码, product_name AS 商品标题,
        quantity AS 购买数量, {_money('unit_price')} AS 价格, refund_status AS 退款状态, dt
        FROM tm_lines""", landing / "tmall" / "order_items", "csv")
    con.register("tm_members", tm_m.sort_values(["dt", "入会时间", "ouid"], kind="stable"))
    copy_partitioned(con, "SELECT ouid, 手机号哈希, 入会时间, 会员等级, dt FROM tm_members",
                     landing / "tmall" / "members", "csv")
    return {"tmall/orders": len(allo), "tmall/order_items": len(li), "tmall/members": len(tm_m)}


def _miniprogram(con, rng, pop, orders, lines, mp_u, ev, start, days, landing) -> dict[str, int]:
    o = orders[orders["channel"] == 2].copy()
    n = len(o)
    pidx = o["person"].to_numpy()
    o["openid"] = pop.openid[pidx]
    o["order_no"] = numbered("WX", o["order_idx"].to_numpy(), 18)
    iso = channels.iso_ts(start, o["day"].to_numpy(), o["secs"].to_numpy())
    iso_paid = channels.iso_ts(start, o["day"].to_numpy(), o["secs"].to_numpy() + 30)
    o["created_at"], o["paid_at_v"] = iso, iso_paid
    o["store_id"] = np.where(rng.random(n) < 0.2, o["store"], None)
    o["total_fee"] = np.round(o["total"] * FEN).astype(np.int64)
    o["discount_fee"] = np.round(o["discount"] * FEN).astype(np.int64)
    o["payer_total"] = o["total_fee"] - o["discount_fee"]
    unpaid = rng.random(n) < 0.05
    day = o["day"].to_numpy()
    parts = []

    def version(mask, dt_day, status, paid, refund_fee):
        v = o[mask].copy()
        v["status"], v["dt"] = status, channels.dt_str(start, dt_day[mask])
        v["paid_at"] = v["paid_at_v"] if paid else None
        v["payer"] = v["payer_total"] if paid else 0
        v["refund_fee"] = refund_fee[mask]
        parts.append(v)

    zeros = np.zeros(n, dtype=np.int64)
    version(unpaid, day, "NOTPAY", False, zeros)
    version(unpaid & (day + 1 < days), day + 1, "CLOSED", False, zeros)
    version(~unpaid, day, "PAID", True, zeros)
    rday = o["refund_day"].to_numpy()
    refund = ~unpaid & o["refund"].to_numpy() & (rday < days)
    partial = o["partial"].to_numpy()
    part_fee = np.round(o["partial_amount"].to_numpy() * FEN).astype(np.int64)
    version(refund & ~partial, rday, "REFUND", True, o["payer_total"].to_numpy())
    version(refund & partial, rday, "PARTIAL_REFUND", True, part_fee)
    allo = pd.concat(parts, ignore_index=True).sort_values(["dt", "order_idx"], kind="stable")
    li = lines[lines["order_idx"].isin(o["order_idx"])].copy()
    li["price_fen"] = np.round(li["unit_price"] * FEN).astype(np.int64)
    con.register("mp_orders", allo)
    con.register("mp_lines", li)
    copy_partitioned(con, """
        WITH items AS (
            SELECT order_idx, list({'sku': sku, 'quantity': quantity, 'price': price_fen}
                                   ORDER BY line_no) AS items
            FROM mp_lines GROUP BY order_idx)
        SELECT o.order_no, o.openid, o.created_at, o.paid_at, o.status, o.total_fee,
               o.discount_fee, o.payer AS payer_total, o.refund_fee, o.store_id, i.items, o.dt
        FROM mp_orders o LEFT JOIN items i USING (order_idx)
        ORDER BY o.dt, o.order_idx""", landing / "miniprogram" / "orders", "jsonl")
    con.register("mp_users", mp_u.sort_values(["dt", "created_at", "openid"], kind="stable"))
    copy_partitioned(con, """SELECT openid, unionid,
        CASE WHEN phone IS NULL THEN NULL ELSE {'phoneNumber': '+86' || phone,
             'purePhoneNumber': phone, 'countryCode': '86'} END AS phone_info,
        nickname, created_at, dt FROM mp_users""", landing / "miniprogram" / "users", "jsonl")
    ev = ev.assign(openid=pop.openid[ev["person"].to_numpy()],
                   ts=channels.iso_ts(start, ev["day"].to_numpy(), ev["secs"].to_numpy()),
                   dt=channels.dt_str(start, ev["day"].to_numpy()))
    ev = ev.sort_values(["dt", "ts", "person"], kind="stable")
    con.register("mp_events", ev)
    copy_partitioned(con, "SELECT openid, event, sku, ts, dt FROM mp_events",
                     landing / "miniprogram" / "events", "jsonl")
    return {"miniprogram/orders": len(allo), "miniprogram/users": len(mp_u),
            "miniprogram/events": len(ev)}


def _wecom(con, wc, wc_events, landing) -> dict[str, int]:
    con.register("wc", wc.sort_values(["dt", "createtime", "external_userid"], kind="stable"))
    copy_partitioned(con, """SELECT
        {'external_userid': external_userid, 'name': name, 'type': 1, 'gender': gender,
         'unionid': unionid} AS external_contact,
        [{'userid': userid, 'remark': remark, 'createtime': createtime,
          'tags': [{'group_name': '客户标签', 'tag_name': tag, 'type': 1}],
          'remark_mobiles': list_filter([remark_mobile, staff_mobile], lambda x: x IS NOT NULL),
          'add_way': 1, 'state': state}] AS follow_user,
        dt FROM wc""", landing / "wecom" / "external_contacts", "jsonl")
    con.register("wc_events", wc_events.sort_values(["dt", "CreateTime"], kind="stable"))
    copy_partitioned(con, """SELECT ChangeType, UserID, ExternalUserID, State, CreateTime, dt
        FROM wc_events""", landing / "wecom" / "contact_events", "jsonl")
    return {"wecom/external_contacts": len(wc), "wecom/contact_events": len(wc_events)}


def _truth(folder: Path, pop, pos_m, tm_m, mp_u, wc, counter_phones, staff_phones,
           shared) -> dict[str, int]:
    from pipelines.lib.generator.channels import PLACEHOLDERS, sha256_hex

    folder.mkdir(parents=True, exist_ok=True)
    couple = np.concatenate([s for k, s in shared if k == "couple"]) if shared else np.array([])
    shared_set = np.unique(np.concatenate([couple, counter_phones, staff_phones, PLACEHOLDERS]))
    own = pos_m[pos_m["_kind"].isin(["own", "changed"])]
    pos_phone = np.where(own["_kind"] == "changed", pop.phone_b[own["_person"]],
                         pop.phone_a[own["_person"]])
    phone_owner = pd.concat([
        pd.DataFrame({"person": own["_person"], "phone": pos_phone}),
        pd.DataFrame({"person": tm_m["_person"], "phone": pop.phone_b[tm_m["_person"]]}),
        pd.DataFrame({"person": mp_u["_person"][mp_u["phone"].notna()],
                      "phone": mp_u["phone"].dropna()}),
        pd.DataFrame({"person": wc["_person"][wc["remark_mobile"].notna()],
                      "phone": pop.phone_a[wc["_person"][wc["remark_mobile"].notna()]]}),
    ]).drop_duplicates()
    phone_owner = phone_owner[~phone_owner["phone"].isin(shared_set)]
    pid = pop.person_id
    wc_union = wc[~wc["_deleted"]]
    ident = pd.concat([
        pd.DataFrame({"person_id": pid[pos_m["_person"]], "id_type": "pos_card",
                      "id_value": pos_m["member_card_no"]}),
        pd.DataFrame({"person_id": pid[tm_m["_person"]], "id_type": "tmall_ouid",
                      "id_value": tm_m["ouid"]}),
        pd.DataFrame({"person_id": pid[mp_u["_person"]], "id_type": "mp_openid",
                      "id_value": mp_u["openid"]}),
        pd.DataFrame({"person_id": pid[mp_u["_person"][mp_u["unionid"].notna()]],
                      "id_type": "wechat_unionid", "id_value": mp_u["unionid"].dropna()}),
        pd.DataFrame({"person_id": pid[wc_union["_person"]], "id_type": "wechat_unionid",
                      "id_value": wc_union["unionid"]}),
        pd.DataFrame({"person_id": pid[wc["_person"]], "id_type": "wecom_external_userid",
                      "id_value": wc["external_userid"]}),
        pd.DataFrame({"person_id": pid[phone_owner["person"].to_numpy()],
                      "id_type": "mobile_sha256",
                      "id_value": sha256_hex(phone_owner["phone"].to_numpy())}),
    ]).drop_duplicates().sort_values(["person_id", "id_type", "id_value"])
    ident.to_csv(folder / "identifiers.csv", index=False)
    counter_n = pos_m[pos_m["_kind"] == "counter"].groupby("mobile").size()
    rows = [("couple", p, 2) for p in np.unique(couple)]
    rows += [("counter", p, int(len(pos_m[(pos_m["_kind"] == "counter")]) // max(len(counter_phones), 1)))
             for p in counter_phones]
    rows += [("staff", p, int(wc["staff_mobile"].eq(p).sum())) for p in staff_phones]
    rows += [("placeholder", p, 0) for p in PLACEHOLDERS]
    sm = pd.DataFrame(rows, columns=["kind", "phone", "n_persons"])
    sm["mobile_sha256"] = sha256_hex(sm["phone"].to_numpy())
    sm[["mobile_sha256", "kind", "n_persons"]].to_csv(folder / "shared_mobiles.csv", index=False)
    persons = pd.DataFrame({
        "person_id": pid, "gender": pop.gender,
        "birthday": np.datetime_as_string(pop.birthday, unit="D"),
        "home_store_index": pop.home_store, "has_pos": pop.has_pos, "has_tmall": pop.has_tmall,
        "has_miniprogram": pop.has_mp, "has_wecom": pop.has_wecom,
        "purchase_rate_per_day": np.round(pop.purchase_rate, 6),
        "dropout_probability": np.round(pop.dropout, 6),
    })
    persons.to_csv(folder / "persons.csv", index=False)
    plaintext = np.unique(np.concatenate([
        pop.phone_a[pos_m["_person"]], pop.phone_b[pos_m["_person"]], couple, counter_phones,
        staff_phones, PLACEHOLDERS, mp_u["phone"].dropna().to_numpy().astype(str),
        pop.phone_a[wc["_person"]]]).astype(str))
    (folder / "plaintext_mobiles.txt").write_text("\n".join(plaintext) + "\n", encoding="utf-8")
    del counter_n
    return {"identifiers": len(ident), "shared_mobiles": len(sm),
            "persons": len(persons)}
