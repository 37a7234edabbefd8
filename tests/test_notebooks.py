"""Every notebook in notebooks/ runs top to bottom in a real kernel (nbclient)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
NOTEBOOK_DIR = Path(__file__).parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The suite runs notebooks briefly, and never against an endpoint the machine's environment
# happens to name: OPENAI_* are removed unless a test sets them.
SHORT_RUNS = {"LLMETER_RUN_SECONDS": "1"}
ENDPOINT_VARS = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL")


@contextmanager
def kernel_env(values: dict[str, str]):
    """The environment a kernel started inside this block inherits."""
    saved = dict(os.environ)
    for name in ENDPOINT_VARS:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# Appended to each notebook while it runs (and taken out after): how many dashboards the
# notebook left open, and how many it closed, at the end of "Run all".
PROBE = """
import gc, json
from llmeter_widget.views.dashboard import Dashboard as _Dashboard
_dashboards = [o for o in gc.get_objects() if isinstance(o, _Dashboard)]
print(json.dumps({"open": sum(d.comm is not None for d in _dashboards),
                  "closed": sum(d.comm is None for d in _dashboards)}))
"""


def execute(path: Path, cwd: Path, env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    with kernel_env({**SHORT_RUNS, **(env or {})}):
        NotebookClient(nb, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}},
                       store_widget_state=True).execute()  # raises on a failing cell
    probe = nb.cells.pop()
    nb.metadata["dashboards_at_end"] = json.loads(probe.outputs[-1]["text"].strip().splitlines()[-1])
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run each notebook once (in its own folder); tests read the results."""
    cache: dict[str, tuple[nbformat.NotebookNode, Path]] = {}

    def run(path: Path) -> tuple[nbformat.NotebookNode, Path]:
        if path.name not in cache:
            cwd = tmp_path_factory.mktemp(path.stem)
            cache[path.name] = (execute(path, cwd), cwd)
        return cache[path.name]

    return run


def test_there_are_notebooks():
    assert any(p.name == "quickstart.ipynb" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, executed):
    nb, cwd = executed(path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    # the runs it made are on disk, complete
    folders = [p.parent for p in (cwd / "runs").rglob("summary.json")]
    assert folders, "the notebook saved no result"
    for folder in folders:
        status = json.loads((folder / "run_status.json").read_text())["status"]
        assert status == "completed", (folder, status)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_run_all_ends_with_what_the_user_watches(path, executed):
    """A notebook's last cell closed its dashboard: after "Run all" the output the user was
    watching was empty (issue 12, finding 3)."""
    nb, _ = executed(path)
    at_end = nb.metadata["dashboards_at_end"]
    assert at_end["closed"] == 0, at_end
    if any(WIDGET_VIEW in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
           for o in c.get("outputs", [])):
        assert at_end["open"] >= 1


def test_quickstart_shows_dashboards_and_saves_their_state(executed):
    nb, _ = executed(Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    views = [c for c in code if any(WIDGET_VIEW in o.get("data", {}) for o in c.get("outputs", []))]
    # the demo dashboard, and the read-only one a plain Runner.run() shows
    assert len(views) == 2
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    dashboards = [m["state"] for m in state.values() if m["state"].get("_anywidget_id", "").endswith("Dashboard")]
    assert len(dashboards) == 2
    assert {d["controls"] for d in dashboards} == {True, False}
    assert all(d["status"] == "done" and d["stats"]["total_requests"] > 0 for d in dashboards)


def stats_of(folder: Path) -> dict:
    return json.loads((folder / "stats.json").read_text())


def test_time_bound_runs_notebook_saves_chosen_stats_and_cost(executed):
    nb, cwd = executed(NOTEBOOK_DIR / "time_bound_runs.ipynb")
    levels = sorted((cwd / "runs" / "sweep").glob("*/*-clients"))
    assert [p.name for p in levels] == ["1-clients", "2-clients", "4-clients", "8-clients"]
    for level in levels:
        stats = stats_of(level)
        status = json.loads((level / "run_status.json").read_text())
        assert status["low_memory"] and status["run_duration"] == 1.0
        # the percentile the live table asked for, and the cost the callback published
        assert stats["time_to_first_token-p95"] > 0 and stats["cost-total"] > 0
        assert stats["cost-per_request"] == stats["cost-total"] / stats["cost-requests"]
    single = next((cwd / "runs" / "time_bound").iterdir())
    assert stats_of(single)["cost-total"] > 0
    dashboard_run = next((cwd / "runs" / "dashboard").iterdir())
    assert "time_to_last_token-p99" in stats_of(dashboard_run)  # added with dash.add_stat
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    specs = [m["state"]["spec"] for m in state.values() if "spec" in m["state"]]
    labels = [[c["label"] for g in spec["groups"] for c in g["stats"]] for spec in specs]
    assert ["Requests/min", "Output tok/s"] == labels[0][:2]  # the chosen table, not the default
    assert any("TTLT p99" in ls and "Failed" not in ls for ls in labels)  # the dashboard's edits


def test_time_bound_runs_notebook_against_a_named_endpoint(tmp_path):
    """OPENAI_BASE_URL / OPENAI_API_KEY / OPENAI_MODEL point the notebook at another endpoint
    (here a second simulator that demands a key): it uses it, and the key is saved nowhere."""
    from llmeter_widget.simulator import SimulatedServer

    key = "sk-notebook-secret-4242"
    with SimulatedServer.spawn(mode="fixed", ttft=0.01, itl=0.002, api_key=key,
                                model="other-model") as server:
        nb = execute(NOTEBOOK_DIR / "time_bound_runs.ipynb", tmp_path, env={
            "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": key, "OPENAI_MODEL": "other-model"})
    configs = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("run_config.json")]
    assert len(configs) == 6
    assert {c["endpoint"]["base_url"] for c in configs} == {server.base_url}
    assert {c["model_id"] for c in configs} == {"other-model"}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(errors="ignore"), path
    assert key not in json.dumps(nb)
