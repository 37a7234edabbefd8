"""The names the docstring examples in llmeter_widget/ use, so every one of them runs for real.

Each doctest runs in its own temporary folder (so `output_path="runs"` writes there, never into
the repo) and finds these names ready, as a notebook that set them up earlier would:

- `simulator`: a simulated OpenAI-compatible server in its own process, fixed latency: the
  first token 50 ms after a request arrives, then one every 5 ms (`SimulatedServer.spawn`);
- `ep`, `payload`: an `OpenAIChatEndpoint` on it and a chat payload asking for 10 tokens, so a
  request takes about 0.1 s;
- `runner`: a new `Runner(ep, payload, output_path="runs")`;
- `dash`: a new `Dashboard(endpoint=ep, payload=payload, output_path="runs")` (closed after);
- `sweep_folder`: a saved client sweep (1, 2 and 4 clients) of a server that serves 2
  requests at a time, so it saturates at 2 clients (see `save_sweep`).

A name is set up only for the doctests that read it without setting it themselves: the simulator process starts with the
first example that needs it, the sweep runs once, and doctests that need neither (or plain
tests) pay nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmeter_widget import LoadTestResult, Result, Runner
from llmeter_widget.endpoints import InvocationResponse, OpenAIChatEndpoint
from llmeter_widget.experiments import level_folder_name
from llmeter_widget.simulator import SimulatedServer

PAYLOAD = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=10)
NAMES = ("simulator", "ep", "payload", "runner", "dash", "sweep_folder")
SERVER_NAMES = ("simulator", "ep", "payload", "runner", "dash")


@pytest.fixture(scope="session")
def doctest_simulator():
    with SimulatedServer.spawn(mode="fixed", ttft=0.05, itl=0.005) as process:
        yield process


def save_sweep(folder: Path) -> str:
    """A sweep of 1, 2 and 4 clients, saved as `LoadTest` saves one, of a server that serves 2
    requests at a time: each request takes 0.25 s (first token at 0.05 s), and at 4 clients
    half of them wait 0.25 s for a place. Made from fixed timings, so what the doctests read
    from it (the knee, the verdict) is the same on every machine."""
    results = {}
    for clients in (1, 2, 4):
        responses = []
        for round_ in range(4):
            for client in range(clients):
                wait = 0.25 if client >= 2 else 0.0  # no place yet: queued
                t_send = round_ * (0.25 + wait if clients == 4 else 0.25)
                responses.append(InvocationResponse(
                    id=f"{clients}-{round_}-{client}", t_send=t_send,
                    t_first_token=t_send + wait + 0.05, t_last_token=t_send + wait + 0.25,
                    t_end=t_send + wait + 0.25, num_tokens_input=10, num_tokens_output=4,
                ).finalize())
        level = Result(responses=responses, total_requests=len(responses), clients=clients,
                       n_requests=4, model_id="sim", run_name=f"{clients}-clients")
        level.save(folder / level_folder_name(clients))
        results[clients] = level
    sweep = LoadTestResult(test_name="sweep", sequence_of_clients=[1, 2, 4], results=results,
                           output_path=str(folder), status="completed")
    sweep.save()
    return str(folder)


@pytest.fixture(scope="session")
def doctest_sweep_folder(tmp_path_factory) -> str:
    return save_sweep(tmp_path_factory.mktemp("saved") / "sweep")


def _uses(item: pytest.Item) -> set[str]:
    """Our names the doctest reads without setting them itself."""
    source = "\n".join(example.source for example in item.dtest.examples)
    return {name for name in NAMES if re.search(rf"(?<![\w.]){name}\b", source)
            and not re.search(rf"^\s*{name}\s*=", source, re.MULTILINE)}


@pytest.fixture(autouse=True)
def _doctest_names(request, doctest_namespace):
    if not hasattr(request.node, "dtest"):  # not a doctest (pytest's DoctestItem is private)
        yield
        return
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
    for name in NAMES:  # nothing left over from the previous doctest
        doctest_namespace.pop(name, None)
    uses = _uses(request.node)
    dash = None
    if uses & set(SERVER_NAMES):
        simulator = request.getfixturevalue("doctest_simulator")
        ep = OpenAIChatEndpoint(base_url=simulator.base_url, model="sim")
        doctest_namespace.update(simulator=simulator, ep=ep, payload=dict(PAYLOAD))
        if "runner" in uses:
            doctest_namespace["runner"] = Runner(ep, dict(PAYLOAD), output_path="runs")
        if "dash" in uses:
            from llmeter_widget import Dashboard

            dash = doctest_namespace["dash"] = Dashboard(endpoint=ep, payload=dict(PAYLOAD),
                                                         output_path="runs")
    if "sweep_folder" in uses:
        doctest_namespace["sweep_folder"] = request.getfixturevalue("doctest_sweep_folder")
    yield
    if dash is not None:
        dash.close()
