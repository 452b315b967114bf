{#
    Activation: holdout arms, audience targets and the lift statistics (var activation and the
    optional `holdout_share` / `activation` keys of each entry of var audiences). The rules are
    documented in docs/activation.md; pipelines/lib/activation/arms.py computes the same arm in
    Python (tested equal).
#}

{# The audiences' holdout shares as a relation: audience_code, holdout_share. Validates the
   activation keys of var audiences at compile time. #}
{% macro audience_holdout_shares() -%}
    {%- set cfg = var('activation') -%}
    {%- set audiences = var('audiences') -%}
    {%- if audiences | length == 0 -%}
    select cast(null as {{ dbt.type_string() }}) as audience_code, cast(null as double) as holdout_share
    where 1 = 0
    {%- endif -%}
    {%- for a in audiences %}
    {%- set share = a.get('holdout_share', cfg.default_holdout_share) -%}
    {%- if share is not number or share < 0 or share >= 1 -%}
        {{ exceptions.raise_compiler_error("audience '" ~ a.code ~ "': holdout_share must be a number in [0, 1), got " ~ share) }}
    {%- endif -%}
    {%- set kinds = [] -%}
    {%- for t in a.get('activation', []) -%}
        {%- if t.target not in ('wecom_tag', 'coupon') -%}
            {{ exceptions.raise_compiler_error("audience '" ~ a.code ~ "': activation target must be wecom_tag or coupon, got " ~ t.target) }}
        {%- endif -%}
        {%- if t.target == 'wecom_tag' and not t.tag_id -%}
            {{ exceptions.raise_compiler_error("audience '" ~ a.code ~ "': a wecom_tag target needs tag_id") }}
        {%- endif -%}
        {%- if t.target == 'coupon' and not t.template -%}
            {{ exceptions.raise_compiler_error("audience '" ~ a.code ~ "': a coupon target needs template") }}
        {%- endif -%}
        {%- if t.target in kinds -%}
            {{ exceptions.raise_compiler_error("audience '" ~ a.code ~ "': target " ~ t.target ~ " is listed twice") }}
        {%- endif -%}
        {%- do kinds.append(t.target) -%}
    {%- endfor %}
    select {{ sql_string(a.code) }} as audience_code, cast({{ share }} as double) as holdout_share
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}


{# A number in [0, 1) from the first 32 bits of md5(salt|audience|member): uniform, stable
   across engines, runs and nights; independent between audiences (the code is hashed in). #}
{% macro arm_unit(audience_code, member_id) -%}
    {{ return(adapter.dispatch('arm_unit')(audience_code, member_id)) }}
{%- endmacro %}

{% macro default__arm_unit(audience_code, member_id) -%}
    cast(cast(('0x' || substr(md5({{ sql_string(var('activation').arm_salt) }} || '|' || {{ audience_code }} || '|' || {{ member_id }}), 1, 8)) as bigint) as double) / 4294967296.0
{%- endmacro %}

{% macro spark__arm_unit(audience_code, member_id) -%}
    cast(conv(substr(md5(concat({{ sql_string(var('activation').arm_salt) }}, '|', {{ audience_code }}, '|', {{ member_id }})), 1, 8), 16, 10) as double) / 4294967296.0
{%- endmacro %}


{# The arm of a member in an audience: holdout when arm_unit < the audience's holdout share. #}
{% macro holdout_arm(audience_code, member_id, holdout_share) -%}
    case when {{ arm_unit(audience_code, member_id) }} < {{ holdout_share }}
         then 'holdout' else 'treated' end
{%- endmacro %}


{# The two-sided quantile of Student's t for `df` degrees of freedom at the confidence of
   var activation.lift_z (the normal quantile), by the Cornish-Fisher expansion (Abramowitz &
   Stegun 26.7.5; error < 0.5 % of the quantile from df = 5, exact as df grows). #}
{% macro t_quantile(df) -%}
    {%- set z = var('activation').lift_z -%}
    ({{ z }}
     + ({{ z }} * {{ z }} * {{ z }} + {{ z }}) / (4.0 * ({{ df }}))
     + (5.0 * power({{ z }}, 5) + 16.0 * power({{ z }}, 3) + 3.0 * {{ z }}) / (96.0 * power({{ df }}, 2))
     + (3.0 * power({{ z }}, 7) + 19.0 * power({{ z }}, 5) + 17.0 * power({{ z }}, 3) - 15.0 * {{ z }})
       / (384.0 * power({{ df }}, 3)))
{%- endmacro %}
