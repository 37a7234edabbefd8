"""Client sweeps (LoadTest) against the real batching simulator, and the knee on hand-made numbers."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.experiments import (
    MANIFEST,
    LoadTest,
    LoadTestResult,
    find_knee,
    knee_verdict,
)
from llmeter_widget.runner import MisconfiguredEndpoint
from llmeter_widget.views.dashboard_traits import comparison_of
from llmeter_widget.simulator import SimulatedServer

LEVELS = [1, 2, 4, 8, 16]
MAX_BATCH = 4
PAYLOAD = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=16)


async def _sweep(output_path):
    seen: list[tuple[int, str]] = []
    # Small per-sequence cost: throughput nearly doubles with each doubling up to max_batch,
    # then stays flat while TTFT climbs (requests queue for a slot).
    async with SimulatedServer(mode="batching", max_batch=MAX_BATCH, seed=1, decode_base=0.02,
                               decode_per_seq=0.0005) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        lt = LoadTest(ep, PAYLOAD, LEVELS, run_duration=1.2, output_path=output_path,
                      low_memory=True, run_description="sweep test", live_view=False,
                      on_level=lambda clients, result: seen.append((clients, result.status)))
        result = await lt.run()
    return result, seen


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One real sweep, shared by the tests below (about 8 s)."""
    out = tmp_path_factory.mktemp("sweep")
    result, seen = asyncio.run(_sweep(out))
    return result, seen, out


# -- the sweep -----------------------------------------------------------------------------------
def test_sweep_runs_every_level_and_calls_on_level(sweep):
    result, seen, _ = sweep
    assert result.status == "completed"
    assert list(result.results) == LEVELS
    assert result.missing == []
    assert seen == [(c, "completed") for c in LEVELS]
    for clients, level in result.results.items():
        assert level.clients == clients
        assert level.status == "completed"
        assert level.low_memory and level.run_duration == 1.2
        assert level.run_description == "sweep test"
        assert level.stats["total_requests"] > 0 and level.stats["failed_requests"] == 0


def test_knee_is_where_the_batching_model_saturates(sweep):
    result, _, _ = sweep
    table = result.stats_table()
    tps = {row["clients"]: row["output_tps"] for row in table}
    ttft = {row["clients"]: row["time_to_first_token-p90"] for row in table}
    # the model's shape: throughput grows up to max_batch, then flattens; TTFT then climbs
    assert tps[4] > 1.5 * tps[1]
    assert tps[16] < 1.3 * tps[4]
    assert ttft[16] > 5 * ttft[4]
    knee = result.knee()
    assert knee in (4, 8)
    verdict = result.verdict()
    assert verdict.startswith(f"Saturates at {knee} clients: beyond it TTFT p90 grows ")
    # past the knee throughput stays flat: a little more, or (on a loaded machine) a little less
    assert "tok/s" in verdict
    assert re.search(r"grows [\d.]+x (for [\d.]+x more output tokens/s|while output tokens/s "
                     r"falls to 0\.\d\dx) \(", verdict), verdict


def test_each_level_has_its_own_complete_folder(sweep):
    result, _, out = sweep
    test_folder = out / result.test_name
    assert result.output_path == str(test_folder)
    assert re.fullmatch(r"\d{8}-\d{6}", result.test_name)
    assert sorted(p.name for p in test_folder.iterdir()) == sorted(
        [MANIFEST] + [f"{c}-clients" for c in LEVELS])
    for clients in LEVELS:
        folder = test_folder / f"{clients}-clients"
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["clients"] == clients and summary["run_name"] == f"{clients}-clients"
        status = json.loads((folder / "run_status.json").read_text())
        assert status["status"] == "completed"
        stats = json.loads((folder / "stats.json").read_text())
        assert stats["total_requests"] == result.results[clients].stats["total_requests"]
        assert (folder / "responses.jsonl").read_text().count("\n") == stats["total_requests"]


def test_load_test_json_describes_the_sweep(sweep):
    result, _, out = sweep
    manifest = json.loads((out / result.test_name / MANIFEST).read_text())
    assert manifest["sequence_of_clients"] == LEVELS
    assert manifest["levels"] == [
        {"clients": c, "folder": f"{c}-clients", "status": "completed"} for c in LEVELS]
    assert manifest["status"] == "completed"
    assert manifest["run_duration"] == 1.2 and manifest["n_requests"] is None
    assert manifest["low_memory"] is True
    assert manifest["knee"] == result.knee()
    assert manifest["verdict"] == result.verdict()
    assert manifest["endpoint"]["model_id"] == "sim"


