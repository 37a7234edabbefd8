"""Result folders cross between llmeter 0.2.0 (the real package, from PyPI) and us.

How our folders read in llmeter (see results.py's module docstring): every figure is ours, but
a cancelled request (in flight when the run was stopped or interrupted), which we count apart,
is in llmeter's terms a request sent that failed. So llmeter reads
total_requests = ours + cancelled_requests, failed_requests = ours + cancelled_requests, and the
same latencies, token totals and per-response values. The expectations below are computed from
the responses.jsonl lines (a line whose error_type is "cancelled" is a cancelled request), and
checked against both llmeter's reading and ours.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean, median

import pytest
from llmeter.endpoints.base import InvocationResponse as LlmeterResponse
from llmeter.experiments import LoadTestResult as LlmeterLoadTestResult
from llmeter.results import Result as LlmeterResult

from llmeter_widget import LoadTest, Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer

# ~0.45 s a request on the fixed server (TTFT 0.05 s, then 40 tokens 0.01 s apart)
SLOW = OpenAIChatEndpoint.create_payload("Hi", max_tokens=40)


def chat(server) -> OpenAIChatEndpoint:
    return OpenAIChatEndpoint(base_url=server.base_url, model="sim")


def saved_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines()
            if line.strip()]


def is_cancelled(line: dict) -> bool:
    return line.get("error_type") == "cancelled"


async def wait_for_lines(path: Path, n: int, timeout: float = 20.0) -> None:
    """Until responses.jsonl holds n lines (requests finished), polling."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and len(path.read_text().splitlines()) >= n):
        assert loop.time() < deadline, f"{path} never reached {n} lines"
        await asyncio.sleep(0.02)


async def stop_mid_run(runner_or_test, responses_path: Path, task: asyncio.Task, finished: int):
    """Stop once `finished` requests are done and the next ones have had time for a first
    token (a request takes ~0.45 s; TTFT is 0.05 s), so cancelled lines carry a measured TTFT."""
    await wait_for_lines(responses_path, finished)
    await asyncio.sleep(0.25)
    runner_or_test.stop()
    return await task


def check_llmeter_reads(folder: Path, ours: Result, theirs: LlmeterResult | None = None,
                        exact_percentiles: bool = True) -> LlmeterResult:
    """llmeter's reading of `folder` against the saved lines and against `ours` (our Result of
    the run: in memory, or loaded), figure by figure; returns llmeter's Result."""
    lines = saved_lines(folder)
    served = [line for line in lines if not is_cancelled(line)]
    cancelled = [line for line in lines if is_cancelled(line)]
    mine = ours.stats
    theirs = theirs if theirs is not None else LlmeterResult.load(folder)
    stats = theirs.stats

    # counts: a cancelled request is, to llmeter, a request sent that failed
    assert mine["cancelled_requests"] == len(cancelled)
    assert mine["total_requests"] == len(served)
    assert len(theirs.responses) == len(lines)
    assert theirs.total_requests == stats["total_requests"] == len(lines)
    assert stats["total_requests"] == mine["total_requests"] + mine["cancelled_requests"]
    failed_lines = sum(1 for line in served if line["error"] is not None)
    assert mine["failed_requests"] == failed_lines
    assert stats["failed_requests"] == failed_lines + len(cancelled)
    assert stats["failed_requests"] == mine["failed_requests"] + mine["cancelled_requests"]
    assert stats["failed_requests_rate"] == pytest.approx(
        (failed_lines + len(cancelled)) / len(lines) if lines else 0)

    # latencies: the served requests only, as ours
    for metric in ("time_to_first_token", "time_to_last_token"):
        values = [line[metric] for line in served if line[metric] is not None]
        assert values, f"no {metric} saved"
        assert stats[f"{metric}-average"] == pytest.approx(mean(values), rel=1e-12)
        assert mine[f"{metric}-average"] == pytest.approx(mean(values), rel=1e-12)
        assert stats[f"{metric}-p50"] == pytest.approx(median(values), rel=1e-12)
        if exact_percentiles:  # low-memory: ours is a sketch (1%), llmeter's exact
            assert mine[f"{metric}-p50"] == pytest.approx(median(values), rel=1e-12)
        else:
            assert mine[f"{metric}-p50"] == pytest.approx(median(values), rel=0.02)

    # token totals
    for theirs_key, field in (("total_output_tokens", "num_tokens_output"),
                              ("total_input_tokens", "num_tokens_input")):
        expected = sum(line[field] or 0 for line in served)
        assert expected > 0
        assert stats[theirs_key] == expected == mine[theirs_key]

    # the run's metadata
    assert theirs.clients == ours.clients and theirs.n_requests == ours.n_requests
    assert theirs.model_id == ours.model_id and theirs.run_name == ours.run_name
    assert theirs.total_test_time == pytest.approx(ours.total_test_time, rel=1e-12)
    for name in ("start_time", "first_request_time", "last_request_time", "end_time"):
        assert getattr(theirs, name) == getattr(ours, name) is not None, name
    assert stats["cancelled_requests"] == len(cancelled)  # our key rides along from stats.json

    # per response, by id: llmeter sees what we measured; a cancelled one, no latency figure
    ours_loaded = {r.id: r for r in Result.load(folder).responses}
    by_line = {line["id"]: line for line in lines}
    assert set(ours_loaded) == set(by_line) == {r.id for r in theirs.responses}
    for r in theirs.responses:
        line, m = by_line[r.id], ours_loaded[r.id]
        assert r.error == line["error"] == m.error
        assert r.num_tokens_output == line["num_tokens_output"] == m.num_tokens_output
        assert r.annotations["t_send"] == line["t_send"] == m.t_send  # raw timestamps ride along
        assert r.annotations["t_first_token"] == line["t_first_token"] == m.t_first_token
        if is_cancelled(line):
            assert r.time_to_first_token is None and r.time_to_last_token is None
            assert r.time_per_output_token is None
            assert r.annotations["error_type"] == "cancelled" and "cancelled" in r.error
            # what was measured is kept: we derive it again from the raw timestamps
            if line["t_first_token"] is not None:
                assert m.time_to_first_token == line["t_first_token"] - line["t_send"]
        else:
            assert r.time_to_first_token == line["time_to_first_token"] == m.time_to_first_token
            assert r.time_to_last_token == line["time_to_last_token"] == m.time_to_last_token

    # llmeter without responses shows stats.json as saved: our figures
    light = LlmeterResult.load(folder, load_responses=False)
    for key in ("total_requests", "failed_requests", "cancelled_requests",
                "time_to_first_token-average", "total_output_tokens"):
        assert light.stats[key] == pytest.approx(mine[key], rel=1e-12)
    return theirs


