-- WeCom customer group × day for BI (marts.group_daily) with the group's store and status:
-- customers, joins, leaves, members' purchases while in the group, joiners' conversion.
select
    daily.chat_id,
    chats.store_id,
    chats.status,
    {{ bi_label('chats.status', 'group_status') }} as status_name,
    daily.day,
    daily.members,
    daily.joins,
    daily.leaves,
    daily.buying_members,
    daily.orders,
    daily.gmv,
    daily.net_amount,
    daily.joiners,
    daily.converted_short,
    daily.conversion_rate_short,
    daily.converted_long,
    daily.conversion_rate_long,
    daily.as_of_date
from {{ ref('group_daily') }} as daily
inner join {{ ref('group_chats') }} as chats
    on daily.chat_id = chats.chat_id
