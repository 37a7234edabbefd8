"""Saved notebook size per dashboard (issue 12, finding 1): a notebook with 0, 1, 2 and 4
dashboards, run with nbclient and saved with its widget state (what JupyterLab's "Save Widget
State Automatically" writes), then measured on disk.

Run:  .venv/bin/python bench/bench_notebook_size.py

Each dashboard is `Dashboard.demo(...)` run once for a short count-bound run, so its state has
a last run to show (stats, series). Prints the file size, the growth per dashboard, the
largest state fields of one dashboard's model and of the shared code model (`DashboardCode`:
the bundle, saved once however many dashboards; each dashboard's `_esm` is the small loader).
Writes bench/results/bench_notebook_size.json. The goal: the first dashboard adds <= 400 KB,
each further one <= 50 KB, and the saved notebook still renders offline
(tests/test_notebook_size.py holds it to that; tests/e2e/test_saved_notebook.py opens it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

CELL = ("d{i} = Dashboard.demo(mode='count', clients=2, n_requests=2, max_tokens=8, "
        "output_path='runs')\nawait d{i}.run()\nd{i}")


def notebook(dashboards: int) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell("from llmeter_widget import Dashboard")]
    cells += [nbformat.v4.new_code_cell(CELL.format(i=i)) for i in range(dashboards)]
    return nbformat.v4.new_notebook(cells=cells)


def saved_size(dashboards: int, folder: Path) -> tuple[int, dict]:
    nb = notebook(dashboards)
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / f"{dashboards}.ipynb"
    nbformat.write(nb, path)
    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return path.stat().st_size, state


def model_state(state: dict, class_name: str) -> dict:
    """The saved state of the (first) model of that widget class ({} if none)."""
    return next((m["state"] for m in state.values()
                 if m["state"].get("_anywidget_id", "").rsplit(".", 1)[-1] == class_name), {})


def largest_fields(model: dict, n: int = 6) -> dict[str, int]:
    """A model's largest state fields, as JSON bytes, largest first."""
    fields = sorted(((len(json.dumps(v)), k) for k, v in model.items()), reverse=True)
    return {k: b for b, k in fields[:n]}


def main() -> None:
    rows, out = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (0, 1, 2, 4):
            size, state = saved_size(n, Path(tmp))
            out[n] = size
            rows.append([n, size, size - out[0], (size - out[0]) / n if n else 0])
            if n == 1:
                for name, key in (("Dashboard", "largest_fields_of_one_dashboard"),
                                  ("DashboardCode", "largest_fields_of_the_shared_code")):
                    out[key] = largest_fields(model_state(state, name))
    common.print_table(["dashboards", "bytes", "growth", "per dashboard"], rows)
    print("first dashboard adds", out[1] - out[0], "bytes; the second adds", out[2] - out[1])
    print("largest state fields of one dashboard (bytes):",
          out["largest_fields_of_one_dashboard"])
    print("largest state fields of the shared code model, once per notebook (bytes):",
          out["largest_fields_of_the_shared_code"])
    common.write_results("bench_notebook_size", {"sizes": out, "machine": common.machine()})


if __name__ == "__main__":
    main()
