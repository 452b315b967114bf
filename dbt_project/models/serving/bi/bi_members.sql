-- Members for BI: dim_member without direct identifiers (no mobile, no birthday, no names,
-- no channel account ids). member_id is a pseudonymous warehouse key. Chinese labels of the
-- acquisition channel and gender for the dashboards (macros/bi_labels.sql).
select
    member_id,
    first_seen_at,
    cast({{ dbt.date_trunc('month', 'first_seen_at') }} as date) as first_seen_month,
    acquisition_channel,
    {{ bi_label('acquisition_channel', 'channel', null_label='未知') }} as acquisition_channel_name,
    acquisition_store_id,
    gender,
    {{ bi_label('gender', 'gender', null_label='未知') }} as gender_name,
    city,
    coalesce(city, '未知') as city_name,
    is_shared_identifier_flagged
from {{ ref('dim_member') }}
