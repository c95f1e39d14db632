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
        is_closed
    from source
)

select * from renamed
