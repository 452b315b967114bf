{#
    Member-keyed increments of the tier chain (int_member_value__growth_balance →
    int_member_value__tier_days → int_member_value__tier_spells; docs/operations.md, "Nightly
    runs").

    These models hold each member's *projected* history: every change their ledger rows will
    cause, including points expiring after the as-of day and the review days that follow. A
    member's rows are then a function of that member's inputs alone (ledger rows and first-seen
    day), not of the as-of day, and the marts cut them at the as-of day (member_tier_history,
    member_tiers). Rows are causal (a day's values depend only on earlier days), so the cut
    gives exactly what a history computed up to the as-of day gives.

    Which members a night rewrites is decided from the data: every row carries the member's
    `inputs_fingerprint`, an order-free hash of what the rows were computed from combined with
    the model's own signature (its SQL and the rules it reads). A member whose fingerprint
    tonight differs from the stored one is recomputed: new or refunded orders, OneID merges
    and splits moving ledger rows, a new member, a changed rule or model. Members whose inputs
    are gone are deleted by `delete_members_no_longer_in` (post-hook). So the stored rows
    converge to a full rebuild whatever happened on earlier nights (a failed night, a re-run),
    up to a 64-bit hash collision. Changes the fingerprint cannot see: a change to a macro the
    chain calls other than through its rendered text, an adapter upgrade that changes date
    functions (run a full refresh then); an edit of a model's comments recomputes everyone.
#}

{# A 64-bit hash of a row's columns (DuckDB hash, Spark xxhash64). Only compared within one
   warehouse, so the two engines need not agree.

   DuckDB's multi-column hash XORs the last column's hash into the others' combination, so two
   rows whose last column changes the same way (two equal orders when points per yuan
   changes) change by the same bits and cancel out under `hash_xor_agg`: the member would keep
   their fingerprint and stale rows. Hashing the hash again mixes every bit. #}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash', 'siyu')(columns)) }}
{%- endmacro %}

{% macro duckdb__row_hash(columns) -%}
    hash(hash({{ columns | join(', ') }}))
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}


{# Order-free combination of row hashes over a group (rows must be distinct, as ledger rows
   are: equal rows would cancel). #}
{% macro hash_xor_agg(expression) -%}
    bit_xor({{ expression }})
{%- endmacro %}


{# This model's signature as a SQL string literal: its own SQL plus whatever rendered text it
   depends on (`extra`: the rules' SQL, e.g. tier thresholds), so a changed model or rule
   changes every member's fingerprint and the next build recomputes everyone. #}
{% macro increment_signature(extra='') -%}
    '{{ local_md5(model.raw_code ~ extra) }}'
{%- endmacro %}


{# The members whose fingerprint in `fingerprints` (a relation or CTE with member_id,
   inputs_fingerprint, one row per member) differs from the stored rows' (only inside
   `{% if is_incremental() %}`; models filter with `only_members_with_new_fingerprint`). #}
{% macro members_with_new_fingerprint(fingerprints) -%}
    {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if 'inputs_fingerprint' in stored %}
    select member_id from (
        select member_id, inputs_fingerprint from {{ fingerprints }}
        except
        select member_id, inputs_fingerprint from {{ this }}
    ) as changed
    {%- else %}
    {#- written by a Siyu without fingerprints: everyone (the column is added before the insert) #}
    select member_id from {{ fingerprints }}
    {%- endif %}
{%- endmacro %}


{# The filter that limits a model of the chain to the members `members_with_new_fingerprint`
   finds; nothing on a full build. #}
{% macro only_members_with_new_fingerprint(fingerprints) -%}
    {%- if is_incremental() %}
    where member_id in ({{ members_with_new_fingerprint(fingerprints) }})
    {%- endif %}
{%- endmacro %}


{# The configuration the models of the chain share: incremental by member on DuckDB (a table on
   Spark), columns added or dropped with the model. #}
{% macro config_member_increment() -%}
    {{ config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='member_id',
        on_schema_change='sync_all_columns',
    ) }}
{%- endmacro %}


{# Post-hook: delete the stored members that are no longer in `members_sql` (a select of
   member_id). A no-op on a full build. #}
{% macro delete_members_no_longer_in(members_sql) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where member_id not in ({{ members_sql }})
    {%- endif -%}
{%- endmacro %}


{# One row per member of `relation` (an upstream model of the chain): its fingerprint combined
   with this model's signature (`increment_signature`), so this model's rows are recomputed
   when the upstream rows or this model change. #}
{% macro fingerprints_downstream_of(relation, signature) -%}
    select member_id, {{ row_hash(['inputs_fingerprint', signature]) }} as inputs_fingerprint
    from (
        select distinct member_id, inputs_fingerprint
        from {{ relation }}
    ) as members
{%- endmacro %}
