{#
    Member-value rules rendered from dbt vars (dbt_project.yml), so a threshold change is a
    config edit and never a literal in a model.
#}

{# A string literal, quotes escaped. #}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{# The band a value falls in: bands are [{band, min}] lower bounds; the highest one reached
   wins. Values below every bound (or null) get `otherwise`. #}
{% macro band_case(expression, bands, otherwise='unknown') -%}
    case
    {%- for b in bands | sort(attribute='min', reverse=true) %}
        when {{ expression }} >= {{ b.min }} then {{ sql_string(b.band) }}
    {%- endfor %}
        else {{ sql_string(otherwise) }}
    end
{%- endmacro %}


{# The tier ladder of var('tiers') as a relation, lowest tier first:
   tier_code, tier_name, min_growth_value, tier_rank (1 = lowest), next_min_growth_value. #}
{% macro tier_ladder() -%}
    {%- set tiers = var('tiers') | sort(attribute='min_growth_value') -%}
    {%- for t in tiers %}
    select
        {{ sql_string(t.tier_code) }} as tier_code,
        {{ sql_string(t.tier_name) }} as tier_name,
        cast({{ t.min_growth_value }} as bigint) as min_growth_value,
        {{ loop.index }} as tier_rank,
        {% if not loop.last -%}
        cast({{ tiers[loop.index].min_growth_value }} as bigint)
        {%- else -%}
        cast(null as bigint)
        {%- endif %} as next_min_growth_value
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}


{# The rank (1 = lowest) of the tier a growth value qualifies for. #}
{% macro qualified_tier_rank(growth_expression) -%}
    {%- set tiers = var('tiers') | sort(attribute='min_growth_value') -%}
    case
    {%- for t in tiers | reverse %}
        {%- if not loop.last %}
        when {{ growth_expression }} >= {{ t.min_growth_value }} then {{ tiers | length - loop.index0 }}
        {%- endif %}
    {%- endfor %}
        else 1
    end
{%- endmacro %}


{# Growth points for an amount in yuan, rounded down (var points_per_yuan). #}
{% macro growth_points(amount_expression) -%}
    cast(floor({{ amount_expression }} * {{ var('points_per_yuan') }}) as bigint)
{%- endmacro %}


{# First day on which points earned on `earned_on` no longer count towards the tier
   (var growth_window): earned_on + rolling_days, or the next 1 January. #}
{% macro growth_expires_on(earned_on) -%}
    {%- set w = var('growth_window') -%}
    {%- if w.mode == 'rolling' -%}
    cast({{ dbt.dateadd('day', w.rolling_days, earned_on) }} as date)
    {%- elif w.mode == 'calendar_year' -%}
    cast({{ dbt.dateadd('year', 1, dbt.date_trunc('year', earned_on)) }} as date)
    {%- else -%}
    {{ exceptions.raise_compiler_error("var growth_window.mode must be 'rolling' or 'calendar_year', got " ~ w.mode) }}
    {%- endif -%}
{%- endmacro %}


{# The as-of day of the member-value marts, as a one-row select (see int_member_value__as_of). #}
{% macro member_value_as_of() -%}
    select as_of_date from {{ ref('int_member_value__as_of') }}
{%- endmacro %}


{# The members known on the as-of day (first seen on or before it), with their first-seen day. #}
{% macro members_known_as_of() -%}
    select members.member_id, cast(members.first_seen_at as date) as first_seen_date
    from {{ ref('dim_member') }} as members
    cross join ({{ member_value_as_of() }}) as as_of
    where cast(members.first_seen_at as date) <= as_of.as_of_date
{%- endmacro %}


{# A relation of the RFM windows (var rfm_windows_days): window_days. #}
{% macro rfm_windows() -%}
    {%- for w in var('rfm_windows_days') %}
    select {{ w }} as window_days
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}


{# A value in a rule: numbers and booleans as they are, strings quoted. #}
{% macro rule_literal(value) -%}
    {%- if value is boolean -%}{{ 'true' if value else 'false' }}
    {%- elif value is number -%}{{ value }}
    {%- else -%}{{ sql_string(value) }}
    {%- endif -%}
{%- endmacro %}


{# One audience rule ({field, op, value}) as a SQL condition over member_profile. Unknown
   fields or operators stop compilation with the audience named. #}
{% macro audience_condition(audience_code, rule, allowed_fields) -%}
    {%- set field = rule.field -%}
    {%- set op = rule.op -%}
    {%- if allowed_fields and field not in allowed_fields -%}
        {{ exceptions.raise_compiler_error("audience '" ~ audience_code ~ "': unknown field '" ~ field ~ "' (member_profile has: " ~ allowed_fields | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set binary = {'eq': '=', 'ne': '<>', 'gt': '>', 'gte': '>=', 'lt': '<', 'lte': '<='} -%}
    {%- if op in binary -%}
        {{ field }} {{ binary[op] }} {{ rule_literal(rule.value) }}
    {%- elif op in ('in', 'not_in') -%}
        {%- if rule.value is string or rule.value is not iterable -%}
            {{ exceptions.raise_compiler_error("audience '" ~ audience_code ~ "': op " ~ op ~ " needs a list value") }}
        {%- endif -%}
        {{ field }} {{ 'not in' if op == 'not_in' else 'in' }} (
        {%- for v in rule.value -%}{{ rule_literal(v) }}{{ ', ' if not loop.last }}{%- endfor -%})
    {%- elif op == 'between' -%}
        {%- if rule.value is string or rule.value | length != 2 -%}
            {{ exceptions.raise_compiler_error("audience '" ~ audience_code ~ "': between needs [low, high]") }}
        {%- endif -%}
        {{ field }} between {{ rule_literal(rule.value[0]) }} and {{ rule_literal(rule.value[1]) }}
    {%- elif op == 'is_true' -%}{{ field }} = true
    {%- elif op == 'is_false' -%}{{ field }} = false
    {%- elif op == 'is_null' -%}{{ field }} is null
    {%- elif op == 'not_null' -%}{{ field }} is not null
    {%- else -%}
        {{ exceptions.raise_compiler_error("audience '" ~ audience_code ~ "': unknown op '" ~ op ~ "'") }}
    {%- endif -%}
{%- endmacro %}
