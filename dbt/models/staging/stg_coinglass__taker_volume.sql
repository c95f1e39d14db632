with

source as (
    select * from {{ source('coinglass', 'raw_taker_volume') }}
),

renamed as (
    select
        -- keys
        coin,
        source_key,
        interval,
        ts,
        -- numerics, in value_unit: usd, or base_coin (the legacy pair endpoint, or aggregated
        -- history asked with unit=coin)
        buy_volume as taker_buy_volume,
        sell_volume as taker_sell_volume,
        value_unit as taker_value_unit,
        is_closed,
        ingested_at  -- last written: what fct_layer_bars rebuilds from
    from source
)

select
    *,
    -- unit-free (both sides of a bar in one unit), so base-coin and USD sources agree
    case when taker_sell_volume > 0 then taker_buy_volume / taker_sell_volume end as taker_ratio
from renamed
