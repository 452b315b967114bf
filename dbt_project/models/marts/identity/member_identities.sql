-- One row per identifier: which member it belongs to. Mobiles appear only as mobile_sha256.
select
    member_id,
    id_type,
    id_value,
    first_seen_at,
    last_seen_at
from {{ source('identity', 'member_id_assignments') }}
