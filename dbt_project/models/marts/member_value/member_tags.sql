-- The member profile as long tags (member_id, tag_group, tag, value, computed_at): one row
-- per member and tag, values as text, for tag-based tools. computed_at is the as-of day (not
-- the wall clock), so a rerun writes identical rows.

{% set tags = [
    ('static', 'gender', 'gender'),
    ('static', 'age_band', 'age_band'),
    ('static', 'city', 'city'),
    ('consumption', 'aov_band', 'aov_band'),
    ('consumption', 'preferred_category', 'preferred_category'),
    ('consumption', 'price_sensitivity', 'price_sensitivity'),
    ('consumption', 'preferred_channel', 'preferred_channel'),
    ('behaviour', 'source_channel', 'source_channel'),
    ('behaviour', 'wecom_friend_status', 'wecom_friend_status'),
    ('behaviour', 'recent_favourites', 'recent_favourites'),
    ('behaviour', 'recent_cart_adds', 'recent_cart_adds'),
    ('behaviour', 'is_recently_active', 'is_recently_active'),
    ('behaviour', 'in_any_group', 'in_any_group'),
    ('behaviour', 'groups_count', 'groups_count'),
    ('behaviour', 'best_group_layer', 'best_group_layer'),
    ('value', 'tier', 'tier_code'),
    ('value', 'rfm_segment', 'rfm_segment_code'),
    ('value', 'lifecycle_stage', 'lifecycle_stage'),
    ('value', 'aipl_stage', 'aipl_stage'),
] %}

{#- One row per (member, tag) holds by construction: member_profile has one row per member
    (tested there) and every tag name below appears once, checked here at compile time, so no
    data test has to unpivot 18 M rows every night to find out. -#}
{%- set tag_names = tags | map(attribute=1) | list -%}
{%- if tag_names | length != tag_names | unique | list | length -%}
    {{ exceptions.raise_compiler_error("member_tags: a tag name is listed twice: " ~ tag_names | join(', ')) }}
{%- endif %}

with

profile as (
    select * from {{ ref('member_profile') }}
),

tags as (
    {%- for group, tag, column in tags %}
    select
        member_id,
        '{{ group }}' as tag_group,
        '{{ tag }}' as tag,
        cast({{ column }} as {{ dbt.type_string() }}) as tag_value,
        as_of_date
    from profile
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        member_id,
        tag_group,
        tag,
        tag_value as value,
        {{ day_timestamp('as_of_date') }} as computed_at
    from tags
    where tag_value is not null
)

select * from final
