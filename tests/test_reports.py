"""Reports and exports (reports.py) of real runs and a real sweep against the simulator: the
figures, the HTML file opened in Chromium with the network blocked, CSV, DataFrame, the CLI."""

from __future__ import annotations

import asyncio
import csv
import html
import json
import os
import re
import sys
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from llmeter_widget import LoadTest, LoadTestResult, Result, Runner
from llmeter_widget.cli import main
from llmeter_widget.display import DisplaySpec, format_value
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.metrics import metric
from llmeter_widget.reports import EXPORT_FIELDS
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.stats import stats_from_responses

from .chromium import launch

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "LLMW_REPORT_TEST_KEY"
KEY = "sk-SECRET-report-must-not-hold-4711"
MODEL = "llama-report-7b"
DESCRIPTION = "2 clients, then 8 on 4 batch slots"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & "q"'
PAYLOAD = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=16)
RUN_CHARTS = ["throughput", "latency", "load", "errors", "latency_histogram", "latency_cdf"]
SWEEP_CHARTS = ["latency_throughput", "requests_per_minute", "output_tps", "time_to_first_token",
                "time_to_last_token", "error_rate"]


def _server(**options) -> SimulatedServer:
    # A server that wants the key: a report of a run that got through holds it nowhere.
    return SimulatedServer(mode="batching", max_batch=4, seed=3, model=MODEL, api_key=KEY,
                           decode_base=0.02, **options)


def _endpoint(server: SimulatedServer) -> OpenAIChatEndpoint:
    return OpenAIChatEndpoint(base_url=server.base_url, model=MODEL, api_key_env=KEY_ENV)


async def _run(output_path: Path) -> Result:
    """2 clients, then 8 from the second second on (past the 4 batch slots: TTFT climbs);
    1 request in 12 answered with a 500, 1 in 20 cut mid-stream (failed, with a TTFT)."""
    async with _server(error_500_rate=0.08, drop_mid_stream_rate=0.05) as server:
        runner = Runner(_endpoint(server), PAYLOAD, output_path=output_path, live_view=False)
        task = asyncio.ensure_future(runner.run(clients=2, run_duration=5, run_name="report-run",
                                                run_description=DESCRIPTION))
        await asyncio.sleep(2)
        runner.set_clients(8)
        return await task


async def _sweep(output_path: Path) -> LoadTestResult:
    async with _server() as server:
        lt = LoadTest(_endpoint(server), PAYLOAD, [1, 2, 4, 8], n_requests=3,
                      output_path=output_path, test_name="report-sweep", live_view=False)
        return await lt.run()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved run and a saved sweep (about 8 s). The key is in the environment (as a user's
    would be) while the module's tests write their reports."""
    out = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, KEY)
        run = asyncio.run(_run(out))
        sweep = asyncio.run(_sweep(out))
        assert run.status == "completed" and sweep.status == "completed"
        assert run.stats["errors-http_5xx"] > 0 and run.stats["errors-broken_stream"] > 0
        assert run.stats["successful_requests"] > 20
        yield Path(run.output_path), Path(sweep.output_path)


@pytest.fixture(scope="module")
def run_report(saved, tmp_path_factory) -> Path:
    return Result.load(saved[0]).to_html(tmp_path_factory.mktemp("html") / "run.html")


@pytest.fixture(scope="module")
def sweep_report(saved, tmp_path_factory) -> Path:
    return LoadTestResult.load(saved[1]).to_html(tmp_path_factory.mktemp("html") / "sweep.html")


def outside_plotly(text: str) -> str:
    return text.replace(get_plotlyjs(), "")


def assert_self_contained(text: str) -> None:
    assert text.count(get_plotlyjs()) == 1  # the whole library, inlined exactly once
    assert text.count("* plotly.js v") == 1
    assert not re.search(r"<script[^>]*src\s*=\s*[\"']?http", text, re.IGNORECASE)
    # nothing of ours loads anything: no src= or href= at all outside the library
    assert not re.search(r"\b(src|href)\s*=", outside_plotly(text), re.IGNORECASE)


def assert_no_secret(*paths: Path) -> None:
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            assert KEY not in file.read_text(errors="replace"), file


