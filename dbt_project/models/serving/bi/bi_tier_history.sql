-- Tier spells for BI (marts.member_tier_history): one row per spell with the tier it came
-- from (the member's previous spell; null for the enrolment) and the change reason in Chinese
-- (入会 enrolment, 升级 upgrade, 降级 downgrade on the review day, 退款降级 refund_downgrade on
-- a refund's day). valid_from_month groups movements by month.

with

spells as (
    select * from {{ ref('member_tier_history') }}
)

select
    spell.member_id,
    spell.spell_number,
    spell.tier_code,
    spell.tier_name,
    spell.tier_rank,
    previous.tier_code as from_tier_code,
    previous.tier_name as from_tier_name,
    previous.tier_rank as from_tier_rank,
    spell.valid_from,
    spell.valid_to,
    cast({{ dbt.date_trunc('month', 'spell.valid_from') }} as date) as valid_from_month,
    spell.change_reason,
    {{ bi_label('spell.change_reason', 'change_reason') }} as change_reason_name,
    spell.is_current,
    spell.as_of_date
from spells as spell
left join spells as previous
    on previous.member_id = spell.member_id
    and previous.spell_number = spell.spell_number - 1
