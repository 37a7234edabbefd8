"""Saved notebooks with widget state, as bench/bench_notebook_size.py makes them: its notebook of
N `Dashboard.demo(...)` cells, each run once, executed by nbclient with `store_widget_state=True`
(what JupyterLab's "Save Widget State Automatically" writes) and saved. The tests use the
bench's own code, so they hold the file it measures to the goal (issue 12, finding 1).
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

from llmeter_widget.display import format_value

ROOT = Path(__file__).resolve().parents[1]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@cache
def bench() -> ModuleType:
    """bench/bench_notebook_size.py as a module (bench/ is not a package)."""
    path = ROOT / "bench" / "bench_notebook_size.py"
    spec = importlib.util.spec_from_file_location("bench_notebook_size", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def saved_notebook(dashboards: int, folder: Path) -> tuple[Path, int, dict]:
    """Run and save the bench's notebook with `dashboards` dashboards in `folder`.

    Returns its path (`folder/<dashboards>.ipynb`), its size in bytes and its widget state
    (model id -> {"model_name", "state", ...}).
    """
    size, state = bench().saved_size(dashboards, folder)
    return folder / f"{dashboards}.ipynb", size, state


def models_of(state: dict, class_name: str) -> dict[str, dict]:
    """The saved models of one widget class (by anywidget's `_anywidget_id`): id -> state."""
    return {model_id: m["state"] for model_id, m in state.items()
            if m["state"].get("_anywidget_id", "").rsplit(".", 1)[-1] == class_name}


def shown_cells(spec: dict, stats: dict) -> dict[str, str]:
    """What a dashboard's table must show, by cell data-key: `stats` formatted by Python with the
    units of `spec` (the page formats with js/format.js, held to the same output by
    tests/fixtures/format_cases.json)."""
    return {s["key"]: format_value(stats.get(s["key"]), s["unit"], invert=s["invert"],
                                   scale=s["scale"])
            for group in spec["groups"] for s in group["stats"]}