# -- the HTML file -------------------------------------------------------------------------------
def test_run_report_is_one_self_contained_file_with_settings_and_table(saved, run_report):
    text = run_report.read_text(encoding="utf-8")
    assert run_report.stat().st_size > len(get_plotlyjs())
    assert_self_contained(text)
    result = Result.load(saved[0])
    assert f"<td>{MODEL}</td>" in text
    assert f"{result.stats['total_requests']:,} requests" in text  # the header's summary
    # every group, label and value of the live table, formatted as the dashboard shows it
    for group, cells in DisplaySpec().rows(result.stats):
        assert html.escape(group) in text
        for label, value in cells:
            assert f"{html.escape(label)}</th><td class='num'>{html.escape(value)}<" in text
    # errors by class: the simulator's 500s
    count = result.stats["errors-http_5xx"]
    assert f"http_5xx</th><td class='num'>{format_value(count, 'count')}" in text
    # settings from run_config.json
    for setting in ("Duration", "5 s per run", "Workers", "in this process", "Started",
                    DESCRIPTION, "2 at the start; up to 8 requests in flight later"):
        assert setting in text
    assert_no_secret(run_report, saved[0])


def test_sweep_report_has_the_levels_the_charts_the_knee_and_the_verdict(saved, sweep_report):
    text = sweep_report.read_text(encoding="utf-8")
    assert_self_contained(text)
    sweep = LoadTestResult.load(saved[1])
    assert html.escape(sweep.verdict()) in text
    knee = sweep.knee_details()
    assert knee is not None and knee.saturated  # 4 batch slots: it saturates at 4
    assert f"Knee: {knee.clients} clients" in text
    assert f"<tr class='knee'><th scope='row'>{knee.clients} (knee)</th>" in text
    for row in sweep.stats_table():
        ttft = format_value(row["time_to_first_token-p90"], "s")
        assert re.search(rf"<th scope='row'>{row['clients']}( \(knee\))?</th>.*?{ttft}", text)
    for label in ("Requests/min", "Output tokens/s", "TTFT p90", "TTLT p50", "Failure rate"):
        assert f">{label}</th>" in text
    for chart in SWEEP_CHARTS:
        assert f"data-chart='{chart}'" in text
    assert f"<td>{MODEL}</td>" in text and "1, 2, 4, 8" in text
    assert_no_secret(sweep_report, saved[1])


def test_a_report_defaults_into_the_folder_and_needs_a_path_without_one(saved):
    path = Result.load(saved[0]).to_html()
    assert path == saved[0] / "report.html" and path.exists()
    with pytest.raises(ValueError, match="give the report's path"):
        Result(responses=Result.load(saved[0]).responses).to_html()


# -- in a browser, offline -----------------------------------------------------------------------
@pytest.fixture
def browser():
    """Chromium for one test (the sync API holds this thread while it is open: function scope,
    so the module's asyncio fixtures run before it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        try:
            yield chromium
        finally:
            chromium.close()


def open_offline(browser, path: Path):
    """The report in a page with the network cut off: every request but the file itself is
    aborted (and recorded); page errors are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def block(route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')].every(d => d._fullLayout)",
        timeout=20_000)
    return context, page, errors, requests


def drawn_charts(page) -> dict[str, dict]:
    """Each figure's name -> what Plotly drew: its traces' <g class="trace"> and data."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('figure.chart')]
        .map(f => { const d = f.querySelector('.plotly-graph-div');
                    return [f.dataset.chart, {
                      traces: d.querySelectorAll('g.trace').length,
                      data: d.data.length,
                      points: d.data.reduce((n, t) => n + (t.x ? t.x.length : 0), 0),
                      svgWidth: Number(d.querySelector('svg.main-svg').getAttribute('width')),
                      boxWidth: d.clientWidth }]; }))""")


def test_run_report_renders_every_chart_offline_in_chromium(browser, saved, run_report):
    context, page, errors, requests = open_offline(browser, run_report)
    try:
        charts = drawn_charts(page)
        assert list(charts) == RUN_CHARTS
        for name, chart in charts.items():
            assert chart["traces"] > 0 and chart["traces"] == chart["data"], (name, chart)
            assert chart["points"] > 0, name
            assert abs(chart["svgWidth"] - chart["boxWidth"]) <= 2, (name, chart)  # fits its box
        # the table as a person reads it: the live table's groups, labels and values
        table = page.evaluate("""() => [...document.querySelectorAll('table.stats tr')].map(
            tr => [...tr.children].map(c => c.textContent))""")
        expected = []
        for group, cells in DisplaySpec().rows(Result.load(saved[0]).stats):
            expected += [[group], *[[label, value] for label, value in cells]]
        assert table == expected
        # LLMETER_REPORT_SCREENSHOT=docs/report.png refreshes the user guide's picture
        shot = Path(os.environ.get("LLMETER_REPORT_SCREENSHOT") or run_report.with_suffix(".png"))
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:4] == b"\x89PNG"
    finally:
        context.close()
    assert errors == [] and requests == []