def test_load_round_trip(sweep):
    result, _, out = sweep
    loaded = LoadTestResult.load(out / result.test_name)
    assert loaded.status == "completed"
    assert loaded.sequence_of_clients == LEVELS
    assert loaded.missing == []
    assert loaded.stats_table() == result.stats_table()
    assert loaded.knee() == result.knee()
    assert loaded.verdict() == result.verdict()


def test_plot_results_has_one_point_per_level(sweep):
    result, _, _ = sweep
    figures = result.plot_results()
    assert set(figures) == {"requests_per_minute", "output_tps", "time_to_first_token",
                            "time_to_last_token", "error_rate", "latency_throughput"}
    table = result.stats_table()
    column = {key: [row[key] for row in table] for key in table[0]}
    expected = {
        "requests_per_minute": ["requests_per_minute"],
        "output_tps": ["output_tps"],
        "time_to_first_token": [f"time_to_first_token-{p}" for p in ("p50", "p90", "p99")],
        "time_to_last_token": ["time_to_last_token-p50", "time_to_last_token-p90"],
        "error_rate": ["failed_requests_rate"],
    }
    for name, keys in expected.items():
        fig = figures[name]
        assert len(fig.data) == len(keys), name
        for trace, key in zip(fig.data, keys):
            assert list(trace.x) == LEVELS
            assert list(trace.y) == pytest.approx(column[key]), (name, key)
        assert fig.layout.xaxis.type == "log"
    curve = figures["latency_throughput"]
    assert result.knee_details().saturated
    assert [trace.name for trace in curve.data] == ["levels", "knee"]
    assert list(curve.data[0].x) == pytest.approx(column["output_tps"])
    assert list(curve.data[0].y) == pytest.approx(column["time_to_first_token-p90"])
    # the knee is named in its own point's label, not in a box beside it (which landed on the
    # next level's label), and no label is clipped: not clipped to the axes, and room above
    knee = result.knee()
    assert list(curve.data[0].text) == [f"{c} (knee)" if c == knee else str(c) for c in LEVELS]
    assert not curve.layout.annotations and curve.data[0].cliponaxis is False
    assert curve.layout.yaxis.range[1] >= 1.1 * max(column["time_to_first_token-p90"])
    assert list(curve.data[1].x) == pytest.approx([column["output_tps"][LEVELS.index(knee)]])


def test_a_sweep_that_does_not_saturate_names_no_knee(sweep):
    """Mid-sweep (here: its first two levels) the chart said "knee (2 clients)" beside the
    verdict "No saturation seen up to 2 clients"."""
    result, _, _ = sweep
    first_two = LoadTestResult(test_name="t", sequence_of_clients=LEVELS[:2],
                               results={c: result.results[c] for c in LEVELS[:2]})
    assert first_two.verdict().startswith("No saturation seen")
    curve = first_two.plot_results()["latency_throughput"]
    assert [trace.name for trace in curve.data] == ["levels"]
    assert not any("knee" in text for text in curve.data[0].text)
    assert comparison_of(first_two.results)["knee"] is None
    assert comparison_of(result.results)["knee"] == result.knee()  # the whole sweep saturates


