-- Audience sizes for BI: one row per audience of var audiences — also those nobody is in
-- (0 members) — with its Chinese label (the first word of the name, e.g. 首购14天黄金期), the
-- full name and English description from the config, members on the as-of day and their
-- share of all members known then.

{% set audiences = var('audiences') %}

with

audiences as (
    {%- for a in audiences %}
    select
        {{ sql_string(a.code) }} as audience_code,
        {{ loop.index }} as audience_order,
        {{ sql_string(a.name) }} as audience_name,
        {{ sql_string(a.description or '') }} as audience_description
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if audiences | length == 0 %}
    select
        {{ dbt.safe_cast('null', dbt.type_string()) }} as audience_code,
        0 as audience_order,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as audience_name,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as audience_description
    from ({{ member_value_as_of() }}) as none_configured
    where 1 = 0
    {%- endif %}
),

sizes as (
    select audience_code, count(*) as members
    from {{ ref('member_audiences') }}
    group by audience_code
),

known as (
    select count(*) as members from ({{ members_known_as_of() }}) as known_members
)

select
    audiences.audience_code,
    {{ bi_audience_label('audiences.audience_code') }} as audience_label,
    audiences.audience_name,
    audiences.audience_description,
    audiences.audience_order,
    as_of.as_of_date,
    coalesce(sizes.members, 0) as members,
    case when known.members > 0
        then cast(coalesce(sizes.members, 0) as double) / known.members end as share_of_members
from audiences
cross join ({{ member_value_as_of() }}) as as_of
cross join known
left join sizes
    on sizes.audience_code = audiences.audience_code