def test_text_from_the_user_is_shown_not_run(browser, saved, tmp_path):
    result = Result.load(saved[0])
    result.run_name = result.run_description = result.model_id = HOSTILE
    result.status, result.error = "failed", HOSTILE
    path = result.to_html(tmp_path / "hostile.html")
    text = path.read_text(encoding="utf-8")
    assert HOSTILE not in outside_plotly(text) and html.escape(HOSTILE) in text
    context, page, errors, requests = open_offline(browser, path)
    try:
        assert page.evaluate("window.__pwned") is None
        settings = dict(page.evaluate("""() => [...document.querySelectorAll(
            'table.settings tr')].map(tr => [tr.children[0].textContent, tr.children[1].textContent])"""))
        assert settings["Run"] == settings["Description"] == settings["Model"] == HOSTILE
        assert settings["Status"] == f"failed: {HOSTILE}"
        assert page.title() == f"Run report: {HOSTILE}"
    finally:
        context.close()
    assert errors == [] and requests == []


def test_sweep_report_renders_every_chart_offline_in_chromium(browser, sweep_report):
    context, page, errors, requests = open_offline(browser, sweep_report)
    try:
        charts = drawn_charts(page)
        assert sorted(charts) == sorted(SWEEP_CHARTS)
        for name, chart in charts.items():
            assert chart["traces"] > 0 and chart["traces"] == chart["data"], (name, chart)
            assert chart["points"] >= 4, name  # one point per level
        assert page.locator("tr.knee").count() == 1
    finally:
        context.close()
    assert errors == [] and requests == []


# -- figures -------------------------------------------------------------------------------------
def test_plot_draws_the_series_the_stats_rebuild(saved):
    result = Result.load(saved[0])
    figures = result.plot()
    assert list(figures) == RUN_CHARTS
    series = stats_from_responses(result.responses).series(0)
    assert len(series) >= 5
    x = [b["t"] for b in series]

    def trace(figure: str, name: str):
        found = [t for t in figures[figure].data if t.name == name]
        assert len(found) == 1, [t.name for t in figures[figure].data]
        return found[0]

    ttft, ttlt = metric("time_to_first_token").label, metric("time_to_last_token").label
    for name, key in ((f"{ttft} p50", "ttft_p50"), (f"{ttft} p90", "ttft_p90"),
                      (f"{ttlt} p50", "ttlt_p50"), (f"{ttlt} p90", "ttlt_p90")):
        assert list(trace("latency", name).x) == x
        assert list(trace("latency", name).y) == [b[key] for b in series]
    rpm, tps = metric("requests_per_minute"), metric("output_tps")
    assert list(trace("throughput", rpm.label).y) == [b["requests_per_minute"] for b in series]
    assert list(trace("throughput", tps.label).y) == [b["output_tps"] for b in series]
    assert figures["throughput"].layout.yaxis.title.text == rpm.unit
    assert figures["throughput"].layout.yaxis2.title.text == tps.unit
    assert list(trace("load", "In flight").y) == [b["in_flight"] for b in series]
    # the errors chart: its classes add up to the series' failures, second by second
    bars = figures["errors"].data
    assert [t.name for t in bars] == ["broken_stream", "http_5xx"]
    assert [sum(t.y[i] for t in bars) for i in range(len(x))] == [b["failed"] for b in series]
    # distributions: every TTFT and TTLT the stats count (a stream cut short keeps its TTFT)
    assert any(r.error_type == "broken_stream" and r.time_to_first_token is not None
               for r in result.responses)
    ttfts = sorted(r.time_to_first_token for r in result.responses
                   if r.time_to_first_token is not None and r.error_type != "cancelled")
    bars = trace("latency_histogram", ttft)
    assert sum(bars.y) == len(ttfts)
    assert sum(trace("latency_histogram", ttlt).y) == result.stats["successful_requests"]
    ttlts = [r.time_to_last_token for r in result.responses if r.time_to_last_token is not None]
    low, high = min(ttfts + ttlts), max(ttfts + ttlts)  # one set of bins, lowest to highest
    assert bars.x[0] - bars.width / 2 == pytest.approx(low)
    assert bars.x[-1] + bars.width / 2 == pytest.approx(high)
    cdf = trace("latency_cdf", ttft)
    assert list(cdf.x) == ttfts and cdf.y[-1] == 1.0
    assert len(trace("latency_cdf", ttlt).x) == result.stats["successful_requests"]


