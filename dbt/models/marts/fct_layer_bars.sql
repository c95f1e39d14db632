{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['coin', 'interval', 'ts'],
        on_schema_change='append_new_columns',
        pre_hook="{{ 'set local enable_nestloop = off' if target.type == 'postgres' else '' }}",
    )
}}
{#- PostgreSQL estimates one row for each as-of CTE below (a range join, grouped) and nests loops
    over what are thousands of rows: the first build of 25 coins ran over 5 minutes, with hash
    joins it takes seconds. `set local` lasts for this model's transaction only. -#}
{#- Every coin in one build. The source each coin reads per layer comes from the
    coin_layer_sources table (written by the scan), so the SQL has no per-run vars and dbt's
    partial parsing holds. An incremental run rebuilds, per coin, the bars from its oldest raw
    row written since the coin's last build (minus a lookback margin) to the end: late closes,
    a layer that lands days late, corrections. A coin nothing was written for is left alone; a
    coin never built under its current sources is rebuilt whole. Keyed (coin, interval, ts):
    a re-run replaces the same rows. -#}
{%- set layers = [
    ('funding', 'funding', 'stg_coinglass__funding'),
    ('open_interest', 'open_interest', 'stg_coinglass__open_interest'),
    ('liquidations', 'liquidation', 'stg_coinglass__liquidations'),
    ('taker', 'taker', 'stg_coinglass__taker_volume'),
    ('prices', 'price', 'stg_coinglass__prices'),
] -%}
{#- A mart built before inputs_ingested_at existed is rebuilt whole once (then incremental). -#}
{%- set incremental = is_incremental() and 'inputs_ingested_at' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list
) -%}

with

coin_sources as (
    -- one row per coin: its grid and the chosen source key of each layer ('' when none)
    select
        coin,
        max(grid_interval) as grid_interval,
        {%- for cte, layer, model in layers %}
        coalesce(max(case when layer = '{{ layer }}' then source_key end), '') as {{ cte }}_source_key
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ source('coinglass', 'coin_layer_sources') }}
    group by coin
),

{% for cte, layer, model in layers %}
{{ cte }} as (
    select l.*
    from {{ ref(model) }} l
    join coin_sources cs on cs.coin = l.coin and l.source_key = cs.{{ cte }}_source_key
),

{{ cte }}_presence as (
    select coin, max(interval) as layer_interval, true as has_rows
    from {{ cte }}
    group by coin
),
{% endfor %}

-- Per coin: when its chosen raw rows were last written, and the oldest bar written since the
-- coin's last build.
written as (
    {%- for cte, layer, model in layers %}
    select coin, ts, ingested_at from {{ cte }}
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
),

inputs as (
    select coin, max(ingested_at) as inputs_ingested_at from written group by coin
),

build_from as (
    {%- if incremental %}
    select
        cs.coin,
        previous.built_through is null as rebuild_all,
        {{ add_seconds('min(w.ts)', '-' ~ var('fct_layer_bars_lookback_seconds')) }} as from_ts
    from coin_sources cs
    left join (
        -- the last build under the coin's current sources: what it had read
        select t.coin, max(t.inputs_ingested_at) as built_through
        from {{ this }} t
        join coin_sources s
            on t.coin = s.coin
            and t.interval = s.grid_interval
            and t.funding_source_key = s.funding_source_key
            and t.oi_source_key = s.open_interest_source_key
            and t.liq_source_key = s.liquidations_source_key
            and t.taker_source_key = s.taker_source_key
        group by t.coin
    ) previous on previous.coin = cs.coin
    left join written w
        on w.coin = cs.coin and (previous.built_through is null or w.ingested_at > previous.built_through)
    group by cs.coin, previous.built_through
    having previous.built_through is null or count(w.ts) > 0
    {%- else %}
    select coin, true as rebuild_all, cast(null as timestamp) as from_ts from coin_sources
    {%- endif %}
),

