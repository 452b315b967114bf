-- Members for BI: dim_member without direct identifiers (no mobile, no birthday, no names,
-- no channel account ids). member_id is a pseudonymous warehouse key.
select
    member_id,
    first_seen_at,
    acquisition_channel,
    acquisition_store_id,
    gender,
    city,
    is_shared_identifier_flagged
from {{ published('dim_member') }}
