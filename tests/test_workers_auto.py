"""workers="auto": the rule (workers/choice.py), and a Runner that follows it per run, falls
back to this process when the endpoint or a callback cannot work from another one, and records
what it chose in run_config.json."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from llmeter_widget import Runner
from llmeter_widget.callbacks import Callback
from llmeter_widget.cli import build_parser
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.workers import choice
from llmeter_widget.workers.choice import choose_workers


@pytest.mark.parametrize(("clients", "cores", "uvloop", "expected"), [
    (127, 16, True, 0),    # below 128 clients one loop is as exact as a worker (measured)
    (128, 2, True, 1),     # measured on 2 cores: one worker beats the in-process loop from 128
    (1000, 2, True, 1),    # ...and the kernel keeps a core: at most cores - 1
    (1000, 1, True, 0),
    (200, 16, True, 1),
    (201, 16, True, 2),    # a worker per 200 clients...
    (1000, 16, True, 5),
    (5000, 8, True, 7),    # ...at most the cores minus one
    (1000, 2, False, 0),   # on asyncio's loop workers did not pay on 2 cores
    (1000, 3, False, 0),
    (1000, 4, False, 3),
])
def test_the_rule(clients, cores, uvloop, expected):
    assert choose_workers(clients, cores=cores, uvloop=uvloop) == expected


def test_uvloop_is_there_and_can_be_turned_off(monkeypatch):
    assert choice.has_uvloop()  # a dependency on Linux: the workers run on it
    monkeypatch.setenv("LLMETER_WIDGET_LOOP", "asyncio")
    assert not choice.has_uvloop()


def test_the_usable_cores_are_this_process_cpu_set():
    cores = choice.usable_cores()
    assert 1 <= cores and (not hasattr(choice.os, "sched_getaffinity")
                           or cores == len(choice.os.sched_getaffinity(0)))


def _runner(server, tmp_path, **kwargs) -> Runner:
    return Runner(OpenAIChatEndpoint(base_url=server.base_url, model="sim"),
                  OpenAIChatEndpoint.create_payload("Hi", max_tokens=4), live_view=False,
                  output_path=tmp_path, **kwargs)


def _config(result) -> dict:
    return json.loads((Path(result.output_path) / "run_config.json").read_text())


async def test_auto_sends_from_this_process_on_one_core(fixed_server, tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "usable_cores", lambda: 1)
    result = await _runner(fixed_server, tmp_path, workers="auto").run(
        clients=200, n_requests=1, run_name="small")
    config = _config(result)
    assert (config["workers"], config["workers_requested"]) == (0, "auto")
    assert result.stats["successful_requests"] == 200


async def test_auto_uses_worker_processes_where_the_rule_says(fixed_server, tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "usable_cores", lambda: 8)
    runner = _runner(fixed_server, tmp_path, workers="auto")
    senders: set[str] = set()  # what sent the requests, seen at each tick
    runner.listeners.append(lambda snapshot: senders.add(type(runner._run._load).__name__))
    result = await runner.run(clients=130, n_requests=1, run_name="big")
    assert (_config(result)["workers"], _config(result)["workers_requested"]) == (1, "auto")
    assert result.stats["successful_requests"] == 130 and "ProcessWorkers" in senders
    # and per run: fewer clients, no worker
    senders.clear()
    small = await runner.run(clients=4, n_requests=1, run_name="few")
    assert _config(small)["workers"] == 0 and "ProcessWorkers" not in senders
    assert "ClosedLoop" in senders


class EditsEachRequest(Callback):
    async def before_invoke(self, payload: dict) -> None:
        payload["user"] = "test"


async def test_auto_falls_back_to_this_process_when_a_callback_edits_requests(
        fixed_server, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(choice, "usable_cores", lambda: 8)
    with caplog.at_level(logging.INFO, logger="llmeter_widget.runner"):
        result = await _runner(fixed_server, tmp_path, workers="auto",
                               callbacks=[EditsEachRequest()]).run(clients=130, n_requests=1)
    assert _config(result)["workers"] == 0 and result.stats["successful_requests"] == 130
    assert "EditsEachRequest.before_invoke" in caplog.text
    with pytest.raises(ValueError, match="use workers=0"):  # asked for explicitly: refused
        _runner(fixed_server, tmp_path, workers=2, callbacks=[EditsEachRequest()])


@pytest.mark.parametrize("bad", ["many", -1, 1.5, True])
def test_anything_else_is_refused_naming_auto(fixed_server, tmp_path, bad):
    with pytest.raises(ValueError, match='"auto"'):
        _runner(fixed_server, tmp_path, workers=bad)


def test_the_cli_takes_auto():
    parser = build_parser()
    assert parser.parse_args(["run", "--url", "http://127.0.0.1:1/v1", "--model", "m",
                              "--workers", "auto"]).workers == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--url", "http://127.0.0.1:1/v1", "--model", "m", "--workers", "lots"])


def test_a_worker_runs_on_uvloop_unless_turned_off(monkeypatch):
    """What the bench measured (and choose_workers counts on) is the workers on uvloop."""
    from llmeter_widget.workers.process import run_loop

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_loop(loop_module()).startswith("uvloop")
    monkeypatch.setenv("LLMETER_WIDGET_LOOP", "asyncio")
    assert run_loop(loop_module()).startswith("asyncio")
