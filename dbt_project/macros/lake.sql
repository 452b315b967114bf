{#
    Spark target: the ingestion assets land raw tables as Parquet files in the lake folder
    (pipelines/lib/ingest/sinks.py ParquetSink); this on-run-start hook registers them as
    Spark tables so that `source('raw', ...)` reads them like any warehouse table.

    Registered: every source whose schema is in var('lake_schemas'), plus
    var('lake_extra_tables') (quarantine and the load log, which no model reads). Each is an
    external Parquet table at `<SIYU_LAKE_DIR>/<schema>/<table>`; the Spark server runs with
    `spark.sql.hive.manageFilesourcePartitions=false`, so `_dt=` folders are found by listing
    and `REFRESH TABLE` makes days landed since the last run visible. A table whose schema
    changed (a new column in the landing contract) is re-created: it is metadata only.

    DuckDB: ingestion writes the raw schema directly; nothing to do.
#}
{% macro register_lake_tables() -%}
    {{ return(adapter.dispatch('register_lake_tables', 'siyu')()) }}
{%- endmacro %}

{% macro default__register_lake_tables() -%}
    select 1 as lake_tables_not_used_on_this_engine
{%- endmacro %}

{% macro spark__register_lake_tables() -%}
    {%- if execute -%}
        {%- set lake = env_var('SIYU_LAKE_DIR', '') -%}
        {%- if not lake -%}
            {{ exceptions.raise_compiler_error("SIYU_LAKE_DIR is not set: the Spark target reads raw tables from the lake folder") }}
        {%- endif -%}
        {%- set tables = [] -%}
        {%- for node in graph.sources.values() if node.schema in var('lake_schemas') -%}
            {%- do tables.append(node.schema ~ '.' ~ node.identifier) -%}
        {%- endfor -%}
        {%- for name in var('lake_extra_tables') -%}
            {%- do tables.append(name) -%}
        {%- endfor -%}
        {%- set schemas = [] -%}
        {%- for table in tables -%}{%- do schemas.append(table.split('.')[0]) -%}{%- endfor -%}
        {%- for schema in schemas | unique -%}
            {%- do run_query('create schema if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for table in tables | unique -%}
            {%- set schema, name = table.split('.') -%}
            {%- set location = lake.rstrip('/') ~ '/' ~ schema ~ '/' ~ name -%}
            {%- do run_query('drop table if exists ' ~ schema ~ '.`' ~ name ~ '`') -%}
            {%- do run_query('create table ' ~ schema ~ '.`' ~ name ~ '` using parquet location ' ~ "'" ~ location ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as lake_tables_registered
{%- endmacro %}
