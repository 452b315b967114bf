{#
    Fails on every row where `expression` is not true. On a column the column is put in front
    of the expression (`column_name: paid_amount`, `expression: ">= 0"`).
    A null result counts as a failure only when `fail_on_null` is true: optional columns
    (a null discount) should not trip a range check.
#}
{% test expression_is_true(model, expression, column_name=none, where_clause=none, fail_on_null=false) %}
{%- set check = (column_name ~ ' ' ~ expression) if column_name else expression -%}
select *
from {{ model }}
where
    {% if where_clause %}({{ where_clause }}) and {% endif %}
    {% if fail_on_null %}
    not coalesce({{ check }}, false)
    {% else %}
    not ({{ check }})
    {% endif %}
{% endtest %}