def test_the_stats_table_shows_itself_with_units(sweep):
    result, _, _ = sweep
    table = result.stats_table()
    assert isinstance(table, list) and table[0]["clients"] == LEVELS[0]  # still rows of numbers
    text = str(table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["clients", "Requests/min", "Output"]  # titles from the registry
    assert len(lines) == 2 + len(LEVELS) and " ms" in lines[2] and "tok/s" in lines[2]
    assert not re.search(r"\d\.\d{6,}", text)  # no 16-digit floats
    assert repr(table) == text
    page = table._repr_html_()
    assert page.count("<tr>") == 1 + len(LEVELS) and "TTFT p90" in page
    frame = table.to_dataframe()
    assert list(frame["clients"]) == LEVELS and list(frame.columns) == table.columns


def test_the_stats_table_says_what_to_install_without_pandas(sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        sweep[0].stats_table().to_dataframe()


# -- cut short, failed, named --------------------------------------------------------------------
async def test_stop_during_level_2_keeps_what_was_measured(tmp_path):
    async with SimulatedServer(mode="fixed", ttft=0.02, itl=0.005) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        loop = asyncio.get_running_loop()

        async def stop_once_level_2_measured() -> None:
            # as soon as level 2 has a finished request (a fixed delay read 0 requests on a
            # loaded machine: level 2's setup ate the delay): stopped mid-level, something kept
            while lt.runner.running is False or (lt.runner.stats.total_requests or 0) < 1:
                await asyncio.sleep(0.01)
            lt.stop()

        def after_level(clients, _result):
            if clients == 1:
                stopper.append(loop.create_task(stop_once_level_2_measured()))

        stopper: list[asyncio.Task] = []
        lt = LoadTest(ep, PAYLOAD, [1, 2, 4], run_duration=2.0, output_path=tmp_path,
                      test_name="cut", live_view=False, on_level=after_level)
        result = await lt.run()
        await asyncio.gather(*stopper)
    assert result.status == "stopped"
    assert list(result.results) == [1, 2]
    assert result.results[1].status == "completed"
    assert result.results[2].status == "stopped"
    assert result.results[2].stats["total_requests"] > 0
    assert result.missing == [4]
    folder = tmp_path / "cut"
    assert (folder / "1-clients" / "summary.json").exists()
    assert (folder / "2-clients" / "summary.json").exists()
    assert not (folder / "4-clients").exists()
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["status"] == "stopped"
    assert [lv["status"] for lv in manifest["levels"]] == ["completed", "stopped", "not run"]

    loaded = LoadTestResult.load(folder)
    assert loaded.status == "stopped"
    assert sorted(loaded.results) == [1, 2] and loaded.missing == [4]
    assert loaded.stats_table() == result.stats_table()
    assert "no result for 4 clients" in loaded.verdict()

    # a sweep killed mid-way: load_test.json still says running, a level folder is gone
    manifest["status"] = "running"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    for path in (folder / "2-clients").iterdir():
        path.unlink()
    (folder / "2-clients").rmdir()
    killed = LoadTestResult.load(folder)
    assert killed.status == "interrupted"
    assert sorted(killed.results) == [1] and killed.missing == [2, 4]


async def test_names_default_to_a_timestamp_and_never_overwrite(tmp_path):
    async with SimulatedServer(mode="fixed", ttft=0.01, itl=0.001) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        first = await LoadTest(ep, PAYLOAD, [1, 2], n_requests=2, output_path=tmp_path,
                               test_name="same", live_view=False).run()
        second = await LoadTest(ep, PAYLOAD, [1, 2], n_requests=2, output_path=tmp_path,
                                test_name="same", live_view=False).run()
        in_memory = await LoadTest(ep, PAYLOAD, [1, 3], n_requests=2, live_view=False).run()
    assert (first.test_name, second.test_name) == ("same", "same-2")
    assert first.results[2].stats["total_requests"] == 4
    assert second.results[1].stats["total_requests"] == 2
    assert (tmp_path / "same-2" / "2-clients" / "summary.json").exists()
    assert in_memory.output_path is None and in_memory.results[3].output_path is None
    assert in_memory.results[3].stats["total_requests"] == 6


async def test_a_misconfigured_endpoint_fails_the_sweep_and_is_saved(tmp_path):
    ep = OpenAIChatEndpoint(base_url=SimulatedServer.closed_url(), model="sim")
    lt = LoadTest(ep, PAYLOAD, [1, 2], n_requests=5, output_path=tmp_path, test_name="down",
                  live_view=False)
    with pytest.raises(MisconfiguredEndpoint, match="Is the server running"):
        await lt.run()
    assert lt.result.status == "failed" and "MisconfiguredEndpoint" in lt.result.error
    manifest = json.loads((tmp_path / "down" / MANIFEST).read_text())
    assert manifest["status"] == "failed"
    assert [lv["status"] for lv in manifest["levels"]] == ["failed", "not run"]
    loaded = LoadTestResult.load(tmp_path / "down")
    assert loaded.status == "failed" and loaded.knee() is None
    assert loaded.verdict().startswith("No verdict")


# -- validation ----------------------------------------------------------------------------------
ENDPOINT = OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="sim")


@pytest.mark.parametrize("sequence, message", [
    ([], "is empty"),
    ([1, 0], "whole numbers >= 1"),
    ([1, 2.5], "whole numbers >= 1"),
    ([True], "whole numbers >= 1"),
    ([1, 2, 2], "repeats"),
    ("1,2,4", "a list of client counts"),
    (None, "a list of client counts"),
])
def test_bad_sequence_of_clients(sequence, message):
    with pytest.raises(ValueError, match=message):
        LoadTest(ENDPOINT, PAYLOAD, sequence, run_duration=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"run_duration": 1, "n_requests": 2}, "mutually exclusive"),
    ({"n_requests": 0}, "n_requests must be"),
    ({"run_duration": -1}, "run_duration must be"),
    ({"run_duration": float("nan")}, "run_duration must be"),
    ({"low_memory": True}, "needs output_path"),
    ({"test_name": "a/b", "output_path": "x"}, "test_name"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoadTest(ENDPOINT, PAYLOAD, [1, 2], **kwargs)


def test_bad_payload_fails_at_once():
    with pytest.raises(ValueError, match="empty"):
        LoadTest(ENDPOINT, [], [1, 2], run_duration=1)


def test_load_of_a_folder_with_no_sweep(tmp_path):
    with pytest.raises(FileNotFoundError, match="no load test"):
        LoadTestResult.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="No load test folder"):
        LoadTestResult.load(tmp_path / "nowhere")


