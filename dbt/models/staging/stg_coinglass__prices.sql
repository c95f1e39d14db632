with

source as (
    select * from {{ source('coinglass', 'raw_prices') }}
),

renamed as (
    select
        -- keys
        coin,
        source_key,
        interval,
        ts,
        -- numerics (USD)
        close_usd,
        volume_usd,
        is_closed,
        ingested_at  -- last written: what fct_layer_bars rebuilds from
    from source
)

select * from renamed
