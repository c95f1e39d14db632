with

source as (
    select * from {{ source('coinglass', 'raw_liquidations') }}
),

renamed as (
    select
        -- keys
        coin,
        source_key,
        interval,
        ts,
        -- numerics (USD)
        long_liquidation_usd as liq_long_usd,
        short_liquidation_usd as liq_short_usd,
        long_liquidation_usd + short_liquidation_usd as liq_total_usd,
        is_closed,
        ingested_at  -- last written: what fct_layer_bars rebuilds from
    from source
)

select
    *,
    -- +1: only longs liquidated, -1: only shorts
    case
        when liq_total_usd > 0 then (liq_long_usd - liq_short_usd) / liq_total_usd
        when liq_total_usd = 0 then 0.0
    end as liq_polarity
from renamed
