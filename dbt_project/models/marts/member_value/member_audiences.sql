-- Rule-based audiences (var audiences in dbt_project.yml): one row per member and audience
-- they belong to on the as-of day. Each audience is a list of rules over member_profile
-- columns, all of which must hold; the rules are rendered by macros/member_value.sql, which
-- refuses unknown columns or operators at compile time.

{% set audiences = var('audiences') %}
{% set seen = [] %}
{% for a in audiences %}
    {% if not a.code or not a.name or not a.rules %}
        {{ exceptions.raise_compiler_error("every audience needs code, name and at least one rule; got " ~ a) }}
    {% endif %}
    {% if a.code in seen %}
        {{ exceptions.raise_compiler_error("audience code '" ~ a.code ~ "' is defined twice") }}
    {% endif %}
    {% do seen.append(a.code) %}
{% endfor %}
{% set allowed = [] %}
{% if execute %}
    {% for c in adapter.get_columns_in_relation(ref('member_profile')) %}
        {% do allowed.append(c.name) %}
    {% endfor %}
{% endif %}

with

profile as (
    select * from {{ ref('member_profile') }}
),

{% if audiences | length == 0 %}
matched as (
    select
        member_id,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as audience_code,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as audience_name,
        as_of_date
    from profile
    where 1 = 0
),
{% else %}
matched as (
    {%- for a in audiences %}
    select
        member_id,
        {{ sql_string(a.code) }} as audience_code,
        {{ sql_string(a.name) }} as audience_name,
        as_of_date
    from profile
    where
        {%- for rule in a.rules %}
        {{ 'and ' if not loop.first }}({{ audience_condition(a.code, rule, allowed) }})
        {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
{% endif %}

final as (
    select member_id, audience_code, audience_name, as_of_date from matched
)

select * from final
