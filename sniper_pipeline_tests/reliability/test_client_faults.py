"""Every fault at the client level, over real sockets against the replay server.

Transient faults: the call recovers; attempts and the requested waits (recorded, not slept) are
asserted. Faults past the retry budget and permanent ones: the exception class, and a message
that names the endpoint, the coin and the cause, never the key. Data faults: what the parser
makes of the edited rows. Also the fault machinery itself: per-endpoint injection while running,
the HTTP control path, `--faults` on the command line and `SNIPER_REPLAY_FAULTS`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from sniper_pipeline.coinglass import endpoints as ep
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import (
    ApiCodeError,
    AuthError,
    CoinGlassError,
    MalformedResponseError,
    RateLimitError,
    SchemaDriftError,
    ServerError,
    TransportError,
)
from sniper_pipeline.coinglass.parsing import ParsedFrame
from sniper_pipeline.commands.environment import UsageError, api_environment
from sniper_pipeline.replay.data_faults import DEFAULT_DUPLICATES, DEFAULT_GAP, NULL_EVERY
from sniper_pipeline.replay.faults import FaultSpecError, parse_faults
from sniper_pipeline.replay.server import CONTROL_PATH, ReplayServer
from sniper_pipeline_tests.coinglass.support import series_page
from sniper_pipeline_tests.reliability.support import (
    COIN,
    LIQ,
    LIQ_PATH,
    OI_PARAMS,
    OI_PATH,
    SECRET,
    make_client,
)

LIMIT = 50
READ_TIMEOUT = 1.0  # s; timeout faults sleep 3 s
OI_FIELDS = ("open", "high", "low", "close")


def fetch(client: CoinGlassClient) -> ParsedFrame:
    return series_page(client, ep.OI_AGGREGATED_HISTORY, **OI_PARAMS, limit=LIMIT)


@pytest.fixture(scope="module")
def clean(module_server: ReplayServer) -> ParsedFrame:
    module_server.set_faults(None)
    return fetch(make_client(module_server)[0])


def calls(server: ReplayServer, path: str = OI_PATH) -> int:
    return sum(1 for p, _ in server.request_log if p == path)


def assert_clear(err: CoinGlassError, cause: str, endpoint: str = OI_PATH) -> None:
    """The message names endpoint, coin and cause; the key appears nowhere."""
    text = str(err)
    assert endpoint in text and COIN in text and cause in text, text
    assert SECRET not in text and SECRET not in repr(err) and SECRET not in str(err.__dict__)


# -- transient: recovered ---------------------------------------------------------------------

RECOVERED = [
    # spec, waits requested before each retry (Retry-After when sent, else backoff 0.5 x 2^n)
    pytest.param("429=2:2", [2.0, 2.0], id="429 with Retry-After"),
    # 429s do not use up the 5 failure retries: a storm is waited out within the time budget.
    pytest.param("429=1:8", [1.0] * 8, id="429 storm with Retry-After"),
    pytest.param("noretryafter429:7", [0.5, 1, 2, 4, 8, 16, 30], id="429 storm without Retry-After"),
    pytest.param("noretryafter429:2", [0.5, 1.0], id="429 without Retry-After"),
    pytest.param("500:2", [0.5, 1.0], id="500"),
    pytest.param("502:2", [0.5, 1.0], id="502"),
    pytest.param("503:3", [0.5, 1.0, 2.0], id="503 burst"),
    pytest.param("reset:2", [0.5, 1.0], id="connection reset"),
    pytest.param("timeout=3s:1", [0.5], id="read timeout"),
    pytest.param("truncated:1", [0.5], id="truncated JSON"),
    pytest.param("html:1", [0.5], id="HTML error page"),
]


@pytest.mark.parametrize(("spec", "waits"), RECOVERED)
def test_transient_fault_recovers_with_the_same_result(
    server: ReplayServer, clean: ParsedFrame, spec: str, waits: list[float]
) -> None:
    client, sleeper = make_client(server, timeout=(5, READ_TIMEOUT))
    server.set_faults(f"{spec.rsplit(':', 1)[0]}@{OI_PATH}:{spec.rsplit(':', 1)[1]}")
    got = fetch(client)
    pd.testing.assert_frame_equal(got.frame, clean.frame)
    assert client.last_response is not None and client.last_response.attempts == len(waits) + 1
    assert sleeper.delays == waits
    assert calls(server) == len(waits) + 1


# -- past the budget or permanent: failed clearly ---------------------------------------------

FAILED = [
    # spec, class, cause in the message, attempts, client options
    # 1 + 20 rate-limit retries; without Retry-After the backoff reaches the 120 s budget first.
    pytest.param("429=1:*", RateLimitError, "HTTP 429", 21, {}, id="429 storm past 20 retries"),
    pytest.param("noretryafter429:*", RateLimitError, "HTTP 429", 9, {}, id="429 storm past the time budget"),
    pytest.param("500:6", ServerError, "HTTP 500", 6, {}, id="500"),
    pytest.param("502:6", ServerError, "HTTP 502", 6, {}, id="502"),
    pytest.param("503:6", ServerError, "HTTP 503", 6, {}, id="503"),
    pytest.param("reset:*", TransportError, "Connection reset", 3, {"max_retries": 2}, id="connection reset"),
    pytest.param("timeout=3s:*", TransportError, "timed out", 2, {"max_retries": 1}, id="read timeout"),
    pytest.param("truncated:2", MalformedResponseError, "truncated JSON", 2, {}, id="truncated JSON"),
    pytest.param("html:6", ServerError, "<html>", 6, {}, id="HTML error page"),
    pytest.param("code=50001:1", ApiCodeError, "error code '50001'", 1, {}, id="HTTP 200 code 50001"),
    pytest.param("401:1", AuthError, "HTTP 401", 1, {}, id="401"),
]


@pytest.mark.parametrize(("spec", "cls", "cause", "attempts", "options"), FAILED)
def test_fault_past_the_budget_fails_clearly(
    server: ReplayServer,
    spec: str,
    cls: type[CoinGlassError],
    cause: str,
    attempts: int,
    options: dict[str, Any],
) -> None:
    client, sleeper = make_client(server, timeout=(5, READ_TIMEOUT), **options)
    kind, _, count = spec.rpartition(":")
    server.set_faults(f"{kind}@{OI_PATH}:{count}")
    with pytest.raises(cls) as info:
        fetch(client)
    assert_clear(info.value, cause)
    assert (info.value.attempts or 1) == attempts == calls(server)
    assert len(sleeper.delays) == attempts - 1


def test_429_storm_names_the_servers_retry_after(server: ReplayServer) -> None:
    client, sleeper = make_client(server)
    server.set_faults(f"429=7@{OI_PATH}:*")
    with pytest.raises(RateLimitError) as info:
        fetch(client)
    assert info.value.retry_after == 7 and "Retry-After: 7 s" in str(info.value)
    assert sleeper.delays == [7.0] * 17  # an 18th wait would overrun the 120 s budget


def test_429s_leave_the_failure_retries_to_failures(server: ReplayServer) -> None:
    client, sleeper = make_client(server)
    server.set_faults(f"503@{OI_PATH}:4,429=1@{OI_PATH}:6,503@{OI_PATH}:1")
    fetch(client)  # 5 failures and 6 x 429: more than max_retries=5 retries in all
    # The backoff after the storm counts every consecutive error, so it is at its cap.
    assert calls(server) == 12 and sleeper.delays == [0.5, 1.0, 2.0, 4.0] + [1.0] * 6 + [30.0]


def test_retry_after_beyond_the_time_budget_fails_at_once(server: ReplayServer) -> None:
    client, sleeper = make_client(server, max_retry_seconds=60)
    server.set_faults(f"429=3600@{OI_PATH}:1")
    with pytest.raises(RateLimitError) as info:
        fetch(client)
    assert sleeper.delays == [] and calls(server) == 1 and info.value.retry_after == 3600


def test_401_in_the_middle_of_a_backfill_stops_it(server: ReplayServer, plan: Any) -> None:
    client, sleeper = make_client(server)
    source = plan.source_for(LIQ_PATH)
    server.set_faults(LIQ.mid("401"))
    with pytest.raises(AuthError) as info:
        ep.fetch_series(client, LIQ_PATH, source.param_dict, since=None, history_days=365)
    assert_clear(info.value, "HTTP 401", LIQ_PATH)
    assert "end_time" in str(info.value)  # which page: the second one
    assert calls(server, LIQ_PATH) == 2 and sleeper.delays == []


def test_read_timeout_is_named_a_read_timeout(server: ReplayServer) -> None:
    client, _ = make_client(server, timeout=(5, READ_TIMEOUT), max_retries=0)
    server.set_faults(f"timeout=3s@{OI_PATH}:1")
    with pytest.raises(TransportError) as info:
        fetch(client)
    assert str(info.value).startswith("read timeout")


# -- data faults --------------------------------------------------------------------------------


def test_renamed_field_is_schema_drift_naming_it(server: ReplayServer) -> None:
    client, _ = make_client(server)
    server.set_faults(f"rename@{OI_PATH}:1")
    with pytest.raises(SchemaDriftError) as info:
        fetch(client)
    text = str(info.value)
    assert "no row has field 'open'" in text and "open_renamed" in text and OI_PATH in text


def test_missing_field_is_schema_drift_naming_it(server: ReplayServer) -> None:
    client, _ = make_client(server)
    server.set_faults(f"missing=close@{OI_PATH}:1")
    with pytest.raises(SchemaDriftError) as info:
        fetch(client)
    assert "no row has field 'close'" in str(info.value) and OI_PATH in str(info.value)


def test_schema_drift_names_the_coin(server: ReplayServer) -> None:
    client, _ = make_client(server)
    server.set_faults(f"rename@{OI_PATH}:1")
    with pytest.raises(SchemaDriftError) as info:
        fetch(client)
    assert COIN in str(info.value)


def test_rename_to_a_known_alias_is_tolerated(server: ReplayServer, plan: Any) -> None:
    """The camelCase drift seen in real responses (coinglass-v4.md) parses to the same numbers."""
    client, _ = make_client(server)
    params = plan.source_for(LIQ_PATH).param_dict
    clean = series_page(
        client,
        ep.LIQUIDATION_AGGREGATED_HISTORY,
        symbol=COIN,
        interval="4h",
        exchange_list=params["exchange_list"],
        limit=LIMIT,
    )
    server.set_faults(f"rename=aggregated_long_liquidation_usd>longLiquidation_usd@{LIQ_PATH}:1")
    got = series_page(
        client,
        ep.LIQUIDATION_AGGREGATED_HISTORY,
        symbol=COIN,
        interval="4h",
        exchange_list=params["exchange_list"],
        limit=LIMIT,
    )
    pd.testing.assert_frame_equal(got.frame, clean.frame)


def test_extra_fields_are_ignored_and_listed(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"extra@{OI_PATH}:1")
    got = fetch(client)
    pd.testing.assert_frame_equal(got.frame, clean.frame)
    assert got.unknown_fields == ("unexpected_field",)


def test_nulls_parse_as_nan(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"null@{OI_PATH}:1")
    got = fetch(client).frame
    nulled = got.index % NULL_EVERY == 0
    assert got.loc[nulled, list(OI_FIELDS)].isna().all().all()
    pd.testing.assert_frame_equal(got[~nulled], clean.frame[~nulled])
    assert got["ts"].equals(clean.frame["ts"])


@pytest.mark.parametrize("spec", ["strnum", "strnum=mixed"])
def test_numbers_as_strings_parse_to_the_same_numbers(
    server: ReplayServer, clean: ParsedFrame, spec: str
) -> None:
    client, _ = make_client(server)
    server.set_faults(f"{spec}@{OI_PATH}:1")
    pd.testing.assert_frame_equal(fetch(client).frame, clean.frame)


def test_duplicate_timestamps_are_dropped_and_counted(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"dup@{OI_PATH}:1")
    got = fetch(client)
    pd.testing.assert_frame_equal(got.frame, clean.frame)
    assert got.rows_received == LIMIT + DEFAULT_DUPLICATES
    assert got.duplicates_dropped == clean.duplicates_dropped + DEFAULT_DUPLICATES


def test_unsorted_timestamps_are_sorted_and_reported(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"unsorted@{OI_PATH}:1")
    got = fetch(client)
    pd.testing.assert_frame_equal(got.frame, clean.frame)
    assert got.was_unsorted and not clean.was_unsorted


def test_empty_data_is_an_empty_frame(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"empty@{OI_PATH}:1")
    got = fetch(client)
    assert len(got) == 0 and list(got.frame.columns) == list(clean.frame.columns)


def test_gap_loses_rows_and_nothing_else(server: ReplayServer, clean: ParsedFrame) -> None:
    client, _ = make_client(server)
    server.set_faults(f"gap@{OI_PATH}:1")
    got = fetch(client).frame
    assert len(got) == LIMIT - DEFAULT_GAP
    kept = clean.frame[clean.frame["ts"].isin(got["ts"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, kept)
    # The first and last bars stay: the page still spans its window.
    assert got["ts"].iloc[0] == clean.frame["ts"].iloc[0] and got["ts"].iloc[-1] == clean.frame["ts"].iloc[-1]


# -- the fault machinery ------------------------------------------------------------------------


def test_faults_added_while_running_hit_one_endpoint_only(server: ReplayServer) -> None:
    client, _ = make_client(server)
    fetch(client)
    server.add_faults("503:6", path=OI_PATH)
    series_page(
        client,
        ep.LIQUIDATION_AGGREGATED_HISTORY,
        symbol=COIN,
        interval="4h",
        exchange_list="OKX,Bybit",
        limit=5,
    )  # untouched
    with pytest.raises(ServerError):
        fetch(client)
    assert server.clear_faults(OI_PATH) == 1
    assert len(fetch(client)) == LIMIT


def test_glob_path_spares_supported_coins(server: ReplayServer) -> None:
    server.set_faults("500@/api/futures/*history:*")
    headers = {"CG-API-KEY": "k"}
    coins = requests.get(server.base_url + "/api/futures/supported-coins", headers=headers, timeout=5)
    oi = requests.get(server.base_url + OI_PATH, params=OI_PARAMS, headers=headers, timeout=5)
    assert (coins.status_code, oi.status_code) == (404, 500)  # supported-coins is not recorded here


def test_http_control_path_adds_lists_and_clears_faults(server: ReplayServer) -> None:
    url = server.base_url + CONTROL_PATH
    added = requests.post(url, params={"path": OI_PATH}, data="dup=2:3", timeout=5)
    assert added.status_code == 200
    assert added.json()["data"] == [{"fault": "dup=2", "path": OI_PATH, "left": 3}]
    client, _ = make_client(server)
    assert fetch(client).duplicates_dropped == 2
    assert requests.get(url, timeout=5).json()["data"][0]["left"] == 2
    bad = requests.post(url, data="dup=x", timeout=5)
    assert bad.status_code == 400 and "dup" in bad.json()["msg"]
    assert requests.delete(url, timeout=5).json()["data"] == []
    assert calls(server) == 1  # control requests are not API traffic


@pytest.mark.parametrize("spec", ["dup=0", "gap=x", "strnum=all", "empty=1", "rename=a b", "unsorted=2"])
def test_bad_data_fault_arguments_fail_when_parsed(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def test_command_line_accepts_data_faults(unseen_dir: Path) -> None:
    cmd = [sys.executable, "-m", "sniper_pipeline.replay", "--data-dir", str(unseen_dir), "--quiet"]
    bad = subprocess.run([*cmd, "--faults", "dup=x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "dup" in bad.stderr
    proc = subprocess.Popen([*cmd, "--faults", f"dup@{OI_PATH}:1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        params = {**OI_PARAMS, "limit": "10"}
        rows = requests.get(base_url + OI_PATH, params=params, headers={"CG-API-KEY": "k"}, timeout=5).json()
        assert len(rows["data"]) == 10 + DEFAULT_DUPLICATES
    finally:
        _stop_or_dump(proc)


def _stop_or_dump(proc: subprocess.Popen[str]) -> None:
    """SIGTERM and wait; a server still up after 10 s is asked for its threads' stacks (its
    stderr, kept with the test's output) before it is killed."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        proc.wait(timeout=10)
        pytest.fail("the replay server ignored SIGTERM for 10 s: its stacks are in the captured stderr")


def test_sniper_run_passes_replay_faults_to_its_server(
    unseen_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SNIPER_REPLAY_FAULTS", f"503@{OI_PATH}:1")
    with api_environment(live=False, replay_dir=unseen_dir) as api:
        params = {**OI_PARAMS, "limit": "1"}
        statuses = [
            requests.get(
                api.base_url + OI_PATH, params=params, headers={"CG-API-KEY": "k"}, timeout=5
            ).status_code
            for _ in range(2)
        ]
    assert statuses == [503, 200]
    monkeypatch.setenv("SNIPER_REPLAY_FAULTS", "503:x")
    with (
        pytest.raises(UsageError, match="SNIPER_REPLAY_FAULTS"),
        api_environment(live=False, replay_dir=unseen_dir),
    ):
        pass
