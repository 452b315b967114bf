-- Identifier values that are not used for merging, and why: the per-type rules of
-- int_identity__shared_identifiers (counter/staff phones, placeholders), plus the hubs the
-- identity step split a component above var('identity_max_component_size') at (flag_kind
-- component_cap, written to identity.shared_hubs by the identity asset: lib/identity/cap.py).
with

rules as (
    select
        id_type,
        id_value,
        flag_kind,
        reason,
        max_accounts_linked
    from {{ ref('int_identity__shared_identifiers') }}
),

capped as (
    select
        hubs.id_type,
        hubs.id_value,
        hubs.flag_kind,
        hubs.reason,
        hubs.max_accounts_linked
    from {{ source('identity', 'shared_hubs') }} as hubs
    left join rules
        on hubs.id_type = rules.id_type and hubs.id_value = rules.id_value
    where rules.id_value is null
)

select * from rules
union all
select * from capped
