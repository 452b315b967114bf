-- The 圈层 layer mix of each live WeCom customer group for BI: members per group and layer
-- (核心 core / 影响 influence / 外围 periphery, marts.group_member_layers), with the group's
-- store and status. Counts only, no member ids.
select
    layers.chat_id,
    chats.store_id,
    chats.status,
    {{ bi_label('chats.status', 'group_status') }} as status_name,
    layers.layer,
    layers.layer_name,
    layers.layer_rank,
    count(*) as members,
    cast(sum(layers.net_amount_window) as {{ type_amount() }}) as net_amount_window,
    layers.as_of_date
from {{ ref('group_member_layers') }} as layers
inner join {{ ref('group_chats') }} as chats
    on layers.chat_id = chats.chat_id
group by layers.chat_id, chats.store_id, chats.status, layers.layer, layers.layer_name,
    layers.layer_rank, layers.as_of_date
