{#
    "Newest version of each key", written once (landing contract: entities are incremental,
    the same key can arrive on many days; the newest `dt` wins, inside one `dt` the later
    file by name, inside one file the last line).

    Every raw table carries the lineage columns `_dt`, `_source_file`, `_source_line`.
    Reference tables have `_dt` null (one file, no days): `nulls last` keeps the order the
    same on DuckDB and Spark, whose default null orderings differ.
#}

{% macro newest_delivery_first(alias=none) -%}
    {%- set p = (alias ~ '.') if alias else '' -%}
    {{ p }}_dt desc nulls last, {{ p }}_source_file desc, {{ p }}_source_line desc
{%- endmacro %}


{#
    One row per `key_columns`: the newest delivered version. Returns a complete select (use
    it as the body of the `source` CTE); the result keeps every raw column plus a helper
    `_version_rank` that the `renamed` CTE drops by listing its columns.

    For entities without a key (events), pass every business column: the same event
    delivered twice (a re-sent file under another name, or on another day) then counts once.
#}
{% macro latest_by_key(relation, key_columns) -%}
    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ newest_delivery_first('versions') }}
            ) as _version_rank
        from {{ relation }} as versions
    ) as ranked
    where _version_rank = 1
{%- endmacro %}


{#
    Line tables delivered as their own files (POS and Tmall order items): an order's lines
    are taken from its newest delivery only (newest `_dt`, then the later file), so lines an
    order had in an older delivery do not survive a re-delivery. Inside that delivery the
    usual newest-version rule applies per `key_columns`.
#}
{% macro latest_delivery_by_group(relation, group_columns, key_columns) -%}
    select *
    from (
        select
            deliveries.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ newest_delivery_first('deliveries') }}
            ) as _version_rank
        from (
            select
                lines.*,
                dense_rank() over (
                    partition by {{ group_columns | join(', ') }}
                    order by lines._dt desc nulls last, lines._source_file desc
                ) as _delivery_rank
            from {{ relation }} as lines
        ) as deliveries
        where _delivery_rank = 1
    ) as ranked
    where _version_rank = 1
{%- endmacro %}


{#
    Rows of a flattened JSON child table (order items, follow users, tags, remark mobiles)
    that belong to the winning row of their parent. Ingestion gives child rows the parent's
    lineage, so the parent's `_source_file` + `_source_line` identify one delivered JSON line:
    an order re-delivered with other items keeps only the new items.

    `parent_relation` is the parent's staging model (it keeps the lineage columns).
    `key_columns`: a list of names shared by both, or a mapping {child column: parent column}
    when staging renamed the parent key.
#}
{#
    Column names given as a list (same name on both sides) or as a mapping {left: right}, as
    (left, right) pairs.
#}
{% macro column_pairs(columns) -%}
    {%- if columns is mapping -%}
        {{ return(columns.items() | list) }}
    {%- endif -%}
    {%- set pairs = [] -%}
    {%- for c in columns -%}{%- do pairs.append((c, c)) -%}{%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}


{% macro from_winning_parent(child_relation, parent_relation, key_columns) -%}
    {%- set pairs = column_pairs(key_columns) -%}
    select child.*
    from {{ child_relation }} as child
    inner join {{ parent_relation }} as parent
        on
        {%- for child_col, parent_col in pairs %}
        child.{{ child_col }} = parent.{{ parent_col }} and
        {%- endfor %}
        child._dt = parent._dt
        and child._source_file = parent._source_file
        and child._source_line = parent._source_line
{%- endmacro %}
