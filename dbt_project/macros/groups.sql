{#
    Helpers of the WeCom customer-group marts (models/marts/groups, docs/groups.md).
#}

{# A relation of the integers 0 .. 10^digits - 1 (column n): a day spine without engine
   functions (generate_series/sequence differ) and without a query at compile time. #}
{% macro integers_below_power_of_ten(digits=4) -%}
    select
        {%- for i in range(digits) %}
        d{{ i }}.n * {{ 10 ** i }}{% if not loop.last %} +{% endif %}
        {%- endfor %} as n
    from
        {%- for i in range(digits) %}
        (
            {%- for v in range(10) %}
            select {{ v }} as n{% if not loop.last %} union all{% endif %}
            {%- endfor %}
        ) as d{{ i }}{% if not loop.last %} cross join{% endif %}
        {%- endfor %}
{%- endmacro %}


{# The Chinese name of a group layer code. #}
{% macro group_layer_name(column) -%}
    case {{ column }}
        when 'core' then '核心'
        when 'influence' then '影响'
        when 'periphery' then '外围'
    end
{%- endmacro %}
