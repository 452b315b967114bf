-- Every member_id that was retired because its member was linked to an older one. BI tools and
-- downstream systems holding an old id look it up here (follow member_id until it is current;
-- an id a later split gave back is current again: see member_id_splits).
select
    old_member_id,
    member_id,
    merged_at,
    reason
from {{ source('identity', 'merges') }}
