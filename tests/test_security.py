"""Secrets stay in Python; loading a result folder executes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from llmeter_widget import Result

PACKAGE = Path(__file__).resolve().parents[1] / "llmeter_widget"
KEY = "sk-SECRET-kept-in-python-123"
ENV_KEY = "sk-SECRET-from-the-environment-456"
HEADER = "hdr-SECRET-789"


def test_keys_never_reach_the_notebook_file_or_the_result_folder(tmp_path, monkeypatch):
    # The kernel inherits these, so the secrets are in no cell's source: only Python holds them.
    monkeypatch.setenv("TEST_DIRECT_KEY", KEY)
    monkeypatch.setenv("MY_API_KEY", ENV_KEY)
    monkeypatch.setenv("TEST_HEADER", HEADER)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "import os\n"
        "from llmeter_widget import Dashboard\n"
        "from llmeter_widget.endpoints import OpenAIChatEndpoint\n"
        "from llmeter_widget.simulator import SimulatedServer\n"
        "server = SimulatedServer(mode='fixed', ttft=0.01, itl=0.002)\n"
        "await server.start()",
        "ep = OpenAIChatEndpoint(base_url=server.base_url, model='sim',\n"
        "                        api_key=os.environ['TEST_DIRECT_KEY'],\n"
        "                        headers={'X-Auth': os.environ['TEST_HEADER']})\n"
        "env_ep = OpenAIChatEndpoint(base_url=server.base_url, model='sim', api_key_env='MY_API_KEY')\n"
        "payload = OpenAIChatEndpoint.create_payload('hi', max_tokens=4)\n"
        "dash = Dashboard(endpoint=ep, payload=payload, output_path='runs', duration=1, clients=2)\n"
        "dash",
        "result = await dash.run()\n"
        "env_dash = Dashboard(endpoint=env_ep, payload=payload, output_path='runs', mode='count', n_requests=2)\n"
        "env_result = await env_dash.run()\n"
        "print(result.stats['total_requests'], env_result.stats['total_requests'], repr(ep))",
        "await server.stop()",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    text = path.read_text()
    # the test means something: the widget state and the run's output are in the file
    assert "application/vnd.jupyter.widget-state+json" in text and "total_requests" in text
    printed = nb.cells[2].outputs[0]["text"].split()
    assert int(printed[0]) > 0 and printed[1] == "8"  # 4 clients x 2 requests
    for secret in (KEY, ENV_KEY, HEADER):
        assert secret not in text
        for file in (tmp_path / "runs").rglob("*"):
            if file.is_file():
                assert secret not in file.read_text(errors="replace"), file
    configs = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("run_config.json")]
    assert {c["endpoint"]["api_key_env"] for c in configs} == {None, "MY_API_KEY"}
    assert ["X-Auth"] in [c["endpoint"]["header_names"] for c in configs]


def test_loading_a_folder_runs_nothing_from_it(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "run"
    folder.mkdir()
    # llmeter's own format names classes to import; a hostile folder could name anything
    (folder / "run_config.json").write_text(json.dumps({
        "endpoint": {"__llmeter_class__": "os:system", "__llmeter_state__": {"command": f"touch {marker}"}},
        "callbacks": [{"__llmeter_class__": "builtins:exec", "source": f"open('{marker}', 'w')"}],
    }))
    (folder / "responses.jsonl").write_text(json.dumps({"id": "x", "response_text": "hi"}) + "\n")
    (folder / "responses.pkl").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    result = Result.load(folder)
    assert len(result.responses) == 1 and not marker.exists()


def test_the_package_has_no_code_loading_calls():
    # Loading reads JSON only: no pickle, eval/exec, dynamic imports or YAML object loading.
    # The one exception: workers/ sends the endpoint to the worker processes a run starts, pickled
    # over a private socket pair (docs/worker_protocol.md); nothing read from disk or a server.
    forbidden = re.compile(r"\bpickle\b|\beval\(|\bexec\(|importlib|__import__|yaml\.load|marshal")
    workers = PACKAGE / "workers"
    offenders = [f"{p.relative_to(PACKAGE)}:{n}" for p in PACKAGE.rglob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if forbidden.search(line) and not (p.parent == workers and "pickle" in line)]
    assert offenders == []
    pickling = [(p.name, line.strip()) for p in workers.glob("*.py")
                for line in p.read_text().splitlines() if re.search(r"\bpickle\.", line)]
    assert pickling == [("pool.py", "pickle.dumps(endpoint)")]  # a check, never a load
