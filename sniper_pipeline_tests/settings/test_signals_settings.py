from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from sniper_pipeline.engine import EngineParams
from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.signals.settings import load_engine_params, load_signal_settings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def _write(folder: Path, thresholds: str = "", alerts: str = "") -> Path:
    (folder / "thresholds.yaml").write_text(thresholds)
    (folder / "alerts.yaml").write_text(alerts)
    return folder


def test_shipped_files_differ_from_the_engine_defaults_only_where_the_study_tuned() -> None:
    """The engine keeps design.md's defaults; config/ holds the walk-forward study's choice
    (docs/evaluation.md). Anything else drifting between the two is a mistake."""
    shipped, design = load_signal_settings(CONFIG_DIR).engine_params(), EngineParams()
    tuned = {
        "thresholds.lookback_bars": 200,
        "thresholds.high_percentiles": (95.0, 98.0, 99.5),
        "thresholds.low_percentiles": (5.0, 2.0, 0.5),
        "confluence.watch_min_layers": 3,
        "confluence.extreme_override_layers": 2,
        "confluence.crash_liq_level": 3,
        "confluence.crash_oi_level": 0,
        "episodes.clear_bars": 6,
    }
    for dotted, value in tuned.items():
        section, name = dotted.split(".")
        assert getattr(getattr(shipped, section), name) == value, dotted
    untuned = {f"{k}.{n}" for k, v in asdict(design).items() for n in v} - set(tuned)
    for dotted in untuned:
        section, name = dotted.split(".")
        assert getattr(getattr(shipped, section), name) == getattr(getattr(design, section), name), dotted


def test_empty_files_keep_the_defaults(tmp_path: Path) -> None:
    assert load_engine_params(_write(tmp_path)) == EngineParams()


def test_values_reach_the_engine(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        thresholds=(
            "percentiles: {lookback_bars: 200, min_history_bars: 150, high: [90, 97.5, 99.5]}\n"
            "tightening: {trigger: action, window_bars: 12}\n"
            "confluence: {extreme_override_layers: 2}\n"
        ),
        alerts="episodes: {clear_bars: 3}\n",
    )
    params = load_engine_params(folder)
    assert params.thresholds.lookback_bars == 200
    assert params.thresholds.high_percentiles == (90.0, 97.5, 99.5)
    assert params.tightening.trigger == "action"
    assert params.tightening.resolved_window_bars("4h") == 12
    assert params.confluence.extreme_override_layers == 2
    assert params.episodes.clear_bars == 3


def test_crash_rule_loads_and_is_off_when_null(tmp_path: Path) -> None:
    on = load_engine_params(
        _write(tmp_path, thresholds="confluence: {crash_liq_level: 2, crash_oi_level: 1}\n")
    )
    assert (on.confluence.crash_liq_level, on.confluence.crash_oi_level) == (2, 1)
    off = load_engine_params(_write(tmp_path, thresholds="confluence: {crash_liq_level: null}\n"))
    assert off.confluence.crash_liq_level is None
    assert off == EngineParams()  # null is the engine's default: the rule is off


@pytest.mark.parametrize(
    ("file", "text", "key"),
    [
        ("thresholds", "percentiles: {high: [95, 85, 99]}", "percentiles.high"),
        ("thresholds", "percentiles: {high: [85, 95, 95]}", "percentiles.high"),
        ("thresholds", "percentiles: {low: [5, 15, 1]}", "percentiles.low"),
        ("thresholds", "percentiles: {lookback_bars: 5}", "percentiles.lookback_bars"),
        ("thresholds", "percentiles: {lookback_bars: 50, min_history_bars: 60}", "min_history_bars"),
        ("thresholds", "tightening: {window_days: 0}", "tightening.window_days"),
        ("thresholds", "tightening: {window_bars: 0}", "tightening.window_bars"),
        ("thresholds", "tightening: {decay_bars: -1}", "tightening.decay_bars"),
        ("thresholds", "tightening: {trigger: watch}", "tightening.trigger"),
        ("thresholds", "confluence: {watch_min_layers: 3, action_min_layers: 2}", "action_min_layers"),
        ("thresholds", "confluence: {crash_liq_level: 1}", "confluence.crash_liq_level"),
        ("thresholds", "confluence: {crash_liq_level: 4}", "confluence.crash_liq_level"),
        ("thresholds", "confluence: {crash_liq_level: extreme}", "confluence.crash_liq_level"),
        ("thresholds", "confluence: {crash_oi_level: -1}", "confluence.crash_oi_level"),
        ("thresholds", "confluence: {crash_oi_level: 4}", "confluence.crash_oi_level"),
        ("thresholds", "confluence: {crash_override: 2}", "confluence.crash_override"),  # not a key
        ("thresholds", "direction: {polarity_threshold: 1.5}", "direction.polarity_threshold"),
        ("thresholds", "percentiles: {lookbak_bars: 100}", "percentiles.lookbak_bars"),  # typo: not ignored
        ("alerts", "episodes: {clear_bars: 0}", "episodes.clear_bars"),
        ("alerts", "episodes: {escalate_bars: 1}", "episodes.escalate_bars"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, file: str, text: str, key: str) -> None:
    folder = _write(tmp_path, **{file: text})
    with pytest.raises(ConfigError) as raised:
        load_signal_settings(folder)
    message = str(raised.value)
    assert f"{file}.yaml" in message
    assert key in message


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "thresholds.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"alerts\.yaml"):
        load_signal_settings(tmp_path)
