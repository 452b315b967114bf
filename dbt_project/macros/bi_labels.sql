{#
    Chinese display labels for the BI views (models/serving/bi/): the marts keep stable English
    codes, the `bi` views put a Chinese label next to each code and Superset shows the label
    (bi/superset/). Names the project configures come from their var — tiers (var tiers), RFM
    segments (var rfm_segments), audiences (var audiences) — and lifecycle stage names from
    marts.member_lifecycle; the codes below have no configured name, so this is their one place.
    A code missing here is shown as it is (never as null).
#}
{% macro bi_labels(kind) -%}
    {%- set labels = {
        'channel': {'all': '全部渠道', 'pos': '门店', 'tmall': '天猫', 'miniprogram': '小程序',
                    'wecom': '企业微信', 'unknown': '未知'},
        'gender': {'female': '女', 'male': '男', 'unknown': '未知'},
        'aipl_stage': {'awareness': '认知', 'interest': '兴趣', 'purchase': '购买', 'loyalty': '忠诚'},
        'change_reason': {'enrolment': '入会', 'upgrade': '升级', 'downgrade': '降级',
                          'refund_downgrade': '退款降级'},
        'group_status': {'active': '活跃群', 'zombie': '僵尸群', 'dismissed': '已解散'},
        'gmv_factor': {'members': '会员数', 'retention_rate': '活跃率',
                       'conversion_rate': '购买转化率', 'repurchase_count': '人均订单数',
                       'average_order_value': '客单价'},
        'lift_status': {'ok': '可解读', 'window_open': '观察期未结束',
                        'not_enough_members': '样本不足'},
        'lift_verdict': {'increase': '显著提升', 'decrease': '显著下降',
                         'inconclusive': '无显著差异'},
    } -%}
    {%- if kind not in labels -%}
        {{ exceptions.raise_compiler_error("bi_labels: no labels for '" ~ kind ~ "'") }}
    {%- endif -%}
    {{ return(labels[kind]) }}
{%- endmacro %}


{# The order codes are shown in where a funnel order exists (1 = first). #}
{% macro bi_order(kind) -%}
    {%- set orders = {
        'lifecycle_stage': ['introduction', 'growth', 'maturity', 'decline', 'churned'],
        'aipl_stage': ['awareness', 'interest', 'purchase', 'loyalty'],
        'gmv_factor': ['members', 'retention_rate', 'conversion_rate', 'repurchase_count',
                       'average_order_value'],
    } -%}
    {{ return(orders[kind]) }}
{%- endmacro %}


{# case <column> when '<code>' then '<label>' … else <column> end; null → `null_label` (when given). #}
{% macro bi_label(column, kind, null_label=none) -%}
    case
        {%- if null_label is not none %}
        when {{ column }} is null then {{ sql_string(null_label) }}
        {%- endif %}
        {%- for code, label in bi_labels(kind).items() %}
        when {{ column }} = {{ sql_string(code) }} then {{ sql_string(label) }}
        {%- endfor %}
        else {{ column }}
    end
{%- endmacro %}


{# 1-based position of a code in bi_order(kind); codes outside the list sort last. #}
{% macro bi_order_of(column, kind) -%}
    {%- set codes = bi_order(kind) -%}
    case
        {%- for code in codes %}
        when {{ column }} = {{ sql_string(code) }} then {{ loop.index }}
        {%- endfor %}
        else {{ codes | length + 1 }}
    end
{%- endmacro %}


{# The Chinese name of a tier code (var tiers), e.g. for next_tier_code; null stays null. #}
{% macro bi_tier_name(column) -%}
    case
        {%- for t in var('tiers') %}
        when {{ column }} = {{ sql_string(t.tier_code) }} then {{ sql_string(t.tier_name) }}
        {%- endfor %}
        else {{ column }}
    end
{%- endmacro %}


{# The Chinese label of an audience code: the first word of its name in var audiences
   ("首购14天黄金期 first purchase in the last 14 days" → 首购14天黄金期). #}
{% macro bi_audience_label(column) -%}
    case
        {%- for a in var('audiences') %}
        when {{ column }} = {{ sql_string(a.code) }} then {{ sql_string((a.name | string).split(' ')[0]) }}
        {%- endfor %}
        else {{ column }}
    end
{%- endmacro %}
