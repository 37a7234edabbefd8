"""Saved notebook size (issue 12, finding 1): the dashboard's bundle is saved once per notebook,
not once per dashboard. The bench's notebook (bench/bench_notebook_size.py) with 0, 1 and 2 demo
dashboards, each run once, executed by nbclient and saved with its widget state: the first
dashboard adds at most 400 KB, the second at most 50 KB more.
"""

from __future__ import annotations

import pytest

from llmeter_widget.views.shared_code import STATIC

from .saved_notebooks import models_of, saved_notebook

FIRST_MAX = 400_000  # bytes the first dashboard may add to a saved notebook
FURTHER_MAX = 50_000  # bytes each further one may add


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{dashboards: (size in bytes, widget state)} for 0, 1 and 2 dashboards."""
    folder = tmp_path_factory.mktemp("notebook-size")
    out = {}
    for n in (0, 1, 2):
        _, size, state = saved_notebook(n, folder)
        out[n] = size, state
    return out


def test_first_dashboard_adds_at_most_400_kb(saved):
    added = saved[1][0] - saved[0][0]
    assert added <= FIRST_MAX, (
        f"the first dashboard adds {added:,} bytes to the saved notebook (goal <= {FIRST_MAX:,}); "
        f"the bundle static/widget.js alone is {(STATIC / 'widget.js').stat().st_size:,} bytes")


def test_second_dashboard_adds_at_most_50_kb(saved):
    added = saved[2][0] - saved[1][0]
    fields = {k: len(str(v)) for k, v in next(iter(models_of(saved[2][1], "Dashboard").values())).items()}
    largest = dict(sorted(fields.items(), key=lambda kv: -kv[1])[:5])
    assert added <= FURTHER_MAX, (
        f"the second dashboard adds {added:,} bytes (goal <= {FURTHER_MAX:,}); "
        f"its largest fields: {largest}")


def test_saved_state_holds_the_bundle_once(saved):
    """Two dashboards: one DashboardCode model holding widget.js, both dashboards naming it, and
    each dashboard's own `_esm` the small loader."""
    state = saved[2][1]
    codes = models_of(state, "DashboardCode")
    assert len(codes) == 1, sorted(codes)
    (code_id, code), = codes.items()
    assert code["code"] == (STATIC / "widget.js").read_text(encoding="utf-8")
    dashboards = models_of(state, "Dashboard")
    assert len(dashboards) == 2
    loader = (STATIC / "loader.js").read_text(encoding="utf-8")
    for dash in dashboards.values():
        assert dash["_code"] == f"IPY_MODEL_{code_id}"
        assert dash["_esm"] == loader
        assert "code" not in dash
