-- The ledger is the growth history up to the as-of day: no entry may be dated later (an
-- incremental night must never keep an entry a full rebuild would not write).

select ledger.ledger_event_id, ledger.event_date, as_of.as_of_date
from {{ ref('member_growth_ledger') }} as ledger
cross join {{ ref('int_member_value__as_of') }} as as_of
where ledger.event_date > as_of.as_of_date
