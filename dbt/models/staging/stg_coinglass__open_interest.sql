with

source as (
    select * from {{ source('coinglass', 'raw_open_interest') }}
),

renamed as (
    select
        -- keys
        coin,
        source_key,
        interval,
        ts,
        -- numerics, in oi_unit: usd (the API default) or coin (asked with unit=coin)
        close as oi,
        unit as oi_unit,
        -- the unit is in the partition too: a coin figure is never compared with a USD one
        lag(close) over (partition by coin, source_key, interval, unit order by ts) as prev_oi,
        lag(ts) over (partition by coin, source_key, interval, unit order by ts) as prev_ts,
        is_closed,
        ingested_at  -- last written: what fct_layer_bars rebuilds from
    from source
)

select
    coin, source_key, interval, ts, oi, oi_unit, is_closed, ingested_at,
    -- rate of change against the previous bar only: a gap gives null, never a multi-bar change;
    -- a ratio of two values in one unit, so unit-free (no conversion to USD needed)
    case
        when prev_ts = {{ add_seconds('ts', '-' ~ interval_seconds('interval')) }} and prev_oi > 0
        then 100 * (oi / prev_oi - 1)
    end as oi_roc_pct
from renamed
