-- Group facts per member on the as-of day, for member_profile (and through it member_tags
-- and the audiences): whether the member is in any WeCom customer group, in how many, their
-- best layer in any group, and in how many zombie groups they are core — the people to move
-- to a live group. Members in no group have no row (member_profile fills the defaults).

with

layers as (
    select * from {{ ref('group_member_layers') }}
),

chats as (
    select chat_id, status from {{ ref('group_chats') }}
),

final as (
    select
        layers.member_id,
        cast(count(distinct layers.chat_id) as integer) as groups_count,
        case min(layers.layer_rank)
            when 1 then 'core'
            when 2 then 'influence'
            when 3 then 'periphery'
        end as best_group_layer,
        cast(sum(case when layers.layer = 'core' and chats.status = 'zombie' then 1 else 0 end)
             as integer) as zombie_groups_as_core
    from layers
    inner join chats
        on layers.chat_id = chats.chat_id
    group by layers.member_id
)

select * from final
