"""Signal services above the pure engine and evaluation (no Dagster here): the engine's parameters
from `config/thresholds.yaml` and `config/alerts.yaml` (`settings`), per-coin percentile configs
(`configgen`) and the evaluation over the warehouse's bars (`evaluation`)."""
