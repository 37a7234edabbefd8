"""Every notebook in notebooks/ runs top to bottom in a real kernel (nbclient)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run each notebook once (in its own folder); tests read the results."""
    cache: dict[str, tuple[nbformat.NotebookNode, Path]] = {}

    def run(path: Path) -> tuple[nbformat.NotebookNode, Path]:
        if path.name not in cache:
            cwd = tmp_path_factory.mktemp(path.stem)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=180, kernel_name="python3",
                           resources={"metadata": {"path": str(cwd)}},
                           store_widget_state=True).execute()  # raises on a failing cell
            cache[path.name] = (nb, cwd)
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
