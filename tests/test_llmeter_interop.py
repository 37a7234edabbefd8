"""Result folders cross between llmeter 0.2.0 (the real package, from PyPI) and us."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from llmeter.endpoints.base import InvocationResponse as LlmeterResponse
from llmeter.results import Result as LlmeterResult

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint


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
