{# Seconds in a CoinGlass interval string ('4h', '1d'). #}
{% macro interval_seconds(col) -%}
  (case right({{ col }}, 1)
     when 'm' then 60 when 'h' then 3600 when 'd' then 86400 when 'w' then 604800
   end * cast(left({{ col }}, length({{ col }}) - 1) as integer))
{%- endmacro %}

{# A timestamp shifted by a number of seconds; the interval syntax differs per warehouse. #}
{% macro add_seconds(ts, seconds) -%}
  {{ return(adapter.dispatch('add_seconds', 'sniper')(ts, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds(ts, seconds) -%}
  ({{ ts }} + ({{ seconds }}) * interval '1 second')
{%- endmacro %}

{% macro duckdb__add_seconds(ts, seconds) -%}
  ({{ ts }} + to_seconds(cast({{ seconds }} as bigint)))
{%- endmacro %}
