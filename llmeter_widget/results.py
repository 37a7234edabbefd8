"""A run's result, and the folder it lives in.

One folder per run, laid out like llmeter's so its users recognise it (and its `Result.load`
reads ours):

    <output_path>/<run_name>/
        run_config.json    how the run was set up (written first; no secrets)
        responses.jsonl    one line per request, appended and flushed as responses arrive
        stats.json         the final statistics (canonical keys + contributed stats)
        summary.json       the run's metadata: exactly llmeter's Result fields
        run_status.json    how the run ended: completed, stopped, interrupted or failed

A folder from a run that crashed has no summary.json and a run_status.json still saying
"running": it loads anyway, stats rebuilt from responses.jsonl (a truncated last line is
skipped with a warning). Loading never executes anything from the folder: JSON only.

Cancelled requests (in flight when a run was stopped or interrupted) are in responses.jsonl
like every request sent, but our stats count them apart (`cancelled_requests`), outside
total_requests, failed_requests and every distribution. llmeter has no such notion, so its
`Result.load` reads them as what they are in its terms, requests sent that failed (their error
says "cancelled while in flight"); the folder is written so that its figures otherwise match ours:

- summary.json's total_requests counts them (ours + cancelled_requests): llmeter's
  total_requests is every response in the file, as its own runner writes it and as it counts a
  folder without summary.json; stats.json keeps our total_requests, and so does `Result.load`.
- a cancelled line carries no derived time_to_first_token (see endpoints/base.py), so
  llmeter's TTFT/TTLT figures cover the same requests as ours (averages and medians equal; its
  p90/p99 interpolate another way); its token totals are ours as well (a cancelled request has
  no token counts).

So llmeter reads total_requests = ours + cancelled, failed_requests = ours + cancelled. With
`load_responses=False` llmeter shows stats.json as saved, that is our figures.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from .endpoints.base import InvocationResponse, datetime_to_str, str_to_datetime
from .slo import ATTAINMENT_PREFIX, Slo, file_records, score_records
from .stats import stats_from_responses

logger = logging.getLogger(__name__)

RUN_STATUSES = ("running", "completed", "stopped", "interrupted", "failed")

# The fields llmeter 0.2.0's Result takes; summary.json holds exactly these.
_LLMETER_SUMMARY_FIELDS = (
    "total_requests", "clients", "n_requests", "total_test_time", "model_id", "output_path",
    "endpoint_name", "provider", "run_name", "run_description", "start_time",
    "first_request_time", "last_request_time", "end_time",
)
# Ours, kept in run_status.json.
_STATUS_FIELDS = ("status", "error", "run_duration", "low_memory", "schedule_warning", "slo")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return datetime_to_str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=4, default=_json_default, ensure_ascii=False)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with path.open("r", encoding="utf-8") as f:
        return json.load(f)


def _read_object(path: Path) -> dict[str, Any] | None:
    """A result file's JSON object; None (with a warning) if it is missing, unreadable or not an
    object: one damaged file must not stop the rest of a folder from loading."""
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring %s: it is not valid JSON (%s).", path, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("Ignoring %s: it holds a %s, not a JSON object.", path, type(data).__name__)
        return None
    return data


def _datetime_or_none(value: Any, name: str) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return str_to_datetime(value)
    except (TypeError, ValueError):
        logger.warning("Ignoring %s=%r: not an ISO 8601 time.", name, value)
        return None


def new_folder(output_path: str | os.PathLike, name: str) -> Path:
    """Create `<output_path>/<name>`, a new folder (a taken name gets -2, -3 ...), and check
    that it can be written, so a run fails before it starts rather than at its end.

    Raises:
        ValueError: output_path cannot be written, with what to do about it.
    """
    base = Path(output_path)
    candidate, suffix = name, 2
    try:
        base.mkdir(parents=True, exist_ok=True)
        while True:
            folder = base / candidate
            try:
                folder.mkdir()  # atomic: two runs starting together never share a folder
                break
            except FileExistsError:
                candidate, suffix = f"{name}-{suffix}", suffix + 1
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(
            f"Cannot write results under {base} ({exc.strerror or exc}): choose a writable "
            "output_path, or output_path=None to keep results in memory only."
        ) from None
    return folder


class ResponseWriter:
    """Appends responses to responses.jsonl as they arrive, one flushed line each.

    Writes go to the OS page cache (microseconds), so doing them on the event loop does not
    stall it; a crash loses at most the line being written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self.count = 0

    def append(self, response: InvocationResponse) -> None:
        self._file.write(response.to_json() + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def iter_responses(path: Path) -> Iterator[InvocationResponse]:
    """Read responses.jsonl lazily, skipping (with a warning) lines that do not parse."""
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                yield InvocationResponse.from_dict(data)
            except (ValueError, TypeError) as exc:
                logger.warning(
                    "Skipping unreadable line %d of %s (a run cut short mid-write leaves one): %s",
                    number, path, exc,
                )


@dataclass
class Result:
    """The outcome of one run: metadata, final stats and (unless low-memory) the responses.

    Example: `runner` is a Runner (output_path="runs") of a simulated server that sends its
    first token 50 ms after a request arrives; in a notebook cell, `await runner.run(...)`.

        >>> import asyncio
        >>> result = asyncio.run(runner.run(clients=2, n_requests=2))
        >>> result.status, result.stats["total_requests"], result.stats["failed_requests"]
        ('completed', 4, 0)
        >>> 0.05 <= result.stats["time_to_first_token-p50"] < 1
        True
        >>> Result.load(result.output_path).stats["total_requests"]
        4
    """

    responses: list[InvocationResponse] = field(default_factory=list)
    total_requests: int | None = None
    clients: int = 1
    n_requests: int | None = None
    total_test_time: float | None = None
    model_id: str | None = None
    output_path: str | None = None
    endpoint_name: str | None = None
    provider: str | None = None
    run_name: str | None = None
    run_description: str | None = None
    start_time: datetime | None = None
    first_request_time: datetime | None = None
    last_request_time: datetime | None = None
    end_time: datetime | None = None
    # -- ours --
    status: str = "completed"
    error: str | None = None
    run_duration: float | None = None
    low_memory: bool = False
    # An open-loop run that did not keep its schedule says so (load.schedule.schedule_warning).
    schedule_warning: str | None = None
    # The SLO the stats were scored against (metric -> limit; the last one set_slo gave).
    slo: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self._stats: dict[str, Any] | None = None
        self._contributed_stats: dict[str, Any] = {}

    # -- stats -----------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        """Canonical stat keys (metrics.py; docs/user_guide.md, "Every metric"), the run's metadata,
        and contributed stats."""
        if self._stats is None:
            self._stats = stats_from_responses(self.responses, slo=self.slo).to_stats()
        return {**self.summary(), **self._stats, **self._contributed_stats}

    def rescore(self, slo: Slo | dict[str, float] | None) -> dict[str, Any]:
        """The run's stats under another SLO, without running again: a new dict, `stats` with
        the SLO's keys (goodput, attainment, each threshold's attainment) computed for `slo`
        (None: none); the Result and its folder are unchanged.

        Every request is scored again from its saved values (not from its `slo_pass`, which
        holds the SLO in force when it was recorded), warm-up and cool-down ones left out: from
        `responses` in memory, or, for a low-memory run or a stats-only load, line by line from
        responses.jsonl (memory stays flat). The throughput time base is rebuilt from the same
        records, so the result equals the stats of a run made with that SLO.

        Example (`runner`: a Runner of a simulated server; its TTFT is ~50 ms):
            >>> import asyncio
            >>> result = asyncio.run(runner.run(clients=2, n_requests=3))
            >>> result.rescore({"time_to_first_token": 10})["slo_attainment"]
            1.0
            >>> result.rescore({"time_to_first_token": 0.001})["goodput-requests_per_minute"]
            0.0
        """
        checked = Slo.of(slo)
        stats = {k: v for k, v in self.stats.items() if not k.startswith(ATTAINMENT_PREFIX)}
        if checked is None:
            stats.update(dict.fromkeys(("goodput-requests_per_minute", "goodput-output_tps",
                                        "slo_attainment")))
            return stats
        if self.responses or not self.output_path:
            records = (r.__getattribute__ for r in self.responses)
        else:
            path = Path(self.output_path) / "responses.jsonl"
            records = file_records(path) if path.exists() else iter(())
        tally, base = score_records(records, checked)
        stats.update(tally.stats(base.duration))
        return stats

    def _update_contributed_stats(self, stats: dict[str, Any]) -> None:
        """Add or replace stats a callback contributes (llmeter's name for it)."""
        if not isinstance(stats, dict):
            raise ValueError(f"contributed stats must be a dict of name -> value, got {type(stats).__name__}")
        self._contributed_stats.update(stats)

    add_stats = _update_contributed_stats

    # -- saving ----------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The llmeter-compatible metadata (what summary.json holds, but for total_requests:
        see `llmeter_summary`)."""
        return {name: getattr(self, name) for name in _LLMETER_SUMMARY_FIELDS}

    def llmeter_summary(self) -> dict[str, Any]:
        """summary.json: `summary()` with total_requests as llmeter counts it, every request
        sent, the cancelled ones too (see the module docstring)."""
        summary = self.summary()
        cancelled = self.stats.get("cancelled_requests")
        if isinstance(summary["total_requests"], int) and isinstance(cancelled, int):
            summary["total_requests"] += cancelled
        return summary

    def status_record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATUS_FIELDS}

    def save(self, output_path: str | os.PathLike | None = None) -> Path:
        """Write summary.json, stats.json and run_status.json (and responses.jsonl if absent)."""
        target = output_path or self.output_path
        if target is None:
            raise ValueError("No output folder: pass output_path= to save(), or set it on the Runner.")
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        self.output_path = str(folder)
        responses_path = folder / "responses.jsonl"
        if not responses_path.exists():
            writer = ResponseWriter(responses_path)
            for response in self.responses:
                writer.append(response)
            writer.close()
        write_json(folder / "stats.json", self.stats)
        write_json(folder / "summary.json", self.llmeter_summary())
        write_json(folder / "run_status.json", self.status_record())
        return folder

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, result_path: str | os.PathLike, load_responses: bool = True) -> Result:
        """Load a result folder written by us or by llmeter, complete or cut short.

        Args:
            result_path: the run's folder (the one holding responses.jsonl).
            load_responses: read every response into memory (False: stats only, fast).

        Raises:
            FileNotFoundError: the folder has none of summary.json, stats.json, responses.jsonl.
        """
        folder = Path(result_path)
        responses_path = folder / "responses.jsonl"
        summary_path = folder / "summary.json"
        stats_path = folder / "stats.json"
        if not folder.is_dir():
            raise FileNotFoundError(f"No result folder at {folder}: check the path.")
        if not (summary_path.exists() or stats_path.exists() or responses_path.exists()):
            raise FileNotFoundError(
                f"{folder} holds no result: expected summary.json, stats.json or responses.jsonl."
            )
        metadata: dict[str, Any] = {}
        summary = _read_object(summary_path)
        config = _read_object(folder / "run_config.json")
        if summary is not None:
            metadata.update(summary)
        elif config is not None:
            for name in ("clients", "n_requests", "run_name", "run_description", "model_id",
                         "endpoint_name", "provider"):
                if config.get(name) is not None:
                    metadata[name] = config[name]
            endpoint = config.get("endpoint") or {}
            for name in ("model_id", "endpoint_name", "provider"):
                if isinstance(endpoint, dict) and endpoint.get(name) is not None:
                    metadata.setdefault(name, endpoint[name])
        metadata.update(_read_object(folder / "run_status.json") or {})
        if metadata.get("slo") is None and config is not None and config.get("slo"):
            metadata["slo"] = config["slo"]  # a run cut short: the SLO it started with
        if metadata.get("slo") is not None:
            try:
                metadata["slo"] = Slo(metadata["slo"]).to_config()
            except ValueError as exc:
                logger.warning("Ignoring the saved SLO %r: %s", metadata["slo"], exc)
                metadata["slo"] = None
        if summary is None:
            # No summary: the run never finished writing (a crash, a killed process).
            metadata["status"] = "interrupted"
            logger.warning("%s has no summary.json: the run was cut short; loading what was saved.", folder)

        known = {f.name for f in fields(cls)} - {"responses"}
        kwargs = {k: v for k, v in metadata.items() if k in known}
        for name in ("start_time", "first_request_time", "last_request_time", "end_time"):
            kwargs[name] = _datetime_or_none(kwargs.get(name), name)
        if kwargs.get("status") not in RUN_STATUSES:
            kwargs.pop("status", None)
        kwargs["output_path"] = str(folder)
        result = cls(**kwargs)

        saved_stats = _read_object(stats_path)
        need_responses = load_responses or saved_stats is None
        responses = list(iter_responses(responses_path)) if need_responses and responses_path.exists() else []
        if saved_stats is not None:
            computed_keys = set(result.summary())
            result._stats = {k: v for k, v in saved_stats.items() if k not in computed_keys}
            total = saved_stats.get("total_requests")
            if isinstance(total, int) and not isinstance(total, bool):
                # ours, without the cancelled requests summary.json counts for llmeter
                result.total_requests = total
        else:
            rebuilt = stats_from_responses(responses, slo=kwargs.get("slo"))
            result._stats = rebuilt.to_stats()
            result.total_requests = rebuilt.total_requests
            sends = [r.request_time for r in responses if r.request_time is not None]
            if sends:
                result.first_request_time, result.last_request_time = min(sends), max(sends)
                result.start_time = result.start_time or result.first_request_time
        if load_responses:
            result.responses = responses
        return result

    def load_responses(self) -> list[InvocationResponse]:
        """Read responses.jsonl from the result folder into `responses` (e.g. after low-memory)."""
        if not self.output_path:
            raise ValueError("This result has no output_path to read responses.jsonl from.")
        self.responses = list(iter_responses(Path(self.output_path) / "responses.jsonl"))
        return self.responses

    # -- reports and exports (reports.py) --------------------------------------------------------
    def _saved_responses(self) -> list[InvocationResponse]:
        """The responses in memory, or (a low-memory run, a stats-only load) read from the
        folder without keeping them."""
        if self.responses or not self.output_path:
            return self.responses
        path = Path(self.output_path) / "responses.jsonl"
        return list(iter_responses(path)) if path.exists() else []

    def plot(self) -> dict[str, Any]:
        """Plotly figures of the run, by name: "throughput", "latency" (TTFT/TTLT p50/p90),
        "load" (requests in flight), "errors" (failed per second, by class) over time, as the
        dashboard drew them (rebuilt from the responses), and "latency_histogram" and
        "latency_cdf" of TTFT and TTLT. In a notebook, `result.plot()["latency"]` draws one.

        Example (`runner`: a Runner of a simulated server):

            >>> import asyncio
            >>> figures = asyncio.run(runner.run(clients=2, n_requests=3)).plot()
            >>> [trace.name for trace in figures["latency"].data]
            ['TTFT p50', 'TTFT p90', 'TTLT p50', 'TTLT p90']
        """
        from . import reports

        return reports.run_figures(self._saved_responses())

    def to_html(self, path: str | os.PathLike | None = None) -> Path:
        """Write one self-contained HTML report of the run (settings, the grouped stats table,
        the charts, errors by class; plotly.js inlined once, so it opens offline) to `path`
        (default: report.html in the run's folder); returns its path."""
        from . import reports

        return reports.run_html(self, self._saved_responses(), path)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the responses as CSV, one row per response (no request body; annotations and
        inter_token_latencies as JSON text); returns the path. Needs only the standard library."""
        from . import reports

        return reports.write_csv(self._saved_responses(), path)

    def to_dataframe(self) -> Any:
        """The responses as a pandas DataFrame, the columns of `to_csv`.

        Raises:
            ImportError: pandas is not installed (`pip install pandas`).
        """
        from . import reports

        return reports.to_dataframe(self._saved_responses())

    def __repr__(self) -> str:
        return (
            f"Result(run_name={self.run_name!r}, status={self.status!r}, "
            f"total_requests={self.total_requests}, output_path={self.output_path!r})"
        )