def test_the_distributions_do_not_grow_with_the_requests():
    from llmeter_widget.endpoints import InvocationResponse
    from llmeter_widget.reports import CDF_POINTS, HISTOGRAM_BINS, run_figures

    responses = [InvocationResponse(t_send=i * 0.01, t_first_token=i * 0.01 + 0.05 + (i % 97) / 1e3,
                                    t_last_token=i * 0.01 + 0.5, t_end=i * 0.01 + 0.5,
                                    num_tokens_output=8).finalize() for i in range(5000)]
    figures = run_figures(responses)
    for bars in figures["latency_histogram"].data:
        assert len(bars.x) == HISTOGRAM_BINS and sum(bars.y) == 5000
    for line in figures["latency_cdf"].data:
        assert len(line.x) == CDF_POINTS and line.y[-1] == 1.0 and line.y[0] == 1 / 5000
        assert list(line.x) == sorted(line.x)


def test_plot_of_a_low_memory_load_reads_the_folder(saved):
    lean = Result.load(saved[0], load_responses=False)
    assert lean.responses == []
    figures = lean.plot()
    full = Result.load(saved[0]).plot()
    assert list(figures["latency"].data[0].y) == list(full["latency"].data[0].y)
    assert lean.responses == []  # read for the figures, not kept


# -- tables --------------------------------------------------------------------------------------
def test_to_csv_has_one_row_per_response(saved, tmp_path):
    result = Result.load(saved[0])
    path = result.to_csv(tmp_path / "responses.csv")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert reader.fieldnames == list(EXPORT_FIELDS)
    assert "input_payload" not in EXPORT_FIELDS
    assert len(rows) == len(result.responses)
    for row, r in zip(rows, result.responses):
        assert row["id"] == (r.id or "")
        if r.time_to_first_token is not None:
            assert float(row["time_to_first_token"]) == r.time_to_first_token
        assert row["error_type"] == (r.error_type or "")
        assert json.loads(row["annotations"]) == r.annotations
        if r.inter_token_latencies is not None:
            assert json.loads(row["inter_token_latencies"]) == r.inter_token_latencies
    failed = [row for row in rows if row["error_type"] == "http_5xx"]
    assert len(failed) == result.stats["errors-http_5xx"]
    # a stats-only load reads the responses from the folder
    again = Result.load(saved[0], load_responses=False).to_csv(tmp_path / "again.csv")
    assert again.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_to_dataframe_with_pandas(saved):
    import pandas as pd  # the `test` extra installs it

    result = Result.load(saved[0])
    df = result.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(EXPORT_FIELDS)
    assert len(df) == len(result.responses)
    assert df["id"].tolist() == [r.id for r in result.responses]
    assert (df["error_type"] == "http_5xx").sum() == result.stats["errors-http_5xx"]
    assert str(df["request_time"].dtype).startswith("datetime64")
    assert df["time_to_first_token"].median() == pytest.approx(
        result.stats["time_to_first_token-p50"])


def test_to_dataframe_without_pandas_says_how_to_get_it(saved, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    result = Result.load(saved[0])
    with pytest.raises(ImportError, match=r"`pip install pandas`"):
        result.to_dataframe()


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_report_of_a_run_folder(saved, capsys):
    target = saved[0] / "report.html"
    target.unlink(missing_ok=True)
    assert main(["report", str(saved[0])]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert "Run report: report-run" in target.read_text(encoding="utf-8")


def test_cli_report_of_a_sweep_folder(saved, tmp_path, capsys):
    target = tmp_path / "out" / "sweep.html"
    assert main(["report", str(saved[1]), "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    text = target.read_text(encoding="utf-8")
    assert "Sweep report: report-sweep" in text and "data-chart='latency_throughput'" in text


@pytest.mark.parametrize("make", ["empty", "missing", "file"])
def test_cli_report_of_something_else_is_a_clear_error(tmp_path, capsys, make):
    folder = tmp_path / "not-a-run"
    if make == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("hello")
    elif make == "file":
        folder.write_text("hello")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(folder)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    expected = "holds no saved run or sweep" if make == "empty" else "is not a folder"
    assert f"llmeter-widget: error: {folder} {expected}" in err
    assert "Traceback" not in err
