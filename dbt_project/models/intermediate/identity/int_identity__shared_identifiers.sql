-- Hub identifiers (a mobile hash or a unionid) that link more accounts of one type than a
-- person plausibly has — a store's counter phone typed onto 40 cards, a staff member's phone
-- in 30 contacts' remark_mobiles — plus known placeholder numbers. They are flagged and never
-- used for merging; so is a phone on POS cards with different names. Limits: var('shared_identifier_limits'); placeholders:
-- var('placeholder_mobiles') (plaintext in config, hashed here: no plaintext reaches a table).

{%- set limit_rows = [] -%}
{%- for id_type, per_type in var('shared_identifier_limits').items() -%}
    {%- for linked_type, max_linked in per_type.items() -%}
        {%- do limit_rows.append((id_type, linked_type, max_linked)) -%}
    {%- endfor -%}
{%- endfor %}

with

limits as (
    {% for id_type, linked_type, max_linked in limit_rows %}
    select
        '{{ id_type }}' as id_type,
        '{{ linked_type }}' as linked_type,
        {{ max_linked }} as max_linked
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

hub_counts as (
    select
        right_type as id_type,
        right_value as id_value,
        left_type as linked_type,
        count(distinct left_value) as n_linked
    from {{ ref('int_identity__links') }}
    group by right_type, right_value, left_type
),

over_limit as (
    select
        hub_counts.id_type,
        hub_counts.id_value,
        'over_limit' as flag_kind,
        {{ dbt.concat([
            "'links '",
            dbt.safe_cast('hub_counts.n_linked', dbt.type_string()),
            "' '",
            'hub_counts.linked_type',
            "' (limit '",
            dbt.safe_cast('limits.max_linked', dbt.type_string()),
            "')'",
        ]) }} as reason,
        hub_counts.linked_type,
        hub_counts.n_linked,
        limits.max_linked
    from hub_counts
    inner join limits
        on hub_counts.id_type = limits.id_type
        and hub_counts.linked_type = limits.linked_type
    where hub_counts.n_linked > limits.max_linked
),

-- Two POS cards typed with one phone but different names are two people sharing a phone (a
-- couple, a parent and child), not one person with two cards: the phone cannot tell them
-- apart, so it links neither. One person re-issued a card keeps the same name. Names are
-- compared by their keyed hash (ingestion hashes the trimmed name; the name is not stored).
name_conflicts as (
    select
        'mobile_sha256' as id_type,
        pos.mobile_sha256 as id_value,
        'conflicting_names' as flag_kind,
        {{ dbt.concat([
            "'links '",
            dbt.safe_cast('count(distinct pos.member_card_no)', dbt.type_string()),
            "' pos_card with different names'",
        ]) }} as reason,
        'pos_card' as linked_type,
        count(distinct pos.member_card_no) as n_linked,
        {{ dbt.safe_cast('null', dbt.type_bigint()) }} as max_linked
    from {{ ref('stg_pos__members') }} as pos
    where pos.mobile_status = 'valid' and pos.member_name_hash is not null
    group by pos.mobile_sha256
    having count(distinct pos.member_name_hash) > 1
),

-- A mobile typed into the remarks of two or more contacts of the same staff member is that
-- staff member's own number (typed "to call me back"), not the customers'.
staff_phones as (
    select
        'mobile_sha256' as id_type,
        mobile_sha256 as id_value,
        'staff_phone' as flag_kind,
        {{ dbt.concat([
            "'in remark_mobiles of '",
            dbt.safe_cast('count(distinct external_userid)', dbt.type_string()),
            "' contacts of one staff member'",
        ]) }} as reason,
        'wecom_external_userid' as linked_type,
        count(distinct external_userid) as n_linked,
        {{ dbt.safe_cast('null', dbt.type_bigint()) }} as max_linked
    from {{ ref('stg_wecom__follow_user_remark_mobiles') }}
    where mobile_status = 'valid'
    group by mobile_sha256, staff_userid
    having count(distinct external_userid) >= {{ var('staff_phone_min_contacts') }}
),

placeholders as (
    {% for number in var('placeholder_mobiles') %}
    select
        'mobile_sha256' as id_type,
        {{ sha256_hex("'" ~ number ~ "'") }} as id_value,
        'placeholder' as flag_kind,
        'known placeholder number' as reason,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as linked_type,
        {{ dbt.safe_cast('null', dbt.type_bigint()) }} as n_linked,
        {{ dbt.safe_cast('null', dbt.type_bigint()) }} as max_linked
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

flags as (
    select * from over_limit
    union all
    select * from name_conflicts
    union all
    select * from staff_phones
    union all
    select * from placeholders
),

final as (
    -- one row per flagged value; when several rules hit, the reasons are all kept in order
    select
        id_type,
        id_value,
        min(flag_kind) as flag_kind,
        {{ string_agg_sorted('reason', "'; '") }} as reason,
        max(n_linked) as max_accounts_linked
    from flags
    group by id_type, id_value
)

select * from final
