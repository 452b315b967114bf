-- Audience membership for BI (marts.member_audiences): one row per member and audience on the
-- as-of day, with the audience's Chinese label (the first word of its var audiences name,
-- e.g. 首购14天黄金期). No personal data; member_id is the pseudonymous warehouse key.
select
    member_id,
    audience_code,
    {{ bi_audience_label('audience_code') }} as audience_label,
    as_of_date
from {{ ref('member_audiences') }}
