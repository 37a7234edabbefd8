"""Client sweeps: run the same load at 1, 2, 4, ... clients and find where the endpoint saturates.

`LoadTest` runs one Runner run per client count ("level"), each in its own folder:

    <output_path>/<test_name>/
        load_test.json        the sweep: sequence, settings, level folders and statuses, verdict
        1-clients/            a complete Runner run folder (summary.json, stats.json, ...)
        2-clients/
        ...

`LoadTestResult` holds one `Result` per level, a stats table, plotly figures, the knee (the
last client count before latency grows faster than throughput) and a one-line verdict. It
loads back from the test folder, also when the sweep was stopped or killed part-way.

Example: a sweep of 1, 2 and 4 clients sending 2 requests each (`run_duration=` for
time-bound levels), against `ep` and `payload` (an endpoint and a payload). In a notebook
cell: `result = await lt.run()`.

    >>> import asyncio
    >>> from llmeter_widget import LoadTest, LoadTestResult
    >>> lt = LoadTest(endpoint=ep, payload=payload, sequence_of_clients=[1, 2, 4],
    ...               n_requests=2, output_path="runs/sweep")
    >>> result = asyncio.run(lt.run())
    >>> result.status, {clients: level.stats["total_requests"]
    ...                 for clients, level in result.results.items()}
    ('completed', {1: 2, 2: 4, 4: 8})
    >>> sorted(LoadTestResult.load(result.output_path).results)
    [1, 2, 4]

Where it saturates, here for a saved sweep (`sweep_folder`) of a server that serves 2
requests at a time:

    >>> result = LoadTestResult.load(sweep_folder)
    >>> result.knee()
    2
    >>> print(result.verdict())
    Saturates at 2 clients: beyond it TTFT p90 grows 6.0x for 1.1x more output tokens/s (32 tok/s, TTFT p90 50 ms).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .callbacks import Callback
from .display import DEFAULT_GROUPS, DisplaySpec, LiveStats
from .endpoints.base import Endpoint, utc_now
from .events import LevelFinished, LevelStarted, SweepFinished, SweepStarted
from .metrics import comparison_keys
from .payloads import load_payloads
from .results import Result, new_folder, read_json, write_json
from .runner import Runner, check_bounds
from .tables import StatsTable

if TYPE_CHECKING:
    import plotly.graph_objects as go

logger = logging.getLogger(__name__)

MANIFEST = "load_test.json"
SWEEP_STATUSES = ("running", "completed", "stopped", "interrupted", "failed")

# stats_table() columns after "clients": the metric registry's comparison keys (metrics.py).
TABLE_KEYS: tuple[str, ...] = comparison_keys()

LevelHook = Callable[[int, Result], Any]

# How much faster than throughput TTFT p90 must grow, from one level to the next, to call it
# saturation. Not 1.0: below saturation a batching server's TTFT still grows with load (a new
# request waits for the step in progress, then its own prefill step), e.g. 20 -> 40 ms going
# from 1 to 2 clients while throughput grows 1.8x; past saturation requests queue for a slot,
# and TTFT grows 2-10x for ~1.0x more throughput. 1.5 sits between the two.
KNEE_TOLERANCE = 1.5


def level_folder_name(clients: int) -> str:
    """The folder of one level inside a load test's folder.

    Example:
        >>> level_folder_name(16)
        '16-clients'
    """
    return f"{clients}-clients"


# -- validation ----------------------------------------------------------------------------------
def _check_sequence(sequence_of_clients: Any) -> list[int]:
    if isinstance(sequence_of_clients, (str, bytes)) or not isinstance(sequence_of_clients, Sequence):
        raise ValueError(
            "sequence_of_clients must be a list of client counts, e.g. [1, 2, 4, 8, 16], "
            f"got {sequence_of_clients!r}."
        )
    if len(sequence_of_clients) == 0:
        raise ValueError("sequence_of_clients is empty: give at least one client count, e.g. [1, 2, 4].")
    for value in sequence_of_clients:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"sequence_of_clients must hold whole numbers >= 1, got {value!r} in "
                f"{list(sequence_of_clients)!r}."
            )
    duplicates = sorted({c for c in sequence_of_clients if list(sequence_of_clients).count(c) > 1})
    if duplicates:
        raise ValueError(
            f"sequence_of_clients repeats {duplicates}: each client count is one level "
            "(one folder, one result), so give each once."
        )
    return list(sequence_of_clients)


# -- the knee ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knee:
    """Where a sweep saturates; see `find_knee` for the definition.

    Attributes:
        clients: the knee's client count.
        saturated: True if a later level showed saturation; False if none did (the knee is then
            simply the last measured level).
        output_tps, ttft_p90: the knee level's figures.
        next_clients: the level after the knee (None when not saturated).
        tps_growth, ttft_growth: output_tps and TTFT p90 of next_clients divided by the knee's
            (when not saturated: of the last level divided by the first's). None when the next
            level served nothing.
    """

    clients: int
    saturated: bool
    output_tps: float
    ttft_p90: float
    next_clients: int | None = None
    tps_growth: float | None = None
    ttft_growth: float | None = None


def _measured(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value > 0


def find_knee(
    clients: Sequence[int],
    output_tps: Sequence[float | None],
    ttft_p90: Sequence[float | None],
    tolerance: float = KNEE_TOLERANCE,
) -> Knee | None:
    """The knee of a client sweep: the highest client count before latency outgrows throughput.

    Definition. Order the levels by client count. Going from level i to level i+1, let
    `tps_growth = output_tps[i+1] / output_tps[i]` and
    `ttft_growth = ttft_p90[i+1] / ttft_p90[i]`. The knee is the first level i with
    `ttft_growth > tolerance * tps_growth` (adding clients bought clearly more waiting than
    output), or whose next level served nothing (no output tokens or no TTFT: every request
    failed). If that never happens, the knee is the last level, with `saturated=False` ("no
    saturation seen up to N clients"). Returns None if the lowest level served nothing.

    `tolerance` (default `KNEE_TOLERANCE` = 1.5) keeps the TTFT growth a batching server shows
    well below saturation (a new request waits for the step in progress) from being read as
    saturation; `tolerance=1.0` is the bare rule "TTFT grows faster than throughput".

    Example:
        >>> knee = find_knee([1, 2, 4, 8], [100, 195, 380, 390], [0.10, 0.11, 0.12, 0.50])
        >>> knee.clients, knee.saturated, round(knee.ttft_growth, 2), round(knee.tps_growth, 2)
        (4, True, 4.17, 1.03)
        >>> find_knee([1, 2], [100, 200], [0.1, 0.1]).saturated
        False
        >>> find_knee([1, 2], [100, 180], [0.02, 0.036]).clients      # 1.8x vs 1.8x: not yet
        2
        >>> find_knee([1, 2], [100, 180], [0.02, 0.036], tolerance=1.0).clients
        2
        >>> find_knee([1, 2], [100, 150], [0.02, 0.036], tolerance=1.0).clients
        1
    """
    if not (isinstance(tolerance, (int, float)) and tolerance >= 1):
        raise ValueError(f"tolerance must be a number >= 1, got {tolerance!r}.")
    if not (len(clients) == len(output_tps) == len(ttft_p90)):
        raise ValueError("clients, output_tps and ttft_p90 must have one value per level each.")
    levels = sorted(zip(clients, output_tps, ttft_p90), key=lambda level: level[0])
    if not levels or not (_measured(levels[0][1]) and _measured(levels[0][2])):
        return None
    for (c, tps, ttft), (c_next, tps_next, ttft_next) in zip(levels, levels[1:]):
        if not (_measured(tps_next) and _measured(ttft_next)):
            return Knee(c, True, tps, ttft, next_clients=c_next)
        tps_growth, ttft_growth = tps_next / tps, ttft_next / ttft
        if ttft_growth > tolerance * tps_growth:
            return Knee(c, True, tps, ttft, c_next, tps_growth, ttft_growth)
    first, last = levels[0], levels[-1]
    return Knee(last[0], False, last[1], last[2], None, last[1] / first[1], last[2] / first[2])


def _clients_text(n: int) -> str:
    return f"{n} client" if n == 1 else f"{n} clients"


def _seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def knee_verdict(knee: Knee | None, first_clients: int | None = None) -> str:
    """One line that says where (or whether) the sweep saturates.

    Example:
        >>> knee_verdict(find_knee([1, 2, 4, 8], [100, 195, 380, 390], [0.1, 0.11, 0.12, 0.5]))
        'Saturates at 4 clients: beyond it TTFT p90 grows 4.2x for 1.0x more output tokens/s (380 tok/s, TTFT p90 0.12 s).'
    """
    if knee is None:
        return "No verdict: the lowest level served no request (check the endpoint and the errors)."
    at = f"{knee.output_tps:,.0f} tok/s, TTFT p90 {_seconds_text(knee.ttft_p90)}"
    if knee.saturated and knee.ttft_growth is None:
        return (f"Saturates at {_clients_text(knee.clients)}: at {_clients_text(knee.next_clients)} "
                f"no request succeeded ({at}).")
    if knee.saturated:
        # past saturation throughput may also fall a little ("1.0x the output" read oddly)
        tps = (f"for {knee.tps_growth:.1f}x more output tokens/s" if knee.tps_growth >= 1 else
               f"while output tokens/s falls to {knee.tps_growth:.2f}x")
        return (f"Saturates at {_clients_text(knee.clients)}: beyond it TTFT p90 grows "
                f"{knee.ttft_growth:.1f}x {tps} ({at}).")
    line = f"No saturation seen up to {_clients_text(knee.clients)}"
    if first_clients is not None and first_clients != knee.clients:
        line += (f": from {_clients_text(first_clients)}, output tokens/s grew {knee.tps_growth:.1f}x "
                 f"while TTFT p90 grew {knee.ttft_growth:.1f}x")
    return f"{line} ({at})."


# -- the result of a sweep -----------------------------------------------------------------------
@dataclass
class LoadTestResult:
    """The outcome of a client sweep: one `Result` per client count, and what they show.

    Attributes:
        results: the levels that ran (or that loaded), by client count, in the order they ran.
        sequence_of_clients: the levels asked for; `missing` lists those with no result.
        status: "completed", "stopped" (LoadTest.stop()), "interrupted", "failed", or
            "running" while it goes on.
        output_path: the test's folder (None for an in-memory sweep).

    Example: a saved sweep of 1, 2 and 4 clients (`sweep_folder`, e.g.
    "runs/sweep/20260101-120000") of a server that serves 2 requests at a time.

        >>> result = LoadTestResult.load(sweep_folder)
        >>> [row["clients"] for row in result.stats_table()], result.knee()
        ([1, 2, 4], 2)
        >>> figure = result.plot_results()["latency_throughput"]  # figure.show() draws it
        >>> figure.layout.title.text
        'Latency against throughput (labels: clients)'
    """

    test_name: str
    sequence_of_clients: list[int]
    results: dict[int, Result] = field(default_factory=dict)
    output_path: str | None = None
    status: str = "running"
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    start_time: datetime | None = None
    end_time: datetime | None = None

    # -- what was measured -----------------------------------------------------------------------
    @property
    def missing(self) -> list[int]:
        """Client counts asked for that have no result (not run, or cut short before saving)."""
        return [c for c in self.sequence_of_clients if c not in self.results]

    def stats_table(self) -> StatsTable:
        """One row per level, by client count: `clients` and the `TABLE_KEYS` stats.

        A list of dicts (raw numbers) that shows itself as a table with units, and gives a
        pandas DataFrame with `.to_dataframe()` when pandas is installed (tables.py).

        Example (`sweep_folder`: a saved sweep of 1, 2 and 4 clients):

            >>> result = LoadTestResult.load(sweep_folder)
            >>> first = result.stats_table()[0]
            >>> list(first)  # doctest: +NORMALIZE_WHITESPACE
            ['clients', 'requests_per_minute', 'output_tps', 'time_to_first_token-p50',
             'time_to_first_token-p90', 'time_to_first_token-p99', 'time_to_last_token-p50',
             'time_to_last_token-p90', 'failed_requests_rate']
            >>> first["clients"], first["failed_requests_rate"]
            (1, 0.0)
        """
        rows = StatsTable()
        for clients in sorted(self.results):
            stats = self.results[clients].stats
            rows.append({"clients": clients, **{key: stats.get(key) for key in TABLE_KEYS}})
        return rows

    def _column(self, key: str) -> list[Any]:
        return [row[key] for row in self.stats_table()]

    def knee_details(self, tolerance: float = KNEE_TOLERANCE) -> Knee | None:
        """The knee with the figures behind it (see `find_knee` for the definition)."""
        return find_knee(self._column("clients"), self._column("output_tps"),
                         self._column("time_to_first_token-p90"), tolerance)

    def saturated_knee(self, tolerance: float = KNEE_TOLERANCE) -> Knee | None:
        """The knee, only where the sweep saturates: the level charts and reports ring. With
        no saturation seen (mid-sweep, or a server that kept up) the last level is no knee."""
        knee = self.knee_details(tolerance)
        return knee if knee is not None and knee.saturated else None

    def knee(self, tolerance: float = KNEE_TOLERANCE) -> int | None:
        """The highest client count before TTFT p90 grows faster than output tokens/s.

        Going from level i to the next (by client count), if TTFT p90 grows by a factor more
        than `tolerance` (1.5) times output_tps's growth factor, or the next level served
        nothing, level i is the knee; if that never happens, the last level is (no saturation
        seen). None if the lowest level served nothing. See `find_knee`.

        Example: a saved sweep of 1, 2 and 4 clients (`sweep_folder`) of a server that
        serves 2 requests at a time: at 4 clients, half the requests wait in its queue.

            >>> result = LoadTestResult.load(sweep_folder)
            >>> result.knee()
            2
        """
        knee = self.knee_details()
        return knee.clients if knee else None

    def verdict(self, tolerance: float = KNEE_TOLERANCE) -> str:
        """One line: where the endpoint saturates, with the throughput and TTFT p90 there.

        Example (`sweep_folder`: a saved sweep of 1, 2 and 4 clients of a server that serves
        2 requests at a time):

            >>> result = LoadTestResult.load(sweep_folder)
            >>> print(result.verdict())  # doctest: +NORMALIZE_WHITESPACE
            Saturates at 2 clients: beyond it TTFT p90 grows 6.0x for 1.1x more output tokens/s
            (32 tok/s, TTFT p90 50 ms).
        """
        clients = sorted(self.results)
        line = knee_verdict(self.knee_details(tolerance), clients[0] if clients else None)
        if self.missing:
            line += (f" Sweep {self.status}: no result for "
                     f"{', '.join(str(c) for c in self.missing)} clients.")
        return line

    # -- figures ---------------------------------------------------------------------------------
    def plot_results(self) -> dict[str, go.Figure]:
        """Plotly figures, one point per level, by name.

        - "requests_per_minute", "output_tps", "error_rate": against clients;
        - "time_to_first_token" (p50, p90, p99) and "time_to_last_token" (p50, p90): against
          clients;
        - "latency_throughput": output tokens/s (x) against TTFT p90 (y), each point labelled
          with its client count, the knee marked: where the curve turns up, the endpoint
          saturates.

        Client axes are logarithmic, ticked at the client counts.

        Example (`sweep_folder`: a saved sweep); in a notebook, `figures["output_tps"]` at the
        end of a cell (or `.show()`) draws one:

            >>> figures = LoadTestResult.load(sweep_folder).plot_results()
            >>> sorted(figures)  # doctest: +NORMALIZE_WHITESPACE
            ['error_rate', 'latency_throughput', 'output_tps', 'requests_per_minute',
             'time_to_first_token', 'time_to_last_token']
            >>> [trace.name for trace in figures["time_to_first_token"].data]
            ['TTFT p50', 'TTFT p90', 'TTFT p99']
        """
        import plotly.graph_objects as go

        clients = self._column("clients")

        def against_clients(title: str, y_title: str, lines: dict[str, str]) -> go.Figure:
            fig = go.Figure()
            for name, key in lines.items():
                fig.add_trace(go.Scatter(x=clients, y=self._column(key), name=name,
                                         mode="lines+markers"))
            fig.update_layout(title=title, yaxis_title=y_title, showlegend=len(lines) > 1)
            fig.update_xaxes(title="clients", type="log", tickvals=clients,
                             ticktext=[str(c) for c in clients])
            return fig

        figures = {
            "requests_per_minute": against_clients(
                "Requests per minute", "requests/min", {"requests/min": "requests_per_minute"}),
            "output_tps": against_clients(
                "Output tokens per second", "tokens/s", {"output tok/s": "output_tps"}),
            "time_to_first_token": against_clients(
                "Time to first token", "seconds",
                {f"TTFT {p}": f"time_to_first_token-{p}" for p in ("p50", "p90", "p99")}),
            "time_to_last_token": against_clients(
                "Time to last token", "seconds",
                {f"TTLT {p}": f"time_to_last_token-{p}" for p in ("p50", "p90")}),
            "error_rate": against_clients(
                "Failed requests", "share of requests", {"failed": "failed_requests_rate"}),
        }
        figures["error_rate"].update_yaxes(tickformat=".0%", rangemode="tozero")
        figures["latency_throughput"] = self._latency_throughput_figure(clients)
        return figures

    def _latency_throughput_figure(self, clients: list[int]) -> go.Figure:
        import plotly.graph_objects as go

        x, y = self._column("output_tps"), self._column("time_to_first_token-p90")
        knee = self.saturated_knee()
        # The knee is named in its own point's label (an arrow and a text box beside it landed
        # on the next level's label).
        saturated_at = knee.clients if knee is not None else None
        fig = go.Figure(go.Scatter(
            x=x, y=y, mode="lines+markers+text", customdata=clients, name="levels",
            text=[f"{c} (knee)" if c == saturated_at else str(c) for c in clients],
            textposition="top left", cliponaxis=False,  # a label at the edge stays whole
            hovertemplate="%{customdata} clients<br>%{x:,.0f} tok/s<br>TTFT p90 %{y:.3f} s"
                          "<extra></extra>",
        ))
        if saturated_at is not None:
            fig.add_trace(go.Scatter(
                x=[knee.output_tps], y=[knee.ttft_p90], mode="markers", name="knee",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 3}},
                hoverinfo="skip"))
        # room for the labels above and left of the points
        xs = [v for v in x if isinstance(v, (int, float))]
        ys = [v for v in y if isinstance(v, (int, float))]
        if xs and ys:
            fig.update_xaxes(range=[-0.12 * max(xs), 1.08 * max(xs)])
            fig.update_yaxes(range=[0, 1.15 * max(ys)])
        fig.update_layout(title="Latency against throughput (labels: clients)",
                          xaxis_title="output tokens/s", yaxis_title="TTFT p90 (s)",
                          showlegend=False)
        return fig

    def to_html(self, path: str | os.PathLike | None = None) -> Path:
        """Write one self-contained HTML report of the sweep (settings, the verdict and the knee,
        the per-level table, the comparison charts of `plot_results`, errors by class per level;
        plotly.js inlined once, so it opens offline) to `path` (default: report.html in the
        sweep's folder); returns its path.

        Example (`sweep_folder`: a saved sweep):

            >>> path = LoadTestResult.load(sweep_folder).to_html("sweep.html")
            >>> path.name, "Saturates at 2 clients" in path.read_text()
            ('sweep.html', True)
        """
        from . import reports

        return reports.sweep_html(self, path)

    # -- saving and loading ----------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """What load_test.json holds: the sweep's settings, its levels and how it ended."""
        levels = []
        for clients in self.sequence_of_clients:
            level = self.results.get(clients)
            levels.append({
                "clients": clients,
                "folder": level_folder_name(clients),
                "status": level.status if level is not None else "not run",
            })
        done = self.status != "running"
        return {
            "test_name": self.test_name,
            "sequence_of_clients": self.sequence_of_clients,
            **self.settings,
            "levels": levels,
            "status": self.status,
            "error": self.error,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "knee": self.knee() if done else None,
            "verdict": self.verdict() if done else None,
        }

    def save(self) -> Path | None:
        """Write `load_test.json` in the test's folder (the levels save themselves)."""
        if self.output_path is None:
            return None
        path = Path(self.output_path) / MANIFEST
        write_json(path, self.manifest())
        return path

    @classmethod
    def load(cls, test_path: str | os.PathLike, load_responses: bool = False) -> LoadTestResult:
        """Load a sweep's folder: every level that was saved, also from a sweep cut short.

        Levels come from load_test.json (or, if it is missing, from the `<N>-clients` folders);
        a level whose folder is missing or empty is left out and listed in `missing`. A sweep
        whose load_test.json still says "running" was killed: its status is "interrupted".

        Args:
            test_path: the test's folder, `<output_path>/<test_name>`.
            load_responses: also read every response into memory (stats never need them).

        Example (`sweep_folder`: a saved sweep of 1, 2 and 4 clients, e.g.
        "runs/sweep/20260101-120000"); a sweep stopped after 2 clients would give
        `('stopped', [1, 2], [4])`:

            >>> result = LoadTestResult.load(sweep_folder)
            >>> result.status, sorted(result.results), result.missing
            ('completed', [1, 2, 4], [])
        """
        folder = Path(test_path)
        if not folder.is_dir():
            raise FileNotFoundError(f"No load test folder at {folder}: check the path.")
        manifest = _read_manifest(folder)
        scanned = _scan_levels(folder)
        sequence = _manifest_sequence(manifest) if manifest else list(scanned)
        if not sequence:
            raise FileNotFoundError(
                f"{folder} holds no load test: expected {MANIFEST} or <N>-clients folders."
            )
        status = (manifest or {}).get("status")
        if manifest is not None and (status not in SWEEP_STATUSES or status == "running"):
            status = "interrupted"
        manifest = manifest or {}
        settings = {k: manifest[k] for k in _SETTING_KEYS if k in manifest}
        result = cls(
            test_name=manifest.get("test_name") or folder.name,
            sequence_of_clients=sequence, output_path=str(folder), status=status,
            error=manifest.get("error"), settings=settings,
            start_time=_parse_time(manifest.get("start_time")),
            end_time=_parse_time(manifest.get("end_time")),
        )
        for clients in sequence:
            level_folder = scanned.get(clients, folder / level_folder_name(clients))
            level = _load_level(level_folder, load_responses)
            if level is not None:
                result.results[clients] = level
        if status is None:  # no load_test.json (e.g. llmeter's): judge by the levels themselves
            done = result.results and all(r.status == "completed" for r in result.results.values())
            result.status = "completed" if done else "interrupted"
        if result.missing:
            logger.warning("%s: no result for %s clients (the sweep was %s).", folder,
                           ", ".join(map(str, result.missing)), result.status)
        return result

    def __repr__(self) -> str:
        return (f"LoadTestResult(test_name={self.test_name!r}, status={self.status!r}, "
                f"levels={sorted(self.results)}, missing={self.missing}, "
                f"output_path={self.output_path!r})")


_SETTING_KEYS = ("run_duration", "n_requests", "low_memory", "run_description", "model_id",
                 "endpoint", "callbacks")


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring %s: not valid JSON (%s); looking for level folders.", path, exc)
        return None
    return data if isinstance(data, dict) else None


def _manifest_sequence(manifest: dict[str, Any]) -> list[int]:
    sequence = manifest.get("sequence_of_clients")
    if isinstance(sequence, list) and all(isinstance(c, int) and c >= 1 for c in sequence):
        return sequence
    return []


def _scan_levels(folder: Path) -> dict[int, Path]:
    """The `<N>-clients` folders of a sweep: ours ("16-clients") or llmeter's ("00016-clients")."""
    found = {}
    for child in folder.iterdir():
        head, _, tail = child.name.partition("-")
        if child.is_dir() and tail == "clients" and head.isdigit() and int(head) >= 1:
            found[int(head)] = child
    return dict(sorted(found.items()))


def _load_level(folder: Path, load_responses: bool) -> Result | None:
    if not folder.is_dir():
        return None
    try:
        return Result.load(folder, load_responses=load_responses)
    except FileNotFoundError:
        return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# -- the sweep -----------------------------------------------------------------------------------
class LoadTest:
    """Runs the same load at each client count of `sequence_of_clients`, one level after another.

    Each level is a complete Runner run in `<output_path>/<test_name>/<clients>-clients/`;
    `load_test.json` in the test's folder describes the sweep and is updated after each level.

    Args:
        endpoint: what to call (e.g. an `OpenAIChatEndpoint`).
        payload: a dict, a list of dicts or a .jsonl/.json path, as for `Runner`.
        sequence_of_clients: the client counts, run in this order (whole numbers >= 1, each once).
        run_duration: seconds (or a timedelta) each level sends for; or
        n_requests: requests per client at each level (mutually exclusive with run_duration;
            with neither, each client sends each payload once).
        output_path: the folder under which the test's folder goes; None keeps it in memory.
        test_name: the test folder's name (default: a timestamp; "-2", "-3"... if taken).
        low_memory, callbacks, run_description: passed to every level's run.
        on_level: called as `on_level(clients, result)` after each level (sync or async).
        live_view: each level's live view, as `Runner(live_view=...)`.
        live_stats, groups: what each level's live view shows, as for `Runner` (checked here,
            before anything runs).
        runner: run the levels through this Runner (e.g. a Dashboard's, so its live view
            follows every level) instead of a new one; `endpoint` should be its endpoint, and
            `live_view` is then ignored (the runner's own setting applies).

    The sweep is announced to the runner's listeners (events.py): SweepStarted first; for each
    level, LevelStarted before its run's events, LevelFinished after them (also when the level
    failed); SweepFinished last, however the sweep ended.

    Example: 1 then 2 clients, 2 requests each, against `ep` with `payload` (an endpoint and
    a payload); in a notebook cell, `result = await lt.run()`.

        >>> import asyncio
        >>> from pathlib import Path
        >>> lt = LoadTest(endpoint=ep, payload=payload, sequence_of_clients=[1, 2],
        ...               n_requests=2, low_memory=True, output_path="runs/sweep",
        ...               test_name="first")
        >>> result = asyncio.run(lt.run())
        >>> result.output_path
        'runs/sweep/first'
        >>> sorted(path.name for path in Path(result.output_path).iterdir())
        ['1-clients', '2-clients', 'load_test.json']
        >>> {clients: level.stats["total_requests"] for clients, level in result.results.items()}
        {1: 2, 2: 4}
    """

    def __init__(
        self,
        endpoint: Endpoint,
        payload: Any,
        sequence_of_clients: Sequence[int],
        *,
        run_duration: float | timedelta | None = None,
        n_requests: int | None = None,
        output_path: str | os.PathLike | None = None,
        test_name: str | None = None,
        low_memory: bool = False,
        callbacks: list[Callback] | None = None,
        run_description: str | None = None,
        on_level: LevelHook | None = None,
        live_view: bool | None = None,
        live_stats: LiveStats | DisplaySpec | None = None,
        groups: Any = DEFAULT_GROUPS,
        runner: Runner | None = None,
    ) -> None:
        self.sequence_of_clients = _check_sequence(sequence_of_clients)
        self.run_duration = check_bounds(n_requests, run_duration)
        self.n_requests = n_requests
        if low_memory and output_path is None:
            raise ValueError("low_memory=True keeps responses on disk only, so it needs output_path=.")
        if test_name is not None and (not isinstance(test_name, str) or not test_name.strip()
                                      or os.sep in test_name or test_name in (".", "..")):
            raise ValueError(f"test_name must be a folder name (no {os.sep}), got {test_name!r}.")
        self.endpoint = endpoint
        self.payload = load_payloads(payload)
        self.output_path = output_path
        self.test_name = test_name
        self.low_memory = bool(low_memory)
        self.callbacks = list(callbacks or [])
        self.run_description = run_description
        self.on_level = on_level
        # Checked now (unknown keys, bad groups), so a typo fails before the first level.
        display = DisplaySpec.from_live_stats(live_stats, groups, self.callbacks)
        # A given runner keeps its own view unless live_stats or groups were given here.
        self.display = display if runner is None or live_stats is not None \
            or groups is not DEFAULT_GROUPS else None
        self.runner = runner if runner is not None else Runner(endpoint, self.payload,
                                                               live_view=live_view)
        self.result: LoadTestResult | None = None
        self.current_clients: int | None = None
        self._stopped = False
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def stop(self) -> None:
        """Stop the current level now and skip the rest; the result is marked "stopped".

        What was measured is kept: the stopped level is saved (status "stopped"), and so is
        load_test.json.
        """
        if self._running:
            self._stopped = True
            self.runner.stop()

    def _settings_record(self) -> dict[str, Any]:
        return {
            "run_duration": self.run_duration,
            "n_requests": self.n_requests,
            "low_memory": self.low_memory,
            "run_description": self.run_description,
            "model_id": self.endpoint.model_id,
            "endpoint": self.endpoint.to_config() if hasattr(self.endpoint, "to_config") else None,
            "callbacks": [cb.to_config() for cb in self.callbacks],
        }

    async def run(self) -> LoadTestResult:
        """Run every level in turn and return the `LoadTestResult` (also in `self.result`).

        Raises what a level raises (e.g. `MisconfiguredEndpoint` when the first requests all
        fail): the sweep is then saved with status "failed", and `self.result` holds what ran.
        """
        if self._running:
            raise RuntimeError("This load test is already running: stop() it or await it first.")
        self._running, self._stopped = True, False
        name = self.test_name or datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = new_folder(self.output_path, name) if self.output_path is not None else None
        result = self.result = LoadTestResult(
            test_name=folder.name if folder else name,
            sequence_of_clients=list(self.sequence_of_clients),
            output_path=str(folder) if folder else None,
            settings=self._settings_record(), start_time=utc_now(),
        )
        try:
            self.runner.emit(SweepStarted(result.test_name, tuple(self.sequence_of_clients),
                                          result.output_path))
            result.save()
            await self._run_levels(result, folder)
            result.status = "stopped" if self._stopped else "completed"
        except asyncio.CancelledError:
            result.status, result.error = "interrupted", "the load test was interrupted"
            raise
        except BaseException as exc:
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._running, self.current_clients = False, None
            result.end_time = utc_now()
            try:
                result.save()
            finally:  # heard last, once load_test.json says how the sweep ended
                self.runner.emit(SweepFinished(result.test_name, result))
        return result

    async def _run_levels(self, result: LoadTestResult, folder: Path | None) -> None:
        levels = tuple(self.sequence_of_clients)
        for index, clients in enumerate(levels):
            if self._stopped:
                return
            self.current_clients = clients
            self.runner.emit(LevelStarted(result.test_name, clients, index, levels))
            try:
                level = await self.runner.run(
                    clients=clients, run_duration=self.run_duration, n_requests=self.n_requests,
                    output_path=folder, run_name=level_folder_name(clients),
                    run_description=self.run_description, callbacks=self.callbacks,
                    low_memory=self.low_memory, live_stats=self.display,
                )
                result.results[clients] = level
            except BaseException:
                partial = self.runner.last_result  # a failed level is saved: keep it
                if partial is not None and partial.clients == clients:
                    result.results[clients] = partial
                raise
            finally:
                self.runner.emit(LevelFinished(result.test_name, clients, index, levels,
                                               result.results.get(clients)))
            result.save()
            await self._call_on_level(clients, level)

    async def _call_on_level(self, clients: int, level: Result) -> None:
        if self.on_level is None:
            return
        outcome = self.on_level(clients, level)
        if inspect.isawaitable(outcome):
            await outcome
