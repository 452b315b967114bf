-- The one day every member-value mart is computed as of: var('as_of_date') when given (a
-- back-dated run reproduces that day), else the last business day loaded (the newest `_dt` of
-- any order, mini-program event, WeCom contact event or customer-group delivery).

{{ config(materialized='table') }}

{% if var('as_of_date', none) %}

select cast('{{ var("as_of_date") }}' as date) as as_of_date

{% else %}

with

loaded_days as (
    select max(last_delivered_dt) as dt from {{ ref('int_orders__unioned') }}
    union all
    select max(_dt) from {{ ref('stg_miniprogram__events') }}
    union all
    select max(_dt) from {{ ref('stg_wecom__contact_events') }}
    union all
    select max(_dt) from {{ ref('stg_wecom__group_chats') }}
    union all
    select max(_dt) from {{ ref('stg_wecom__group_events') }}
)

select cast(max(dt) as date) as as_of_date from loaded_days

{% endif %}
