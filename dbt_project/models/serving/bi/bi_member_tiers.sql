-- Each member's tier on the as-of day (marts.member_tiers) for BI: the tier held with its
-- Chinese name (var tiers: 普卡/银卡/金卡), the tier the growth value qualifies for and the next
-- tier, named too. No personal data; member_id is the pseudonymous warehouse key.
select
    member_id,
    as_of_date,
    tier_code,
    tier_name,
    tier_rank,
    tier_since,
    growth_value,
    qualified_tier_code,
    {{ bi_tier_name('qualified_tier_code') }} as qualified_tier_name,
    next_tier_code,
    {{ bi_tier_name('next_tier_code') }} as next_tier_name,
    points_to_next_tier,
    points_expiring_30d
from {{ ref('member_tiers') }}
