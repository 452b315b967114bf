-- Identifier values that are not used for merging, and why (counter/staff phones, placeholders).
select
    id_type,
    id_value,
    flag_kind,
    reason,
    max_accounts_linked
from {{ ref('int_identity__shared_identifiers') }}
