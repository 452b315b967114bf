-- Members that split because a link disappeared (a WeCom contact deleted, a phone changed):
-- the largest part kept member_id, the other part got new_member_id.
select
    member_id,
    new_member_id,
    split_at,
    reason
from {{ source('identity', 'splits') }}
