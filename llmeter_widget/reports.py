"""Reports and exports of a finished run or sweep: plotly figures, one HTML file, response tables.

What the dashboard showed live, kept for the record and for people who were not in the room:

- `run_figures(responses)`: a run's charts over time (`Result.plot()`). The per-second series
  is rebuilt from the saved responses by `stats_from_responses`, as the dashboard's overlays do:
  the same buckets the live charts drew (rates over the last few seconds, TTFT/TTLT p50/p90 over
  the last 10 s), relative to the first send; plus the errors by class per second and the
  distribution (histogram and CDF) of TTFT and TTLT. Every label and unit comes from the
  metric registry (metrics.py).
- `run_html(...)` / `sweep_html(...)`: one self-contained HTML file (`Result.to_html`,
  `LoadTestResult.to_html`, `llmeter-widget report`). plotly.js is inlined once, in the head
  (`plotly.offline.get_plotlyjs()`, ~4.8 MB: the price of a file that opens offline and loads
  nothing from a CDN); each figure is a div drawn with `include_plotlyjs=False`. The grouped
  table is the live table's (`DisplaySpec`, `format_value`), so a number reads as it did in the
  dashboard. Every string that came from a user (names, description, model, URL, errors) is
  escaped; the endpoint is shown from a list of harmless fields, and its URL without any
  user:password, query or fragment, so a report can be shared without leaking a secret.
- `response_rows` / `write_csv` / `to_dataframe`: one row per response, the
  `InvocationResponse` fields flattened (no `input_payload`; `annotations` and
  `inter_token_latencies` as JSON text). CSV needs only the standard library; the DataFrame
  needs pandas, which is not a dependency.

This module works on the objects `Result` and `LoadTestResult` pass it and imports neither:
they call in here, and the package has no import cycle (tests/test_architecture.py).
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .display import DisplaySpec, format_value
from .endpoints.base import InvocationResponse, datetime_to_str
from .metrics import metric, unit_of
from .stats import stats_from_responses
from .tables import column_title

if TYPE_CHECKING:
    import plotly.graph_objects as go

# The distributions the report draws, as the registry names them.
LATENCY_METRICS = ("time_to_first_token", "time_to_last_token")
# The dashboard's palette (js/theme.js, light): brand blue, orange, green, purple, red.
COLORS = ("#1976d2", "#e65100", "#2e7d32", "#8e24aa", "#c62828")
# Error classes: red first (the dashboard's failures), then warm and dark tones, never the brand.
ERROR_COLORS = ("#c62828", "#ef6c00", "#8e24aa", "#6d4c41", "#ad1457", "#f9a825", "#455a64")
SERIES_X_TITLE = "seconds since the first request"
# Endpoint settings a report shows: never a key, a header value or anything not listed here.
ENDPOINT_FIELDS = ("endpoint_type", "base_url", "model_id", "provider", "stream", "timeout")
CHART_HEIGHT = 300
# The distributions' size, whatever the number of requests.
HISTOGRAM_BINS = 60
CDF_POINTS = 1000

# One row per response: every InvocationResponse field but the request body.
EXPORT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(InvocationResponse)
                                       if f.name != "input_payload")
_JSON_FIELDS = ("annotations", "inter_token_latencies")


# -- figures of one run --------------------------------------------------------------------------
def _layout(fig: go.Figure, title: str, y_title: str, x_title: str = SERIES_X_TITLE) -> go.Figure:
    # The title on top, the legend in rows under it (above the plot), as the dashboard does.
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        template="plotly_white", height=CHART_HEIGHT + 40, hovermode="x unified",
        margin={"l": 56, "r": 56, "t": 100, "b": 48},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        xaxis_title=x_title, yaxis_title=y_title,
    )
    fig.update_yaxes(rangemode="tozero")
    return fig


def _seconds_axis(unit: str) -> dict[str, Any]:
    """An axis of seconds ticked as the table reads them ("80ms", "1.5s"); others as they are."""
    return {"tickformat": "~s", "ticksuffix": unit, "hoverformat": ".4~s"} if unit == "s" else {}


def _latency_values(responses: list[InvocationResponse], key: str) -> list[float]:
    """A per-request metric's values as the stats count them: every response that carries one,
    the cancelled ones left out (see RunningStats.update)."""
    source = metric(key).source or key
    return [value for r in responses if r.error_type != "cancelled"
            for value in [getattr(r, source, None)] if value is not None]


def run_figures(responses: Iterable[InvocationResponse]) -> dict[str, go.Figure]:
    """Plotly figures of one run, by name (see `Result.plot`)."""
    import plotly.graph_objects as go

    responses = list(responses)
    rebuilt = stats_from_responses(responses)
    series = rebuilt.series(0) if any(r.t_send is not None for r in responses) else []
    x = [b["t"] for b in series]
    figures: dict[str, go.Figure] = {}

    rpm, tps = metric("requests_per_minute"), metric("output_tps")
    fig = go.Figure([
        go.Scatter(x=x, y=[b.get("requests_per_minute") for b in series], name=rpm.label,
                   mode="lines", line={"color": COLORS[0], "width": 2.5}),
        go.Scatter(x=x, y=[b.get("output_tps") for b in series], name=tps.label, mode="lines",
                   yaxis="y2", fill="tozeroy", line={"color": COLORS[1], "width": 0},
                   fillcolor="rgba(230,81,0,0.22)"),
    ])
    _layout(fig, f"Throughput (last {rebuilt.rate_window} s)", rpm.unit)
    fig.update_layout(yaxis2={"title": tps.unit, "overlaying": "y", "side": "right",
                              "rangemode": "tozero", "showgrid": False, "tickmode": "auto"})
    figures["throughput"] = fig

    fig = go.Figure()
    for index, key in enumerate(LATENCY_METRICS):
        m = metric(key)
        short = m.short or key
        for aggregation, dash in (("p50", None), ("p90", "dot")):
            fig.add_trace(go.Scatter(
                x=x, y=[b.get(f"{short}_{aggregation}") for b in series],
                name=f"{m.label} {aggregation}", mode="lines", connectgaps=False,
                line={"color": COLORS[index], "dash": dash, "width": 2.5}))
    unit = metric(LATENCY_METRICS[0]).unit
    _layout(fig, f"Latency (last {rebuilt.window:g} s)", unit)
    fig.update_yaxes(**_seconds_axis(unit))
    figures["latency"] = fig

    # A saved run does not record its active clients per second: the rebuilt series holds the
    # requests in flight for both (stats_from_responses), so one line shows it.
    fig = go.Figure(go.Scatter(x=x, y=[b.get("in_flight") for b in series], name="In flight",
                               mode="lines", line={"color": COLORS[2], "width": 2.5}))
    _layout(fig, "Requests in flight", "requests")
    figures["load"] = fig

    failed = metric("failed_requests")
    by_class = errors_per_second(responses, rebuilt.start, len(series))
    fig = go.Figure()
    for index, (error_class, counts) in enumerate(sorted(by_class.items())):
        fig.add_trace(go.Bar(x=x, y=counts, name=error_class,
                             marker_color=ERROR_COLORS[index % len(ERROR_COLORS)]))
    if not by_class:  # nothing failed: a flat line at 0 says so
        fig.add_trace(go.Scatter(x=x, y=[b.get("failed", 0) for b in series], name=failed.label,
                                 mode="lines", line={"color": COLORS[4], "width": 2.5}))
    _layout(fig, f"{failed.label} requests per second, by error class", "requests / s")
    fig.update_layout(barmode="stack")
    figures["errors"] = fig

    values = {key: _latency_values(responses, key) for key in LATENCY_METRICS}
    centres, width, counts = histogram(values)
    fig = go.Figure([
        go.Bar(x=centres, y=counts[key], width=width, name=metric(key).label, opacity=0.6,
               marker_color=COLORS[index])
        for index, key in enumerate(LATENCY_METRICS)
    ])
    _layout(fig, "Latency distribution", "requests", x_title=unit)
    fig.update_layout(barmode="overlay", hovermode="closest")
    fig.update_xaxes(**_seconds_axis(unit))
    figures["latency_histogram"] = fig

    fig = go.Figure()
    for index, key in enumerate(LATENCY_METRICS):
        xs, ys = cdf_points(sorted(values[key]))
        fig.add_trace(go.Scatter(x=xs, y=ys, name=metric(key).label, mode="lines",
                                 line={"shape": "hv", "color": COLORS[index]}))
    _layout(fig, "Latency CDF: share of requests at or below", "share of requests",
            x_title=unit)
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(**_seconds_axis(unit))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    figures["latency_cdf"] = fig
    return figures


def histogram(values: Mapping[str, list[float]], bins: int = HISTOGRAM_BINS
              ) -> tuple[list[float], float, dict[str, list[int]]]:
    """Each list's counts in the same `bins` equal bins, lowest value to highest: (bin centres,
    bin width, {name: counts}). Binned here rather than by plotly.js from every value, so a
    figure (and a report) does not grow with the number of requests.

    Example:
        >>> histogram({"a": [0.0, 1.0, 2.0, 3.0], "b": [3.0]}, bins=2)
        ([0.75, 2.25], 1.5, {'a': [2, 2], 'b': [0, 1]})
    """
    every = [v for vs in values.values() for v in vs]
    if not every:
        return [], 0.0, {name: [] for name in values}
    low, high = min(every), max(every)
    if high == low:  # one value: one bar
        return [low], max(abs(low) * 0.02, 1e-6), {name: [len(vs)] for name, vs in values.items()}
    width = (high - low) / bins
    counts = {name: [0] * bins for name in values}
    for name, vs in values.items():
        for v in vs:
            counts[name][min(int((v - low) / width), bins - 1)] += 1
    return [low + (i + 0.5) * width for i in range(bins)], width, counts


def cdf_points(ordered: list[float], limit: int = CDF_POINTS) -> tuple[list[float], list[float]]:
    """The empirical CDF of sorted values: (value, share of values at or below it), every value
    up to `limit` of them, else `limit` evenly spaced ranks (the first and the last kept).

    Example:
        >>> cdf_points([1.0, 2.0, 3.0, 4.0, 5.0]), cdf_points([1.0, 2.0, 3.0, 4.0, 5.0], limit=3)
        (([1.0, 2.0, 3.0, 4.0, 5.0], [0.2, 0.4, 0.6, 0.8, 1.0]), ([1.0, 3.0, 5.0], [0.2, 0.6, 1.0]))
    """
    n = len(ordered)
    ranks = range(n) if n <= limit else sorted({round(k * (n - 1) / (limit - 1))
                                                for k in range(limit)})
    return [ordered[i] for i in ranks], [(i + 1) / n for i in ranks]


def errors_per_second(responses: Iterable[InvocationResponse], start: float,
                      seconds: int) -> dict[str, list[int]]:
    """Failed requests per second of the run, by error class: {class: [count per second]}.

    A request counts in the second it ended, relative to `start` (the series' first send), as
    the series' `failed` does; cancelled and untimed responses are left out.
    """
    counts: dict[str, Counter[int]] = {}
    for r in responses:
        if r.ok or r.error_type == "cancelled" or r.t_end is None:
            continue
        second = int(math.floor(r.t_end - start))
        if 0 <= second < seconds:
            counts.setdefault(r.error_type or "unknown", Counter())[second] += 1
    return {kind: [c[i] for i in range(seconds)] for kind, c in counts.items()}


# -- HTML ----------------------------------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return value if isinstance(value, str) else None


def safe_url(url: Any) -> str | None:
    """A URL to show: scheme, host, port and path only (no user:password, query or fragment).

    Example:
        >>> safe_url("https://me:hunter2@api.example.com:8443/v1?key=abc#x")
        'https://api.example.com:8443/v1'
    """
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _endpoint_text(endpoint: Any) -> str | None:
    if not isinstance(endpoint, Mapping):
        return None
    kind = endpoint.get("endpoint_type")
    url = safe_url(endpoint.get("base_url"))
    text = " ".join(str(p) for p in (kind, url) if p)
    if endpoint.get("stream") is False:
        text += " (not streaming)"
    return text or None


def _read_config(folder: str | os.PathLike | None) -> dict[str, Any]:
    """run_config.json of a run's folder ({} if there is none or it does not read)."""
    if not folder:
        return {}
    try:
        with (Path(folder) / "run_config.json").open(encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _bound_rows(run_duration: Any, n_requests: Any) -> list[tuple[str, Any]]:
    if isinstance(run_duration, (int, float)) and not isinstance(run_duration, bool):
        return [("Duration", f"{run_duration:g} s per run")]
    if n_requests is not None:
        return [("Requests per client", n_requests)]
    return []


def _clients_text(clients: int, peak: int | None) -> str:
    """The run's clients; a closed loop never has more requests in flight than clients, so a
    higher peak says the clients were changed during the run (the result keeps the first count)."""
    if peak is not None and peak > clients:
        return f"{clients} at the start; up to {peak} requests in flight later"
    return str(clients)


def run_settings(result: Any, peak_in_flight: int | None = None) -> list[tuple[str, Any]]:
    """(label, value) rows of how a run was set up, from the Result and its run_config.json."""
    config = _read_config(result.output_path)
    status = result.status + (f": {result.error}" if result.error else "")
    workers = config.get("workers")
    payload = config.get("payload")
    if payload and config.get("payload_count"):
        payload = f"{payload} ({config['payload_count']} request bodies)"
    rows = [
        ("Run", result.run_name), ("Description", result.run_description), ("Status", status),
        ("Model", result.model_id or config.get("model_id")),
        ("Endpoint", _endpoint_text(config.get("endpoint")) or result.endpoint_name),
        ("Clients", _clients_text(result.clients, peak_in_flight)),
        *_bound_rows(result.run_duration, result.n_requests),
        ("Workers", "in this process" if workers == 0 else workers),
        ("Low memory", "yes" if result.low_memory else None),
        ("Payload", payload),
        ("Started", _when(result.start_time)), ("Ended", _when(result.end_time)),
        ("Test time", format_value(result.total_test_time, "s")
         if result.total_test_time is not None else None),
        ("Folder", result.output_path),
    ]
    return [(label, value) for label, value in rows if value is not None and value != ""]


def _key_value_table(rows: list[tuple[str, Any]], css: str = "settings") -> str:
    body = "".join(f"<tr><th scope='row'>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='{css}'><tbody>{body}</tbody></table>"


def stats_table_html(stats: dict[str, Any], spec: DisplaySpec | None = None) -> str:
    """The grouped stats table: the live table's groups, labels, units and number format."""
    spec = spec or DisplaySpec()
    body = []
    for group, cells in spec.rows(stats):
        body.append(f"<tr class='group'><th colspan='2' scope='rowgroup'>{_esc(group)}</th></tr>")
        body.extend(f"<tr><th scope='row'>{_esc(label)}</th><td class='num'>{_esc(value)}</td></tr>"
                    for label, value in cells)
    return f"<table class='stats'><tbody>{''.join(body)}</tbody></table>"


def _error_rows(stats: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [(key.removeprefix("errors-"), value) for key, value in sorted(stats.items())
            if key.startswith("errors-") and isinstance(value, int) and value]


def errors_table_html(stats: Mapping[str, Any]) -> str:
    rows = _error_rows(stats)
    if not rows:
        return "<p class='note'>No request failed.</p>"
    total = stats.get("total_requests") or 0
    failed = metric("failed_requests")
    head = (f"<tr><th scope='col'>error class</th><th scope='col'>{_esc(failed.label)}</th>"
            "<th scope='col'>share of requests</th></tr>")
    body = "".join(
        f"<tr><th scope='row'>{_esc(kind)}</th><td class='num'>{_esc(format_value(n, 'count'))}"
        f"</td><td class='num'>{_esc(format_value(n / total if total else None, '%'))}</td></tr>"
        for kind, n in rows)
    return f"<table class='errors'><thead>{head}</thead><tbody>{body}</tbody></table>"


def figure_html(name: str, fig: go.Figure) -> str:
    """One figure as a div, drawn by the page's single copy of plotly.js; its title becomes
    the caption above it (the legend then has the top of the figure to itself)."""
    import plotly.graph_objects as go

    fig = go.Figure(fig)  # a copy: the caller's figure keeps its title
    caption = fig.layout.title.text or ""
    legend = fig.layout.showlegend if fig.layout.showlegend is not None else len(fig.data) > 1
    on_top = legend and fig.layout.legend.orientation == "h"
    fig.update_layout(title=None, height=CHART_HEIGHT, margin={"t": 56 if on_top else 16})
    div = fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%",
                      default_height=f"{CHART_HEIGHT}px",
                      config={"displaylogo": False, "responsive": True,
                              "toImageButtonOptions": {"format": "png", "filename": name}})
    return (f"<figure class='chart' data-chart='{_esc(name)}'>"
            f"<figcaption>{_esc(caption)}</figcaption>{div}</figure>")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 margin:0;background:#f6f8fa;font-size:14px}
header{background:#fff;border-bottom:1px solid #d0d7de;padding:12px 24px}
header h1{font-size:20px;margin:0 0 4px}
header p{margin:0;color:#57606a}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
 background:#dafbe1;color:#116329;vertical-align:middle;margin-left:8px}
.badge.bad{background:#ffebe9;color:#a40e26}
main{padding:16px 24px;max-width:1600px}
.top{display:grid;grid-template-columns:minmax(280px,340px) 1fr;gap:16px;align-items:start}
/* auto-fill, not auto-fit: the columns are there before the figures, which are drawn (at their
   box's width) as the page is read */
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:12px;
 margin-bottom:12px}
.top>*,.grid>*{min-width:0}
section,.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;
 margin-bottom:12px}
h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}
th,td{padding:2px 6px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#f6f8fa}
tr.group th{background:#eaeef2;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table.settings th{color:#57606a;font-weight:500;white-space:nowrap;width:1%}
table.settings td{overflow-wrap:anywhere}
table.levels th{white-space:nowrap}
tr.knee{outline:2px solid #1976d2}
figure.chart{margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px;
 overflow:hidden}
figcaption{font-weight:600;font-size:14px;padding:4px 8px 0}
.verdict{font-size:16px;border-left:4px solid #1976d2}
.note{color:#57606a}
footer{padding:8px 24px 24px;color:#57606a;font-size:12px}
"""


def _page(title: str, subtitle: str, status: str, body: str) -> str:
    from plotly.offline import get_plotlyjs

    bad = "" if status == "completed" else " bad"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style>"
        # plotly.js, once for every figure: the file opens offline.
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{_esc(title)}<span class='badge{bad}'>{_esc(status)}</span></h1>"
        f"<p>{_esc(subtitle)}</p></header><main>{body}</main>"
        "<footer>Written by llmeter-widget. The charts are plotly figures: hover for values, "
        "drag to zoom, the camera icon saves a PNG.</footer></body></html>\n"
    )


def _target(path: str | os.PathLike | None, folder: str | None) -> Path:
    if path is None:
        if not folder:
            raise ValueError("This result has no folder: give the report's path, e.g. "
                             "to_html('report.html').")
        return Path(folder) / "report.html"
    return Path(path)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run_html(result: Any, responses: list[InvocationResponse],
             path: str | os.PathLike | None = None) -> Path:
    """Write one run's report (see `Result.to_html`); returns its path."""
    target = _target(path, result.output_path)
    stats = result.stats
    figures = run_figures(responses)
    timed = any(r.t_send is not None for r in responses)
    peak = max((y for y in figures["load"].data[0].y or () if y is not None), default=None)
    over_time = ("throughput", "latency", "load", "errors")
    charts = ("".join(figure_html(name, figures[name]) for name in over_time) if timed else
              "<p class='note'>The saved responses carry no timestamps (e.g. a folder written "
              "by llmeter): no charts over time.</p>")
    distribution = "".join(figure_html(name, figures[name])
                           for name in ("latency_histogram", "latency_cdf"))
    total = stats.get("total_requests")
    subtitle = " · ".join(p for p in (
        result.model_id and f"model {result.model_id}",
        f"{result.clients} clients" + (f" (up to {peak} in flight)" if peak and peak > result.clients
                                       else ""),
        total is not None and f"{format_value(total, 'count')} requests",
        _when(result.start_time)) if p)
    body = (
        "<div class='top'><div>"
        f"<section><h2>Settings</h2>{_key_value_table(run_settings(result, peak))}</section>"
        "<section><h2>Statistics (whole run)</h2>"
        f"{stats_table_html(stats)}</section></div>"
        f"<div><div class='grid'>{charts}</div></div></div>"
        f"<section><h2>Errors by class</h2>{errors_table_html(stats)}</section>"
        f"<div class='grid'>{distribution}</div>"
    )
    return _write(target, _page(f"Run report: {result.run_name or 'run'}", subtitle,
                                result.status, body))


def _saturation_knee(sweep: Any) -> int | None:
    """The knee's client count where the sweep saturates (`LoadTestResult.saturated_knee`)."""
    knee = sweep.saturated_knee()
    return knee.clients if knee is not None else None


def levels_table_html(sweep: Any) -> str:
    """One row per level: the sweep's comparison columns, formatted as the live table."""
    rows = sweep.stats_table()
    if not rows:
        return "<p class='note'>No level was measured.</p>"
    keys = [key for key in rows[0] if key != "clients"]
    knee = _saturation_knee(sweep)
    head = ("<tr><th scope='col'>clients</th>"
            + "".join(f"<th scope='col' class='num'>{_esc(column_title(k))}</th>" for k in keys)
            + "<th scope='col'>status</th></tr>")
    body = []
    for row in rows:
        clients = row["clients"]
        css = " class='knee'" if clients == knee else ""
        cells = "".join(f"<td class='num'>{_esc(format_value(row[k], unit_of(k) or ''))}</td>"
                        for k in keys)
        status = sweep.results[clients].status
        mark = " (knee)" if clients == knee else ""
        body.append(f"<tr{css}><th scope='row'>{_esc(clients)}{mark}</th>{cells}"
                    f"<td>{_esc(status)}</td></tr>")
    return (f"<table class='levels'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def sweep_errors_html(sweep: Any) -> str:
    """Failed requests by class, one row per level."""
    per_level = {c: dict(_error_rows(level.stats)) for c, level in sorted(sweep.results.items())}
    kinds = sorted({kind for errors in per_level.values() for kind in errors})
    if not kinds:
        return "<p class='note'>No request failed at any level.</p>"
    head = ("<tr><th scope='col'>clients</th>"
            + "".join(f"<th scope='col' class='num'>{_esc(k)}</th>" for k in kinds) + "</tr>")
    body = "".join(
        f"<tr><th scope='row'>{_esc(c)}</th>"
        + "".join(f"<td class='num'>{_esc(format_value(errors.get(k, 0), 'count'))}</td>"
                  for k in kinds) + "</tr>"
        for c, errors in per_level.items())
    return f"<table class='errors'><thead>{head}</thead><tbody>{body}</tbody></table>"


def sweep_settings(sweep: Any) -> list[tuple[str, Any]]:
    """(label, value) rows of how a sweep was set up (load_test.json and a level's config)."""
    settings = sweep.settings or {}
    first = next(iter(sweep.results.values()), None)
    config = _read_config(first.output_path) if first is not None else {}
    workers = config.get("workers")
    status = sweep.status + (f": {sweep.error}" if sweep.error else "")
    rows = [
        ("Sweep", sweep.test_name), ("Description", settings.get("run_description")),
        ("Status", status),
        ("Model", settings.get("model_id") or (first.model_id if first else None)),
        ("Endpoint", _endpoint_text(settings.get("endpoint") or config.get("endpoint"))),
        ("Clients", ", ".join(str(c) for c in sweep.sequence_of_clients)),
        *_bound_rows(settings.get("run_duration"), settings.get("n_requests")),
        ("Workers", "in this process" if workers == 0 else workers),
        ("Low memory", "yes" if settings.get("low_memory") else None),
        ("Not measured", ", ".join(str(c) for c in sweep.missing) or None),
        ("Started", _when(sweep.start_time)), ("Ended", _when(sweep.end_time)),
        ("Folder", sweep.output_path),
    ]
    return [(label, value) for label, value in rows if value is not None and value != ""]


def sweep_html(sweep: Any, path: str | os.PathLike | None = None) -> Path:
    """Write a client sweep's report (see `LoadTestResult.to_html`); returns its path."""
    target = _target(path, sweep.output_path)
    figures = sweep.plot_results()
    for fig in figures.values():
        fig.update_layout(template="plotly_white", margin={"l": 56, "r": 24, "b": 48})
    knee = _saturation_knee(sweep)
    knee_text = (f"<p>Knee: {_esc(knee)} clients, the last level before TTFT p90 grows faster "
                 "than throughput.</p>" if knee is not None else "")
    comparison = "".join(figure_html(name, fig) for name, fig in figures.items()
                         if name != "latency_throughput")
    subtitle = " · ".join(p for p in (
        (sweep.settings or {}).get("model_id") and f"model {sweep.settings['model_id']}",
        f"levels {', '.join(str(c) for c in sorted(sweep.results))}",
        _when(sweep.start_time)) if p)
    body = (
        f"<section class='verdict'><h2>Verdict</h2><p>{_esc(sweep.verdict())}</p>"
        f"{knee_text}</section>"
        "<div class='top'>"
        f"<section><h2>Settings</h2>{_key_value_table(sweep_settings(sweep))}</section>"
        f"<div>{figure_html('latency_throughput', figures['latency_throughput'])}</div></div>"
        f"<section><h2>Levels</h2>{levels_table_html(sweep)}</section>"
        f"<div class='grid'>{comparison}</div>"
        f"<section><h2>Errors by class</h2>{sweep_errors_html(sweep)}</section>"
    )
    return _write(target, _page(f"Sweep report: {sweep.test_name}", subtitle, sweep.status, body))


# -- response tables -----------------------------------------------------------------------------
def response_rows(responses: Iterable[InvocationResponse], text: bool = True
                  ) -> Iterator[dict[str, Any]]:
    """One flat dict per response: `EXPORT_FIELDS`, `annotations` and `inter_token_latencies`
    as JSON text (None stays None), a dict prompt (llmeter's) as JSON text; `request_time` as
    ISO 8601 text when `text`, else the datetime.

    Example:
        >>> r = InvocationResponse(id="a", inter_token_latencies=[0.01, 0.02],
        ...                        annotations={"tag": "x"}, input_payload={"messages": []})
        >>> row = next(response_rows([r]))
        >>> row["id"], row["inter_token_latencies"], row["annotations"], "input_payload" in row
        ('a', '[0.01, 0.02]', '{"tag": "x"}', False)
    """
    for r in responses:
        row = {name: getattr(r, name) for name in EXPORT_FIELDS}
        for name in _JSON_FIELDS:
            if row[name] is not None:
                row[name] = json.dumps(row[name], ensure_ascii=False)
        if isinstance(row["input_prompt"], dict):
            row["input_prompt"] = json.dumps(row["input_prompt"], ensure_ascii=False)
        if text and row["request_time"] is not None:
            row["request_time"] = datetime_to_str(row["request_time"])
        yield row


def write_csv(responses: Iterable[InvocationResponse], path: str | os.PathLike) -> Path:
    """One row per response (see `response_rows`), a header of `EXPORT_FIELDS`; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        writer.writerows(response_rows(responses))
    return target


def to_dataframe(responses: Iterable[InvocationResponse]) -> Any:
    """A pandas DataFrame, one row per response (see `response_rows`; request_time a datetime).

    Raises:
        ImportError: pandas is not installed (it is not a dependency of llmeter-widget).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "to_dataframe() needs pandas, which llmeter-widget does not install: "
            "`pip install pandas` (or use to_csv(path), which needs nothing more)."
        ) from None
    return pd.DataFrame.from_records(list(response_rows(responses, text=False)),
                                     columns=list(EXPORT_FIELDS))