async def test_llmeter_loads_our_folder(fixed_server, tmp_path):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    ours = await Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=8),
                        output_path=tmp_path).run(clients=3, n_requests=4, run_name="ours")
    theirs = LlmeterResult.load(tmp_path / "ours")
    assert theirs.total_requests == 12 and len(theirs.responses) == 12
    assert theirs.clients == 3 and theirs.n_requests == 4 and theirs.model_id == "sim"
    assert theirs.start_time is not None and theirs.start_time.tzinfo is not None
    # the same measurements, read by their code
    by_id = {r.id: r for r in ours.responses}
    for r in theirs.responses:
        assert r.time_to_first_token == by_id[r.id].time_to_first_token
        assert r.num_tokens_output == 8
        assert "t_first_token" in r.annotations  # our extra raw timestamps ride along
    assert theirs.stats["time_to_first_token-average"] == pytest.approx(
        ours.stats["time_to_first_token-average"])
    assert theirs.stats["failed_requests"] == 0
    check_llmeter_reads(tmp_path / "ours", ours)


def test_we_load_a_folder_llmeter_wrote(tmp_path):
    sent = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=timezone.utc)
    responses = [
        LlmeterResponse(response_text="hello there", id=f"r{i}", input_prompt="Hi",
                        time_to_first_token=0.1 + i / 100, time_to_last_token=0.5 + i / 100,
                        num_tokens_input=3, num_tokens_output=10,
                        time_per_output_token=0.04, request_time=sent)
        for i in range(10)
    ] + [LlmeterResponse.error_output(error="boom", id="bad", request_time=sent)]
    folder = tmp_path / "theirs"
    LlmeterResult(responses=responses, total_requests=11, clients=2, n_requests=5,
                  total_test_time=2.0, model_id="their-model", output_path=str(folder),
                  start_time=sent, end_time=sent).save()
    loaded = Result.load(folder)
    assert loaded.model_id == "their-model" and loaded.clients == 2
    assert len(loaded.responses) == 11
    assert loaded.responses[0].request_time == sent.replace(microsecond=0)  # llmeter writes whole seconds
    assert [r.time_to_first_token for r in loaded.responses[:3]] == [0.1, 0.1 + 1 / 100, 0.1 + 2 / 100]
    assert loaded.responses[-1].error == "boom"
    # their stats.json is used as saved: llmeter's own keys
    assert loaded.stats["total_requests"] == 11 and loaded.stats["failed_requests"] == 1
    assert loaded.stats["time_to_first_token-average"] == pytest.approx(0.145)
    # with responses only (no stats.json), we compute the same averages ourselves
    (folder / "stats.json").unlink()
    rebuilt = Result.load(folder)
    assert rebuilt.stats["time_to_first_token-average"] == pytest.approx(0.145)
    assert rebuilt.stats["failed_requests"] == 1


