{#
    BI views are named `bi_<x>` in dbt (model names are project-wide unique, and `member_ltv`
    is already a mart) but created as `bi.<x>`, so BI users see `bi.member_ltv`.
    Every other model keeps dbt's default alias.
#}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif node.fqn[1] == 'serving' and node.name.startswith('bi_') -%}
        {{ node.name[3:] }}
    {%- elif node.version -%}
        {{ return(node.name ~ "_v" ~ (node.version | replace(".", "_"))) }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
