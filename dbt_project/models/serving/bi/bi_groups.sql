-- WeCom customer groups for BI (marts.group_chats): status with its Chinese name (活跃群 /
-- 僵尸群 / 已解散), store, size, the zombie-window numbers and the layer mix. No member and no
-- staff account: groups are known by chat_id and store (row-level security by store_id).
select
    chat_id,
    store_id,
    created_at,
    dismissed_at,
    status,
    {{ bi_label('status', 'group_status') }} as status_name,
    current_size,
    current_customers,
    customers_ever,
    last_member_purchase_date,
    joins_zombie_window,
    member_orders_zombie_window,
    member_gmv_zombie_window,
    core_members,
    influence_members,
    periphery_members,
    as_of_date
from {{ ref('group_chats') }}
