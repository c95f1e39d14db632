with

source as (
    select * from {{ source('coinglass', 'raw_funding') }}
),

intervals as (
    select * from {{ source('coinglass', 'raw_funding_intervals') }}
),

-- The settlement interval in force at each bar: the latest first seen at or before it, else the
-- earliest known (history before the first snapshot used the same interval).
settlement as (
    select
        s.coin, s.source_key, s.interval, s.ts,
        coalesce(
            (select i.interval_hours from intervals i
             where i.coin = s.coin and i.exchange = s.exchange and i.first_seen_at <= s.ts
             order by (i.margin = 'stablecoin') desc, i.first_seen_at desc limit 1),
            (select i.interval_hours from intervals i
             where i.coin = s.coin and i.exchange = s.exchange
             order by (i.margin = 'stablecoin') desc, i.first_seen_at asc limit 1)
        ) as settlement_hours
    from source s
    where s.exchange is not null
),

renamed as (
    select
        -- keys
        source.coin,
        source.source_key,
        source.interval,
        source.ts,
        -- funding: PERCENT per settlement -> basis points per 8 hours
        source.close_pct as funding_close_pct,
        case
            when source.exchange is null then 8.0  -- the OI-weighted series is per 8 h
            else coalesce(settlement.settlement_hours, 8.0)
        end as settlement_hours,
        source.exchange is not null and settlement.settlement_hours is null as is_interval_assumed,
        source.is_closed,
        -- when the row was last written: fct_layer_bars rebuilds from the oldest changed bar
        source.ingested_at
    from source
    left join settlement
        on settlement.coin = source.coin
        and settlement.source_key = source.source_key
        and settlement.interval = source.interval
        and settlement.ts = source.ts
)

select
    *,
    funding_close_pct * 100 * 8 / settlement_hours as funding_bps_8h
from renamed