def test_a_sweep_laid_out_like_llmeters_loads_and_plots(tmp_path):
    from llmeter_widget import LoadTestResult

    sweep = tmp_path / "their-sweep"
    for clients, ttft in ((1, 0.1), (2, 0.12), (4, 0.4)):
        responses = [LlmeterResponse(response_text="x", id=f"{clients}-{i}", time_to_first_token=ttft,
                                     time_to_last_token=ttft + 1, num_tokens_output=20)
                     for i in range(4 * clients)]
        LlmeterResult(responses=responses, total_requests=len(responses), clients=clients,
                      total_test_time=2.0, model_id="m",
                      output_path=str(sweep / f"{clients:05.0f}-clients")).save()
    loaded = LoadTestResult.load(sweep)
    assert sorted(loaded.results) == [1, 2, 4] and loaded.missing == []
    assert loaded.status == "completed"
    table = {row["clients"]: row for row in loaded.stats_table()}
    assert table[4]["time_to_first_token-p90"] == pytest.approx(0.4)
    figures = loaded.plot_results()
    assert list(figures["time_to_first_token"].data[0].x) == [1, 2, 4]


def test_an_llmeter_run_overlays_on_the_dashboard(tmp_path):
    from llmeter_widget import Dashboard
    from llmeter_widget.endpoints import OpenAIChatEndpoint as Chat

    folder = tmp_path / "theirs"
    responses = [LlmeterResponse(response_text="x", id=str(i), time_to_first_token=0.2,
                                 time_to_last_token=1.0, num_tokens_output=10) for i in range(6)]
    LlmeterResult(responses=responses, total_requests=6, clients=2, total_test_time=3.0,
                  model_id="m", output_path=str(folder)).save()
    dash = Dashboard(endpoint=Chat(base_url="http://127.0.0.1:9/v1", model="m"),
                     payload=Chat.create_payload("hi"))
    entry = dash.add_overlay(folder, label="llmeter run")
    assert entry["kind"] == "run" and entry["label"] == "llmeter run"
    assert entry["stats"]["time_to_first_token-p50"] == pytest.approx(0.2)
    assert entry["stats"]["total_requests"] == 6
    assert entry["series"] == []  # llmeter keeps no raw timestamps: table lines, no chart traces
    assert dash.overlays == [entry]
    dash.close()


# -- folders cut short, low-memory, sweeps -------------------------------------------------------
@pytest.mark.parametrize("low_memory", [False, True])
async def test_a_stopped_folder_reads_in_llmeter_with_cancelled_as_failed(fixed_server, tmp_path,
                                                                          low_memory):
    runner = Runner(chat(fixed_server), SLOW, output_path=tmp_path, low_memory=low_memory)
    task = asyncio.create_task(runner.run(clients=3, run_duration=30, run_name="stopped"))
    ours = await stop_mid_run(runner, tmp_path / "stopped" / "responses.jsonl", task, finished=3)
    folder = tmp_path / "stopped"
    assert ours.status == "stopped" and ours.low_memory == low_memory
    lines = saved_lines(folder)
    cancelled = [line for line in lines if is_cancelled(line)]
    # what this test is about: cancelled requests whose first token had arrived
    assert len(cancelled) == 3 and ours.stats["total_requests"] >= 3
    assert any(line["t_first_token"] is not None for line in cancelled)
    theirs = check_llmeter_reads(folder, ours, exact_percentiles=not low_memory)
    assert theirs.stats["failed_requests"] == 3  # all cancelled; the server failed none

    # our own loader: the cancelled ones are cancelled, with the TTFT they had in memory
    loaded = Result.load(folder)
    assert loaded.status == "stopped" and loaded.total_requests == ours.stats["total_requests"]
    assert loaded.stats["cancelled_requests"] == 3 and loaded.stats["failed_requests"] == 0
    if not low_memory:
        assert loaded.responses == ours.responses  # every field, cancelled ones included
        assert [r.time_to_first_token for r in loaded.responses] == \
               [r.time_to_first_token for r in ours.responses]
    # stats rebuilt from responses.jsonl alone still count them as cancelled
    (folder / "stats.json").unlink()
    rebuilt = Result.load(folder)
    assert rebuilt.stats["cancelled_requests"] == 3
    assert rebuilt.stats["total_requests"] == ours.stats["total_requests"]
    assert rebuilt.stats["failed_requests"] == 0
    assert rebuilt.stats["time_to_first_token-average"] == pytest.approx(
        ours.stats["time_to_first_token-average"], rel=1e-12)


