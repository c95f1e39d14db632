{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['coin'],
    )
}}
{#- One coin per run (a Dagster partition): its rows are replaced as a whole, so a re-run of the
    same partition is idempotent and other coins are untouched. -#}
{%- set coin = var('coin') -%}
{%- set grid = var('grid_interval') -%}

with

funding as (
    select * from {{ ref('stg_coinglass__funding') }}
    where coin = '{{ coin }}' and source_key = {{ layer_source('funding') }}
),

open_interest as (
    select * from {{ ref('stg_coinglass__open_interest') }}
    where coin = '{{ coin }}' and source_key = {{ layer_source('open_interest') }}
),

liquidations as (
    select * from {{ ref('stg_coinglass__liquidations') }}
    where coin = '{{ coin }}' and source_key = {{ layer_source('liquidation') }}
),

taker as (
    select * from {{ ref('stg_coinglass__taker_volume') }}
    where coin = '{{ coin }}' and source_key = {{ layer_source('taker') }}
),

prices as (
    select * from {{ ref('stg_coinglass__prices') }}
    where coin = '{{ coin }}' and source_key = {{ layer_source('price') }}
),

-- The coin's bar grid: every bar of its grid-interval open interest and liquidation series.
grid as (
    select ts, bool_or(is_closed) as is_closed
    from (
        select ts, is_closed from open_interest where interval = '{{ grid }}'
        union all
        select ts, is_closed from liquidations where interval = '{{ grid }}'
    ) as bars
    group by ts
),

grid_bars as (
    select
        ts,
        {{ add_seconds('ts', interval_seconds("'" ~ grid ~ "'")) }} as close_at,
        is_closed
    from grid
),

{% for layer in ['funding', 'open_interest', 'liquidations', 'taker', 'prices'] %}
-- {{ layer }} as of the grid bar's close: the latest of its bars closed by then, provided it is
-- not older than one of its own intervals (older = stale, which counts as not triggered).
{{ layer }}_asof as (
    select
        g.ts as grid_ts,
        max(l.ts) as layer_ts
    from grid_bars g
    join {{ layer }} l
        on {{ add_seconds('l.ts', interval_seconds('l.interval')) }} <= g.close_at
        and {{ add_seconds('l.ts', '2 * ' ~ interval_seconds('l.interval')) }} > g.close_at
        and l.is_closed
    group by g.ts
),
{% endfor %}

layer_intervals as (
    select
        (select max(interval) from funding) as funding_interval,
        (select max(interval) from taker) as taker_interval,
        (select count(*) from funding) > 0 as has_funding,
        (select count(*) from open_interest) > 0 as has_open_interest,
        (select count(*) from liquidations) > 0 as has_liquidations,
        (select count(*) from taker) > 0 as has_taker
),

joined as (
    select
        -- keys
        '{{ coin }}' as coin,
        '{{ grid }}' as interval,
        g.ts,
        g.close_at,
        g.is_closed,
        -- funding (bps per 8 h)
        f.funding_bps_8h,
        abs(f.funding_bps_8h) as funding_abs_bps_8h,
        f.is_interval_assumed as funding_is_interval_assumed,
        {{ layer_source('funding') }} as funding_source_key,
        {{ interval_seconds('li.funding_interval') }} > {{ interval_seconds("'" ~ grid ~ "'") }}
            as funding_is_coarser,
        li.has_funding and f.ts is null as funding_is_stale,
        -- open interest
        o.oi,
        o.oi_unit,
        o.oi_roc_pct,
        {{ layer_source('open_interest') }} as oi_source_key,
        li.has_open_interest and o.ts is null as oi_is_stale,
        -- liquidations (USD)
        l.liq_long_usd,
        l.liq_short_usd,
        l.liq_total_usd,
        l.liq_polarity,
        {{ layer_source('liquidation') }} as liq_source_key,
        li.has_liquidations and l.ts is null as liq_is_stale,
        -- taker (unit-free ratio)
        t.taker_ratio,
        t.taker_value_unit,
        {{ layer_source('taker') }} as taker_source_key,
        {{ interval_seconds('li.taker_interval') }} > {{ interval_seconds("'" ~ grid ~ "'") }}
            as taker_is_coarser,
        li.has_taker and t.ts is null as taker_is_stale,
        -- price context
        p.close_usd
    from grid_bars g
    cross join layer_intervals li
    left join funding_asof fa on fa.grid_ts = g.ts
    left join funding f on f.ts = fa.layer_ts
    left join open_interest_asof oa on oa.grid_ts = g.ts
    left join open_interest o on o.ts = oa.layer_ts
    left join liquidations_asof la on la.grid_ts = g.ts
    left join liquidations l on l.ts = la.layer_ts
    left join taker_asof ta on ta.grid_ts = g.ts
    left join taker t on t.ts = ta.layer_ts
    left join prices_asof pa on pa.grid_ts = g.ts
    left join prices p on p.ts = pa.layer_ts
)

select * from joined