# -- the knee on hand-made numbers ---------------------------------------------------------------
def test_knee_is_the_level_before_ttft_outgrows_throughput():
    # 1 -> 2 -> 4: throughput doubles, TTFT barely moves; 4 -> 8: 1.05x tps for 3x TTFT
    knee = find_knee([1, 2, 4, 8, 16], [100, 200, 400, 420, 425], [0.1, 0.1, 0.12, 0.36, 0.9])
    assert (knee.clients, knee.saturated, knee.next_clients) == (4, True, 8)
    assert knee.tps_growth == pytest.approx(1.05) and knee.ttft_growth == pytest.approx(3.0)
    assert (knee.output_tps, knee.ttft_p90) == (400, 0.12)
    assert knee_verdict(knee) == ("Saturates at 4 clients: beyond it TTFT p90 grows 3.0x for "
                                  "1.1x more output tokens/s (400 tok/s, TTFT p90 0.12 s).")


def test_knee_tolerance_and_client_order():
    # levels given out of order are sorted by clients; equal growth is never saturation
    knee = find_knee([4, 1, 2], [400, 100, 200], [0.4, 0.1, 0.2], tolerance=1.0)
    assert (knee.clients, knee.saturated) == (4, False)
    assert knee.tps_growth == pytest.approx(4.0) and knee.ttft_growth == pytest.approx(4.0)
    # tolerance=1.0: the bare rule, TTFT growing at all faster than throughput
    assert find_knee([1, 2], [100, 150], [0.1, 0.1501], tolerance=1.0).clients == 1
    # the default (1.5): TTFT must outgrow throughput by half again; what a batching server
    # does from 1 to 2 clients well below saturation (2x TTFT for 1.75x tok/s) is not it
    assert find_knee([1, 2, 4], [72, 125, 207], [0.022, 0.040, 0.056]).saturated is False
    assert find_knee([1, 2], [100, 150], [0.1, 0.2251]).clients == 1
    assert find_knee([1, 2], [100, 150], [0.1, 0.2249]).clients == 2
    with pytest.raises(ValueError, match="tolerance"):
        find_knee([1, 2], [100, 150], [0.1, 0.2], tolerance=0.5)


def test_no_saturation_and_degenerate_sweeps():
    knee = find_knee([1, 2, 4], [100, 190, 370], [0.05, 0.05, 0.06])
    assert (knee.clients, knee.saturated) == (4, False)
    assert knee_verdict(knee, first_clients=1) == (
        "No saturation seen up to 4 clients: from 1 client, output tokens/s grew 3.7x while "
        "TTFT p90 grew 1.2x (370 tok/s, TTFT p90 60 ms).")
    single = find_knee([8], [1234.0], [0.41])
    assert knee_verdict(single, first_clients=8) == (
        "No saturation seen up to 8 clients (1,234 tok/s, TTFT p90 0.41 s).")
    # throughput falls while TTFT grows: saturated
    assert find_knee([1, 2], [100, 90], [0.1, 0.2]).clients == 1
    # the next level served nothing (every request failed): the level before is the knee
    failed_next = find_knee([1, 2, 4], [100, 190, None], [0.1, 0.1, None])
    assert (failed_next.clients, failed_next.saturated, failed_next.ttft_growth) == (2, True, None)
    assert knee_verdict(failed_next) == ("Saturates at 2 clients: at 4 clients no request "
                                         "succeeded (190 tok/s, TTFT p90 0.10 s).")
    assert find_knee([1, 2], [None, 100], [None, 0.1]) is None
    assert find_knee([], [], []) is None
    with pytest.raises(ValueError, match="one value per level"):
        find_knee([1, 2], [100], [0.1, 0.2])


def test_the_verdict_says_when_throughput_falls_past_the_knee():
    knee = find_knee([1, 2, 4], [100, 190, 186], [0.1, 0.11, 0.6])
    assert knee.clients == 2 and knee.tps_growth < 1
    assert "grows 5.5x while output tokens/s falls to 0.98x (" in knee_verdict(knee)