async def test_a_low_memory_folder_reads_the_same_in_llmeter(fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), OpenAIChatEndpoint.create_payload("Hi", max_tokens=8),
                    output_path=tmp_path, low_memory=True)
    ours = await runner.run(clients=4, n_requests=5, run_name="lm")
    assert ours.responses == [] and ours.status == "completed"
    theirs = check_llmeter_reads(tmp_path / "lm", ours, exact_percentiles=False)
    assert theirs.total_requests == 20 and theirs.stats["failed_requests"] == 0
    assert theirs.clients == 4 and theirs.n_requests == 5


async def test_an_interrupted_folder_reads_in_llmeter_also_when_cut_before_its_summary(
        fixed_server, tmp_path):
    runner = Runner(chat(fixed_server), SLOW, output_path=tmp_path)
    task = asyncio.create_task(runner.run(clients=2, run_duration=30, run_name="cut"))
    await wait_for_lines(tmp_path / "cut" / "responses.jsonl", 2)
    await asyncio.sleep(0.25)
    task.cancel()  # what Ctrl-C (asyncio.run) or a kernel interrupt does
    with pytest.raises(asyncio.CancelledError):
        await task
    ours = runner.last_result
    folder = tmp_path / "cut"
    assert ours.status == "interrupted" and ours.stats["cancelled_requests"] == 2
    check_llmeter_reads(folder, ours)

    # a process killed before it wrote its summary: both sides rebuild from responses.jsonl
    crashed = tmp_path / "crashed"
    shutil.copytree(folder, crashed)
    for name in ("summary.json", "stats.json"):
        (crashed / name).unlink()
    (crashed / "run_status.json").write_text(json.dumps({"status": "running"}))
    ours_crashed = Result.load(crashed)
    assert ours_crashed.status == "interrupted"
    assert ours_crashed.stats["cancelled_requests"] == 2
    theirs = LlmeterResult.load(crashed)
    lines = saved_lines(crashed)
    assert theirs.total_requests == len(lines) == ours.stats["total_requests"] + 2
    assert theirs.stats["failed_requests"] == ours.stats["failed_requests"] + 2
    served_ttft = [line["time_to_first_token"] for line in lines if not is_cancelled(line)]
    assert theirs.stats["time_to_first_token-average"] == pytest.approx(mean(served_ttft), rel=1e-12)
    assert ours_crashed.stats["time_to_first_token-average"] == pytest.approx(mean(served_ttft),
                                                                              rel=1e-12)


async def test_a_stopped_sweep_reads_in_llmeters_load_test_result(tmp_path):
    async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01) as server:
        lt = LoadTest(chat(server), SLOW, [1, 3, 5], n_requests=2, output_path=tmp_path,
                      test_name="sweep", live_view=False)
        task = asyncio.create_task(lt.run())
        # level 3: stopped once its first three requests are done, the next three in flight
        ours = await stop_mid_run(lt, tmp_path / "sweep" / "3-clients" / "responses.jsonl",
                                  task, finished=3)
    folder = tmp_path / "sweep"
    assert ours.status == "stopped" and sorted(ours.results) == [1, 3] and ours.missing == [5]
    theirs = LlmeterLoadTestResult.load(folder)
    assert theirs.test_name == "sweep" and sorted(theirs.results) == [1, 3]
    ours_loaded = type(ours).load(folder, load_responses=True)
    for clients in (1, 3):
        level_folder = folder / f"{clients}-clients"
        theirs_level = theirs.results[clients]
        assert Path(theirs_level.output_path) == level_folder
        check_llmeter_reads(level_folder, ours.results[clients], theirs=theirs_level)
        assert ours_loaded.results[clients].stats["total_requests"] == \
               ours.results[clients].stats["total_requests"]
    assert ours.results[1].status == "completed" and ours.results[3].status == "stopped"
    assert theirs.results[1].stats["failed_requests"] == 0
    assert theirs.results[1].total_requests == 2
    assert theirs.results[3].stats["failed_requests"] == 3  # the cancelled ones
    assert theirs.results[3].total_requests == ours.results[3].stats["total_requests"] + 3


