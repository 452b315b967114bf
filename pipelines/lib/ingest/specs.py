"""The landing contract as data: one `EntitySpec` row per landing entity.

The entities differ only in these rows; the reader, the validator and the Dagster asset
factory are shared. A new channel is a new row here (plus staging SQL and a GX suite).

Field kinds (how a source value is typed and validated at the door):

* ``string``      trimmed text, empty → NULL
* ``text``        free text typed by people: trimmed and mobile-shaped runs redacted
* ``name``        a customer's name: becomes ``<name>_hash``, a keyed SHA-256 of the trimmed
  name (pipelines/lib/privacy/names.py); the clear name never enters the warehouse
* ``int`` / ``decimal``  numbers; a non-empty value that does not parse rejects the row
* ``timestamp``   local Asia/Shanghai wall-clock text (several layouts accepted)
* ``iso_timestamp`` ISO-8601 with or without offset, converted to Shanghai wall-clock
* ``epoch``       epoch seconds, converted to Shanghai wall-clock
* ``date``        ``YYYY-MM-DD``
* ``excel_id``    an id that may arrive Excel-wrapped as ``="3912…"``
* ``mobile``      a plaintext mobile: becomes ``<name>_sha256``, ``<name>_masked``, ``<name>_status``
* ``mobile_hash`` a delivered SHA-256 of a mobile: becomes ``<name>_sha256``, ``<name>_status``
* ``masked_mobile`` a display-masked mobile; a full number that slipped through is masked
* ``enum``        one of ``values`` (empty allowed unless required)

Row rules (`Rule`) check what no single field can: the sign conventions of sales and returns,
a refund larger than the payment, an amount no order reaches (fen delivered as yuan). A row
that breaks one is quarantined with a reason naming the field, like a value that does not
parse; whether the *file* is usable is decided later by the share of rows quarantined
(`quarantine_gate` in dbt_project.yml, docs/quality-and-privacy.md).

Customers' names (`EntitySpec.personal_names`: CSV headers or JSON keys) stay out of the
warehouse: the POS name only as a keyed hash (kind ``name``, for the couple rule), the others
(Tmall 买家会员名, mini-program nickname, WeCom contact name and staff remark) are not read at
all, and in a quarantined row's text every one of them reads `[name]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TMALL_ORDER_STATUSES = (
    "等待买家付款",
    "买家已付款，等待卖家发货",
    "卖家已发货，等待买家确认",
    "交易成功",
    "交易关闭",
)
MP_ORDER_STATUSES = ("NOTPAY", "PAID", "REFUND", "PARTIAL_REFUND", "CLOSED")
MP_EVENTS = ("view_item", "add_to_cart", "favorite", "share", "coupon_claim")
WECOM_CHANGE_TYPES = (
    "add_external_contact",
    "edit_external_contact",
    "del_external_contact",
    "del_follow_user",
)
WECOM_GROUP_CHANGE_TYPES = ("create", "update", "dismiss")
WECOM_GROUP_UPDATE_DETAILS = ("add_member", "del_member", "change_owner", "change_name",
                              "change_notice")


@dataclass(frozen=True)
class Field:
    """One source value and the raw column(s) it becomes."""

    name: str
    source: str
    kind: str = "string"
    required: bool = False
    values: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """A row-level rule: ``violated_when`` is DuckDB SQL over the typed columns of the row.

    ``{name}`` placeholders are filled from the project's vars (`pipelines.lib.platform.project_vars`),
    so a limit is configured in dbt_project.yml, never written here. A NULL outcome (a field
    that did not parse, already quarantined for that) is not a violation.
    """

    field: str
    violated_when: str
    reason: str


@dataclass(frozen=True)
class Child:
    """A nested JSON array flattened into its own raw table (portable SQL needs no explode)."""

    name: str
    path: str
    fields: tuple[Field, ...]
    parent_fields: tuple[str, ...]
    scalar: bool = False
    children: tuple[Child, ...] = ()
    description: str = ""
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class EntitySpec:
    channel: str
    entity: str
    fmt: str  # "csv" or "jsonl"
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    encoding: str = "utf-8"
    children: tuple[Child, ...] = ()
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    #: Sources (CSV headers, JSON keys at any depth) holding a customer's name: never in the
    #: quarantine text (`[name]` instead; a line that cannot be split or parsed has no text).
    #: A CSV header listed here but not read by a field is still an expected column.
    personal_names: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.channel}__{self.entity}"

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    def required_sources(self) -> list[str]:
        return [f.source for f in self.fields if f.required]

    def known_sources(self) -> list[str]:
        """CSV headers the reader keeps: the fields' sources and the personal-name columns
        (read only to be redacted in the quarantine text, so they raise no warning)."""
        sources = [f.source for f in self.fields]
        return sources + [p for p in self.personal_names if p not in sources]


def F(name: str, source: str | None = None, kind: str = "string", **kw) -> Field:
    return Field(name=name, source=source if source is not None else name, kind=kind, **kw)


def not_negative(*names: str, when: str = "TRUE", what: str = "") -> tuple[Rule, ...]:
    """One rule per amount: negative (``when`` the row is of a kind that forbids it)."""
    return tuple(Rule(n, f"({when}) AND {n} < 0", f"negative{what}") for n in names)


def at_most_max_order(name: str, unit: str = "yuan") -> Rule:
    """An amount above any plausible order: a unit error (fen delivered as yuan) or a test."""
    limit = "{max_order_amount_yuan}" if unit == "yuan" else "({max_order_amount_yuan} * 100)"
    return Rule(name, f"abs({name}) > {limit}",
                "above the largest plausible order ({max_order_amount_yuan} yuan, var "
                "max_order_amount_yuan): a unit error such as fen delivered as yuan")


POS_MEMBERS = EntitySpec(
    channel="pos",
    entity="members",
    fmt="csv",
    key=("member_card_no",),
    description="Store members registered at the till (POS export).",
    personal_names=("name",),
    fields=(
        F("member_card_no", required=True, description="Membership card number."),
        F("mobile", kind="mobile", description="Mobile as typed at the till."),
        F("name", kind="name", description="Keyed hash of the member's name (the couple rule "
          "compares it; the name itself is not kept)."),
        F("gender", kind="enum", values=("M", "F")),
        F("birthday", kind="date"),
        F("store_id", description="Store where the card was issued."),
        F("registered_at", kind="timestamp", required=True),
    ),
)

POS_ORDERS = EntitySpec(
    channel="pos",
    entity="orders",
    fmt="csv",
    key=("order_id",),
    description="Till receipts; returns are separate rows with negative amounts.",
    fields=(
        F("order_id", required=True),
        F("store_id", required=True),
        F("member_card_no", description="Empty for guests."),
        F("order_time", kind="timestamp", required=True),
        F("total_amount", kind="decimal", required=True),
        F("discount_amount", kind="decimal", required=True),
        F("paid_amount", kind="decimal", required=True),
        F("payment_method"),
        F("order_type", kind="enum", values=("sale", "return"), required=True),
        F("original_order_id", description="For returns: the sale being returned."),
    ),
    rules=(
        *not_negative("total_amount", "discount_amount", "paid_amount",
                      when="order_type = 'sale'", what=" on a sale (a return is order_type=return)"),
        *(Rule(n, f"order_type = 'return' AND {n} > 0",
               "positive on a return (a return has negative amounts)")
          for n in ("total_amount", "paid_amount")),
        Rule("paid_amount", "abs(paid_amount) > abs(total_amount)",
             "larger than total_amount (paid = total - discount)"),
        at_most_max_order("paid_amount"),
    ),
)

POS_ORDER_ITEMS = EntitySpec(
    channel="pos",
    entity="order_items",
    fmt="csv",
    key=("order_id", "line_no"),
    description="Receipt lines.",
    fields=(
        F("order_id", required=True),
        F("line_no", kind="int", required=True),
        F("sku", required=True),
        F("quantity", kind="int", required=True),
        F("unit_price", kind="decimal", required=True),
        F("line_amount", kind="decimal", required=True),
    ),
    # A return line carries its minus sign on the quantity or on the price (both exports exist;
    # staging normalises to a negative quantity and a positive price), never on both.
    rules=(
        Rule("line_no", "line_no < 1", "line numbers start at 1"),
        Rule("quantity", "quantity < 0 AND unit_price < 0",
             "negative together with unit_price (a return line is negative in one of them)"),
        Rule("line_amount",
             "line_amount <> 0 AND quantity * unit_price <> 0 "
             "AND sign(line_amount) <> sign(quantity * unit_price)",
             "sign differs from quantity × unit_price"),
        at_most_max_order("line_amount"),
    ),
)

TMALL_MEMBERS = EntitySpec(
    channel="tmall",
    entity="members",
    fmt="csv",
    encoding="gbk",
    key=("ouid",),
    description="Tmall 会员通 (membership connect) members; mobiles only as SHA-256.",
    fields=(
        F("ouid", "ouid", required=True),
        F("mobile", "手机号哈希", kind="mobile_hash", description="SHA-256 of the mobile."),
        F("joined_at", "入会时间", kind="timestamp", required=True),
        F("member_level", "会员等级", kind="enum", values=("1", "2", "3", "4")),
    ),
)

TMALL_ORDERS = EntitySpec(
    channel="tmall",
    entity="orders",
    fmt="csv",
    encoding="gbk",
    key=("order_id",),
    description="Qianniu order export; refunds arrive as a later re-delivery of the order.",
    personal_names=("买家会员名",),  # the buyer's Taobao nickname: not read
    fields=(
        F("order_id", "订单编号", kind="excel_id", required=True),
        F("ouid", "ouid", description="Empty for non-member buyers."),
        F("payable_amount", "买家应付货款", kind="decimal", required=True),
        F("paid_amount", "买家实际支付金额", kind="decimal", required=True),
        F("order_status", "订单状态", kind="enum", values=TMALL_ORDER_STATUSES, required=True),
        F("created_at", "订单创建时间", kind="timestamp", required=True),
        F("paid_at", "订单付款时间", kind="timestamp"),
        F("receiver_mobile", "收货人手机号", kind="masked_mobile"),
        F("refund_amount", "退款金额", kind="decimal"),
        F("shop_name", "店铺名称"),
    ),
    rules=(
        *not_negative("payable_amount", "paid_amount", "refund_amount"),
        Rule("refund_amount", "refund_amount > paid_amount",
             "larger than 买家实际支付金额 (a refund returns at most what was paid)"),
        at_most_max_order("paid_amount"),
    ),
)

TMALL_ORDER_ITEMS = EntitySpec(
    channel="tmall",
    entity="order_items",
    fmt="csv",
    encoding="gbk",
    key=("order_id", "sku"),
    description="Qianniu order lines (one row per SKU of an order).",
    fields=(
        F("order_id", "订单编号", kind="excel_id", required=True),
        F("sku", "商品编码", required=True),
        F("product_title", "商品标题"),
        F("quantity", "购买数量", kind="int", required=True),
        F("price", "价格", kind="decimal", required=True),
        F("refund_status", "退款状态"),
    ),
    rules=(
        Rule("quantity", "quantity < 1", "below 1 (a Qianniu line sells at least one)"),
        *not_negative("price"),
    ),
)

MP_USERS = EntitySpec(
    channel="miniprogram",
    entity="users",
    fmt="jsonl",
    key=("openid",),
    description="Mini-program users; unionid is null before the Open Platform binding.",
    personal_names=("nickname",),  # the WeChat nickname: not read
    fields=(
        F("openid", "$.openid", required=True),
        F("unionid", "$.unionid"),
        F("mobile", "$.phone_info.phoneNumber", kind="mobile", description="Authorised phone."),
        F("country_code", "$.phone_info.countryCode"),
        F("created_at", "$.created_at", kind="iso_timestamp", required=True),
    ),
)

MP_ORDERS = EntitySpec(
    channel="miniprogram",
    entity="orders",
    fmt="jsonl",
    key=("order_no",),
    description="Mini-program orders; amounts in integer fen as WeChat Pay reports them.",
    fields=(
        F("order_no", "$.order_no", required=True),
        F("openid", "$.openid", required=True),
        F("created_at", "$.created_at", kind="iso_timestamp", required=True),
        F("paid_at", "$.paid_at", kind="iso_timestamp"),
        F("status", "$.status", kind="enum", values=MP_ORDER_STATUSES, required=True),
        F("total_fee", "$.total_fee", kind="int", required=True),
        F("discount_fee", "$.discount_fee", kind="int"),
        F("payer_total", "$.payer_total", kind="int"),
        F("refund_fee", "$.refund_fee", kind="int"),
        F("store_id", "$.store_id"),
    ),
    children=(
        Child(
            name="items",
            path="$.items",
            parent_fields=("order_no",),
            description="Order lines nested in the order.",
            fields=(
                F("sku", "$.sku", required=True),
                F("quantity", "$.quantity", kind="int", required=True),
                F("price", "$.price", kind="int", required=True),
            ),
            rules=(Rule("quantity", "quantity < 1", "below 1"), *not_negative("price")),
        ),
    ),
    rules=(
        *not_negative("total_fee", "discount_fee", "payer_total", "refund_fee"),
        Rule("refund_fee", "refund_fee > coalesce(payer_total, total_fee)",
             "larger than payer_total (a refund returns at most what was paid)"),
        at_most_max_order("total_fee", unit="fen"),
    ),
)

MP_EVENTS_SPEC = EntitySpec(
    channel="miniprogram",
    entity="events",
    fmt="jsonl",
    key=(),
    description="Behaviour events (views, carts, favourites, shares, coupon claims).",
    fields=(
        F("openid", "$.openid", required=True),
        F("event", "$.event", kind="enum", values=MP_EVENTS, required=True),
        F("sku", "$.sku"),
        F("event_at", "$.ts", kind="iso_timestamp", required=True),
    ),
)

WECOM_CONTACTS = EntitySpec(
    channel="wecom",
    entity="external_contacts",
    fmt="jsonl",
    key=("external_userid",),
    description="WeCom externalcontact/get responses, one per line.",
    # the contact's WeChat name and the staff's remark about them: not read
    personal_names=("name", "remark"),
    fields=(
        F("external_userid", "$.external_contact.external_userid", required=True),
        F("contact_type", "$.external_contact.type", kind="int"),
        F("gender", "$.external_contact.gender", kind="int"),
        F("unionid", "$.external_contact.unionid"),
    ),
    rules=(
        Rule("contact_type", "contact_type NOT IN (1, 2)",
             "not 1 (WeChat user) or 2 (WeCom user)"),
        Rule("gender", "gender NOT IN (0, 1, 2)", "not 0 (unknown), 1 (male) or 2 (female)"),
    ),
    children=(
        Child(
            name="follow_users",
            path="$.follow_user",
            parent_fields=("external_userid",),
            description="Staff members who added the contact.",
            fields=(
                F("userid", "$.userid", required=True),
                F("created_at", "$.createtime", kind="epoch"),
                F("add_way", "$.add_way", kind="int"),
                F("state", "$.state"),
            ),
            children=(
                Child(
                    name="tags",
                    path="$.tags",
                    parent_fields=("external_userid", "userid"),
                    fields=(
                        F("group_name", "$.group_name"),
                        F("tag_name", "$.tag_name"),
                        F("tag_type", "$.type", kind="int"),
                    ),
                ),
                Child(
                    name="remark_mobiles",
                    path="$.remark_mobiles",
                    parent_fields=("external_userid", "userid"),
                    scalar=True,
                    description="Mobiles typed by staff, hashed at the door.",
                    fields=(F("mobile", "$", kind="mobile"),),
                ),
            ),
        ),
    ),
)

WECOM_EVENTS = EntitySpec(
    channel="wecom",
    entity="contact_events",
    fmt="jsonl",
    key=(),
    description="WeCom external-contact change callbacks.",
    fields=(
        F("change_type", "$.ChangeType", kind="enum", values=WECOM_CHANGE_TYPES, required=True),
        F("userid", "$.UserID"),
        F("external_userid", "$.ExternalUserID", required=True),
        F("state", "$.State"),
        F("event_at", "$.CreateTime", kind="epoch", required=True),
    ),
)

WECOM_GROUP_CHATS = EntitySpec(
    channel="wecom",
    entity="group_chats",
    fmt="jsonl",
    key=("chat_id",),
    description="WeCom customer groups: externalcontact/groupchat/get responses, one per line, "
    "the full member list of each group created or changed that day (landing contract v1.1).",
    # members' `name` and `group_nickname` (a WeChat name, free text) are personal data: no
    # field reads them and the quarantine copy blanks them; `notice` is not read either
    personal_names=("name", "group_nickname"),
    fields=(
        F("chat_id", "$.group_chat.chat_id", required=True),
        F("owner", "$.group_chat.owner", required=True, description="Staff userid of the owner."),
        F("created_at", "$.group_chat.create_time", kind="epoch", required=True),
        F("member_version", "$.group_chat.member_version"),
    ),
    children=(
        Child(
            name="members",
            path="$.group_chat.member_list",
            parent_fields=("chat_id",),
            description="The group's members in this delivery (staff and external contacts).",
            fields=(
                F("userid", "$.userid", required=True),
                F("member_type", "$.type", kind="int", required=True),
                F("joined_at", "$.join_time", kind="epoch", required=True),
                F("join_scene", "$.join_scene", kind="int"),
                F("invitor_userid", "$.invitor.userid"),
                F("unionid", "$.unionid"),
            ),
            rules=(
                Rule("member_type", "member_type NOT IN (1, 2)",
                     "not 1 (staff member) or 2 (external contact)"),
                Rule("join_scene", "join_scene NOT IN (1, 2, 3)",
                     "not 1 (invited directly), 2 (invited by link) or 3 (scanned the QR code)"),
            ),
        ),
        Child(
            name="admins",
            path="$.group_chat.admin_list",
            parent_fields=("chat_id",),
            description="The group's admins (staff userids).",
            fields=(F("userid", "$.userid", required=True),),
        ),
    ),
)

WECOM_GROUP_EVENTS = EntitySpec(
    channel="wecom",
    entity="group_events",
    fmt="jsonl",
    key=(),
    description="WeCom change_external_chat callbacks (landing contract v1.1); they arrive "
    "out of order and twice.",
    fields=(
        F("change_type", "$.ChangeType", kind="enum", values=WECOM_GROUP_CHANGE_TYPES,
          required=True),
        F("chat_id", "$.ChatId", required=True),
        F("update_detail", "$.UpdateDetail", kind="enum", values=WECOM_GROUP_UPDATE_DETAILS),
        F("join_scene", "$.JoinScene", kind="int"),
        F("quit_scene", "$.QuitScene", kind="int"),
        F("mem_change_cnt", "$.MemChangeCnt", kind="int"),
        F("event_at", "$.CreateTime", kind="epoch", required=True),
    ),
    rules=(
        # (on change_type: a rule's reason quotes its field's value, and this one is NULL)
        Rule("change_type", "change_type = 'update' AND update_detail IS NULL",
             "an update without UpdateDetail (add_member, del_member, change_owner, ...)"),
        Rule("join_scene", "join_scene NOT IN (0, 3)",
             "not 0 (invited by a member) or 3 (scanned the QR code)"),
        Rule("quit_scene", "quit_scene NOT IN (0, 1)",
             "not 0 (left by themselves) or 1 (removed by the owner or an admin)"),
        *not_negative("mem_change_cnt"),
    ),
    children=(
        Child(
            name="members",
            path="$.MemChangeList",
            parent_fields=("chat_id",),
            scalar=True,
            description="Userids that joined or left (add_member / del_member).",
            fields=(F("userid", "$", required=True),),
        ),
    ),
)

ENTITY_SPECS: tuple[EntitySpec, ...] = (
    POS_MEMBERS,
    POS_ORDERS,
    POS_ORDER_ITEMS,
    TMALL_MEMBERS,
    TMALL_ORDERS,
    TMALL_ORDER_ITEMS,
    MP_USERS,
    MP_ORDERS,
    MP_EVENTS_SPEC,
    WECOM_CONTACTS,
    WECOM_EVENTS,
    WECOM_GROUP_CHATS,
    WECOM_GROUP_EVENTS,
)

SPECS_BY_NAME = {s.name: s for s in ENTITY_SPECS}

REFERENCE_SPECS: tuple[EntitySpec, ...] = (
    EntitySpec(
        channel="reference",
        entity="stores",
        fmt="csv",
        key=("store_id",),
        description="Store master data.",
        fields=(
            F("store_id", required=True),
            F("store_name"),
            F("city"),
            F("province"),
            F("opened_at", kind="date"),
        ),
    ),
    EntitySpec(
        channel="reference",
        entity="products",
        fmt="csv",
        key=("sku",),
        description="Product master data with unit cost for gross profit.",
        fields=(
            F("sku", required=True),
            F("product_name"),
            F("category"),
            F("list_price", kind="decimal", required=True),
            F("unit_cost", kind="decimal", required=True),
        ),
        rules=not_negative("list_price", "unit_cost"),
    ),
)
