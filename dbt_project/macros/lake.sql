{#
    Spark target: the ingestion assets land raw tables as Parquet files in the lake folder
    (pipelines/lib/ingest/sinks.py ParquetSink); this on-run-start hook registers them as
    Spark tables so that `source('raw', ...)` reads them like any warehouse table.

    Registered: every source whose schema is in var('lake_schemas'), plus
    var('lake_extra_tables') (quarantine and the load log, which no model reads). Each is an
    external Parquet table at `<SIYU_LAKE_DIR>/<schema>/<table>`; the Spark server runs with
    `spark.sql.hive.manageFilesourcePartitions=false`, so `_dt=` folders are found by listing
    and `REFRESH TABLE` makes days landed since the last run visible. Each registration merges
    the schemas of all the table's files (`mergeSchema`), so a column the landing contract adds
    is seen as soon as one day has it (tests/e2e/test_spark_equivalence.py); the older days read
    it as null.

    A dbt invocation registers only the lake tables its selected nodes read directly (with the
    extra tables, whenever it registers any): the night's staging group registers them all, the
    marts group the one table an intermediate model there reads, the serving group none — of
    ≈ 8 s per invocation on local Spark (≈ 24 tables) that each of a night's three dbt
    invocations spent, ≈ 15 s a night are saved. A registered table still sees a day landed
    later: with `manageFilesourcePartitions=false` a new session lists the `_dt=` folders again
    (tests/e2e/test_spark_equivalence.py checks both).

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
        {%- set read = lake_sources_read() -%}
        {%- set tables = [] -%}
        {%- for node in graph.sources.values() if node.schema in var('lake_schemas') -%}
            {%- if read is none or node.unique_id in read -%}
                {%- do tables.append(node.schema ~ '.' ~ node.identifier) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not tables -%}
            {{ return('select 1 as no_lake_table_read_by_this_selection') }}
        {%- endif -%}
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
            {#- mergeSchema: the union of every file's columns. Without it Spark takes the schema
                of one footer, the oldest day's, and a column only newer days have is not seen. -#}
            {%- do run_query('create table ' ~ schema ~ '.`' ~ name ~ "` using parquet options (mergeSchema 'true') location '" ~ location ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as lake_tables_registered
{%- endmacro %}

{#
    The unique ids of the lake sources (schema in var('lake_schemas')) that the nodes selected by
    this dbt invocation read directly; none when the selection is unknown or empty, as in
    `dbt run-operation register_lake_tables` (register them all).
#}
{% macro lake_sources_read() -%}
    {%- if selected_resources is not defined or selected_resources is none
           or selected_resources | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set read = [] -%}
    {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
        {%- for dependency in graph.nodes[unique_id].depends_on.nodes
                if dependency.startswith('source.') -%}
            {%- do read.append(dependency) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(read | unique | list) }}
{%- endmacro %}