def test_a_folder_saved_before_this_change_loads_as_the_new_one(tmp_path):
    """Until now a cancelled line carried its derived time_to_first_token, and summary.json our
    total_requests: both folders load into the same Result."""
    sent = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=timezone.utc)
    from llmeter_widget.endpoints.base import InvocationResponse

    responses = []
    for i in range(6):
        r = InvocationResponse(id=f"r{i}", response_text="x" if i < 4 else None, request_time=sent,
                               t_send=10.0 + i, t_first_byte=10.01 + i,
                               t_first_token=10.05 + i if i < 4 else 10.3 + i,
                               t_last_token=10.4 + i, t_end=10.41 + i, num_tokens_input=3,
                               num_tokens_output=8 if i < 4 else None, token_source="usage",
                               chunks=8)
        if i >= 4:
            r.error, r.error_type = "cancelled while in flight", "cancelled"
        responses.append(r.finalize())
    new = Result(responses=responses, total_requests=4, clients=2, model_id="m", status="stopped")
    new_folder = new.save(tmp_path / "new")
    new_lines = saved_lines(new_folder)
    assert [line["time_to_first_token"] for line in new_lines[4:]] == [None, None]
    assert json.loads((new_folder / "summary.json").read_text())["total_requests"] == 6

    old_folder = tmp_path / "old"
    shutil.copytree(new_folder, old_folder)
    with (old_folder / "responses.jsonl").open("w") as f:
        for line in new_lines:
            if is_cancelled(line):
                line["time_to_first_token"] = line["t_first_token"] - line["t_send"]
            f.write(json.dumps(line) + "\n")
    summary = json.loads((old_folder / "summary.json").read_text())
    summary["total_requests"] = 4
    (old_folder / "summary.json").write_text(json.dumps(summary))

    old, fresh = Result.load(old_folder), Result.load(new_folder)
    assert old.responses == fresh.responses == responses
    assert old.responses[4].time_to_first_token == pytest.approx(0.3)
    assert old.total_requests == fresh.total_requests == 4
    drop = {"output_path"}
    assert {k: v for k, v in old.stats.items() if k not in drop} == \
           {k: v for k, v in fresh.stats.items() if k not in drop}
    assert fresh.stats["cancelled_requests"] == 2 and fresh.stats["total_requests"] == 4
    # llmeter reads the old folder with the cancelled TTFT averaged in, the new one without
    assert LlmeterResult.load(old_folder).stats["time_to_first_token-average"] == pytest.approx(
        (4 * 0.05 + 2 * 0.3) / 6)
    assert LlmeterResult.load(new_folder).stats["time_to_first_token-average"] == pytest.approx(
        0.05, rel=1e-9) == fresh.stats["time_to_first_token-average"]


def test_a_cancelled_line_leaves_out_only_what_its_raw_timestamps_give_back():
    from llmeter_widget.endpoints.base import InvocationResponse

    cut = InvocationResponse(id="c", error="cancelled while in flight", error_type="cancelled",
                             t_send=1.0, t_first_token=1.25, t_last_token=1.4, t_end=1.5,
                             chunks=3).finalize()
    assert cut.time_to_first_token == 0.25 and cut.time_to_last_token is None
    line = cut.to_json()
    assert json.loads(line)["time_to_first_token"] is None
    assert json.loads(line)["t_first_token"] == 1.25 and json.loads(line)["t_send"] == 1.0
    assert InvocationResponse.from_json(line) == cut  # derived again, every field as it was
    theirs = LlmeterResponse.from_json(line)
    assert theirs.time_to_first_token is None and theirs.annotations["t_first_token"] == 1.25
    # a TTFT with no raw timestamps to derive it from (made by hand) is kept, not lost
    bare = InvocationResponse(id="d", error="cancelled while in flight", error_type="cancelled",
                              time_to_first_token=0.3)
    assert json.loads(bare.to_json())["time_to_first_token"] == 0.3
    assert InvocationResponse.from_json(bare.to_json()) == bare
    # a request that failed otherwise keeps its TTFT in the file: llmeter and we both average it
    broken = InvocationResponse(id="e", error="connection reset", error_type="broken_stream",
                                t_send=1.0, t_first_token=1.25, t_end=1.5).finalize()
    assert json.loads(broken.to_json())["time_to_first_token"] == 0.25
