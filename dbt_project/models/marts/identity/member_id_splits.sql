-- Members that split because a link disappeared (a WeCom contact deleted, a phone changed):
-- the part holding the member's founding identifier kept member_id, each other part got
-- new_member_id (minted from its own founder, as a full rebuild would).
select
    member_id,
    new_member_id,
    split_at,
    reason
from {{ source('identity', 'splits') }}
