"""Saved runs and sweeps shown beside the live run: the `overlays` trait of the Dashboard.

`load_overlay(path)` reads a saved run folder (`Result.load`) or a sweep folder
(`LoadTestResult.load`) into the JSON the frontend draws (see docs/widget_contract.md):

- a run: `{"label", "kind": "run", "path", "stats": {canonical key: number or null},
  "series": [bucket, ...], "levels": []}`; the series is rebuilt from the saved responses
  (`stats_from_responses`), relative to the run's first send, and is empty when the responses
  carry no raw timestamps (e.g. llmeter's folders);
- a sweep: `{"label", "kind": "sweep", "path", "stats": {}, "series": [], "levels": [...]}`,
  the levels shaped like the `comparison` trait's.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .experiments import MANIFEST, LoadTestResult, _scan_levels
from .metrics import comparison_short_keys
from .results import Result
from .stats import stats_from_responses

# comparison["levels"] keys (the sweep chart's names, js/sweep.js) -> stats_table() keys.
COMPARISON_KEYS = comparison_short_keys()


def clean(value: Any) -> Any:
    """JSON cannot carry NaN or infinity: send null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def comparison_levels(sweep: LoadTestResult) -> list[dict[str, Any]]:
    """One `comparison` level per measured level of a sweep, by client count."""
    return [
        {"clients": row["clients"], **{k: clean(row[key]) for k, key in COMPARISON_KEYS.items()}}
        for row in sweep.stats_table()
    ]


def is_sweep_folder(folder: Path) -> bool:
    """A sweep's folder holds load_test.json or `<N>-clients` folders."""
    return (folder / MANIFEST).exists() or bool(_scan_levels(folder))


def run_stats(result: Result) -> dict[str, Any]:
    """The numeric stats of a run (canonical keys; NaN and infinity as null)."""
    return {
        key: clean(value) for key, value in result.stats.items()
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
    }


def run_series(result: Result) -> list[dict[str, Any]]:
    """The run's per-second buckets rebuilt from its responses ([] without raw timestamps)."""
    responses = result.responses
    if not any(r.t_send is not None for r in responses):
        return []
    return stats_from_responses(responses).series(0)


def load_overlay(path: str | os.PathLike, label: str | None = None) -> dict[str, Any]:
    """Read a saved run or sweep folder into one entry of the `overlays` trait.

    Raises:
        FileNotFoundError: no folder at `path`, or a folder that holds no run or sweep.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"No saved run or sweep at {folder}: check the path.")
    name = label if label is not None else (folder.resolve().name or str(folder))
    entry: dict[str, Any] = {"label": name, "path": str(folder), "stats": {}, "series": [],
                             "levels": []}
    if is_sweep_folder(folder):
        sweep = LoadTestResult.load(folder)
        return {**entry, "kind": "sweep", "levels": comparison_levels(sweep)}
    try:
        result = Result.load(folder, load_responses=True)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{folder} holds no saved run or sweep: expected a run folder (summary.json, "
            f"stats.json or responses.jsonl) or a sweep folder ({MANIFEST} or <N>-clients "
            "folders)."
        ) from exc
    return {**entry, "kind": "run", "stats": run_stats(result), "series": run_series(result)}