-- Each coin's bar grid: every bar of its grid-interval open interest and liquidation series,
-- from where this build starts.
grid as (
    select bars.coin, bars.ts, bool_or(bars.is_closed) as is_closed
    from (
        select coin, interval, ts, is_closed from open_interest
        union all
        select coin, interval, ts, is_closed from liquidations
    ) as bars
    join coin_sources cs on cs.coin = bars.coin and bars.interval = cs.grid_interval
    join build_from bf on bf.coin = bars.coin
    where bf.rebuild_all or bars.ts >= bf.from_ts
    group by bars.coin, bars.ts
),

grid_bars as (
    select
        g.coin,
        cs.grid_interval as interval,
        g.ts,
        {{ add_seconds('g.ts', interval_seconds('cs.grid_interval')) }} as close_at,
        g.is_closed
    from grid g
    join coin_sources cs on cs.coin = g.coin
),

{% for cte, layer, model in layers %}
-- {{ cte }} as of the grid bar's close: the latest of its bars closed by then, provided it is
-- not older than one of its own intervals (older = stale, which counts as not triggered).
{{ cte }}_asof as (
    select
        g.coin,
        g.ts as grid_ts,
        max(l.ts) as layer_ts
    from grid_bars g
    join {{ cte }} l
        on l.coin = g.coin
        and {{ add_seconds('l.ts', interval_seconds('l.interval')) }} <= g.close_at
        and {{ add_seconds('l.ts', '2 * ' ~ interval_seconds('l.interval')) }} > g.close_at
        and l.is_closed
    group by g.coin, g.ts
),
{% endfor %}

joined as (
    select
        -- keys
        g.coin,
        g.interval,
        g.ts,
        g.close_at,
        g.is_closed,
        -- funding (bps per 8 h)
        f.funding_bps_8h,
        abs(f.funding_bps_8h) as funding_abs_bps_8h,
        f.is_interval_assumed as funding_is_interval_assumed,
        cs.funding_source_key,
        {{ interval_seconds('fp.layer_interval') }} > {{ interval_seconds('g.interval') }}
            as funding_is_coarser,
        coalesce(fp.has_rows, false) and f.ts is null as funding_is_stale,
        -- open interest
        o.oi,
        o.oi_unit,
        o.oi_roc_pct,
        cs.open_interest_source_key as oi_source_key,
        coalesce(op.has_rows, false) and o.ts is null as oi_is_stale,
        -- liquidations (USD)
        l.liq_long_usd,
        l.liq_short_usd,
        l.liq_total_usd,
        l.liq_polarity,
        cs.liquidations_source_key as liq_source_key,
        coalesce(lp.has_rows, false) and l.ts is null as liq_is_stale,
        -- taker (unit-free ratio)
        t.taker_ratio,
        t.taker_value_unit,
        cs.taker_source_key,
        {{ interval_seconds('tp.layer_interval') }} > {{ interval_seconds('g.interval') }}
            as taker_is_coarser,
        coalesce(tp.has_rows, false) and t.ts is null as taker_is_stale,
        -- price context
        p.close_usd,
        -- when the raw rows this coin's bars were built from were last written
        i.inputs_ingested_at
    from grid_bars g
    join inputs i on i.coin = g.coin
    join coin_sources cs on cs.coin = g.coin
    left join funding_presence fp on fp.coin = g.coin
    left join open_interest_presence op on op.coin = g.coin
    left join liquidations_presence lp on lp.coin = g.coin
    left join taker_presence tp on tp.coin = g.coin
    left join funding_asof fa on fa.coin = g.coin and fa.grid_ts = g.ts
    left join funding f on f.coin = g.coin and f.ts = fa.layer_ts
    left join open_interest_asof oa on oa.coin = g.coin and oa.grid_ts = g.ts
    left join open_interest o on o.coin = g.coin and o.ts = oa.layer_ts
    left join liquidations_asof la on la.coin = g.coin and la.grid_ts = g.ts
    left join liquidations l on l.coin = g.coin and l.ts = la.layer_ts
    left join taker_asof ta on ta.coin = g.coin and ta.grid_ts = g.ts
    left join taker t on t.coin = g.coin and t.ts = ta.layer_ts
    left join prices_asof pa on pa.coin = g.coin and pa.grid_ts = g.ts
    left join prices p on p.coin = g.coin and p.ts = pa.layer_ts
)

select * from joined
