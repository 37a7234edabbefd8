"""Each chart of the built bundle downloads itself as a PNG (js/plot.js: the PNG button).

The real button is clicked in Chromium, on the harness page of test_bundle_harness.py (its
fixtures and helpers are reused, not copied); the download is decoded (tests/chart_pixels.py,
zlib only) and looked at: a picture of the chart, at least as wide as the chart on the page, on
the theme's background, with the chart's lines in their colours and its title.
"""

from __future__ import annotations

import pytest

from ..chart_pixels import PNG_SIGNATURE, decode_png, hex_rgb
from .test_bundle_harness import (  # noqa: F401 (fixtures)
    built_bundle,
    kernel_sets,
    mount,
    page,
    set_theme,
    stream_run,
)

SWEEP = {"levels": [{"clients": c, "output_tps": tps, "ttft_p90": ttft}
                    for c, tps, ttft in [(1, 120.0, 0.05), (2, 230.0, 0.06), (4, 250.0, 0.4)]],
         "knee": 2, "verdict": ""}


def count_near(rows: list[bytes], rgb: tuple[int, int, int], tol: int = 16,
               band: tuple[int, int] | None = None) -> int:
    """Opaque pixels within `tol` of `rgb` (each channel), in rows band[0]..band[1] if given."""
    r0, g0, b0 = rgb
    lo, hi = band or (0, len(rows))
    n = 0
    for row in rows[lo:hi]:
        for i in range(0, len(row), 4):
            if (row[i + 3] == 255 and abs(row[i] - r0) <= tol and abs(row[i + 1] - g0) <= tol
                    and abs(row[i + 2] - b0) <= tol):
                n += 1
    return n


def download_png(page, chart: str, tmp_path):  # noqa: F811 (a page, not the fixture)
    """Click the chart's PNG button as a person does (it shows on hover); the download's name,
    its bytes, and the chart as the page shows it: width, traces, layout."""
    plot = page.locator(f'[data-chart="{chart}"]')
    plot.hover()
    button = plot.locator("button.lmw-png")
    assert button.count() == 1  # one button: no zoom, pan or logo
    assert button.evaluate("b => getComputedStyle(b).opacity") == "1"  # shown on hover
    assert button.get_attribute("aria-label") == f"Download the {chart} chart as a PNG"
    with page.expect_download() as download:
        button.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    shown = plot.evaluate("d => ({width: d.clientWidth, traces: d.data, layout: d.layout})")
    return download.value.suggested_filename, saved.read_bytes(), shown


@pytest.mark.parametrize("chart", ["throughput", "latency", "load", "sweep", "published:cost-total"])
def test_each_chart_has_a_png_button_that_downloads_it(page, chart, tmp_path):  # noqa: F811
    spec = None
    if chart.startswith("published:"):
        from llmeter_widget import CostModel
        from llmeter_widget.display import DisplaySpec

        spec = DisplaySpec.from_live_stats(None, callbacks=[CostModel(0.15, 0.6)]).to_json(available=[])
    mount(page, **({"spec": spec} if spec else {}))
    if chart == "sweep":
        kernel_sets(page, mode="sweep", comparison=SWEEP)
    elif spec:
        kernel_sets(page, series_delta={"run": 1, "seq": 0, "points": []})
        from .test_bundle_harness import bucket

        points = [{**bucket(t), "published": {"cost-total": 0.0004 * t}} for t in range(8)]
        kernel_sets(page, series_delta={"run": 1, "seq": 1, "points": points})
    else:
        stream_run(page, seconds=6)
    name, data, shown = download_png(page, chart, tmp_path)
    assert name == f"llmeter-{chart.replace(':', '-')}.png"
    assert data[:8] == PNG_SIGNATURE
    width, height, rows = decode_png(data)
    assert width >= shown["width"] and height >= shown["layout"]["height"], (width, height, shown["width"])
    # on the theme's background (the page's: white here), corner to corner
    paper = hex_rgb(shown["layout"]["paper"])
    assert rows[0][:3] == bytes(paper) and rows[-1][-4:-1] == bytes(paper), (rows[0][:4], paper)
    # every line of the chart, in its colour (a line of 2 px at 2x: hundreds of pixels)
    colours = {t["line"]["color"] for t in shown["traces"]
               if t["line"].get("width", 2) > 0 and (t.get("opacity") or 1) == 1
               and t["line"].get("color") and any(x is not None for x in t["x"])}
    assert colours, shown["traces"]
    for colour in colours:
        assert count_near(rows, hex_rgb(colour)) >= 100, (chart, colour)
    # the chart's title in the band over the plot (plot.js: 2 lines of type + 8 px), in the
    # text colour
    scale = width / int(shown["width"])
    head = int(scale * (2 * shown["layout"]["fontSize"] + 8))
    assert count_near(rows, hex_rgb(shown["layout"]["font"]), tol=40, band=(0, head)) >= 30


def test_a_png_of_the_dark_theme_is_dark(page, tmp_path):  # noqa: F811
    set_theme(page, "jupyterlab-dark")
    mount(page)
    stream_run(page, seconds=6)
    name, data, shown = download_png(page, "latency", tmp_path)
    assert name == "llmeter-latency.png"
    width, height, rows = decode_png(data)
    assert shown["layout"]["paper"] == "rgb(33, 33, 33)"  # --jp-layout-color1
    assert rows[0][:3] == bytes((33, 33, 33)) and rows[-1][-4:-1] == bytes((33, 33, 33))
    # the dark palette's lines (js/theme.js DARK), none of the light one's
    assert count_near(rows, hex_rgb("#64b5f6")) >= 100 and count_near(rows, hex_rgb("#ffb74d")) >= 100
    assert count_near(rows, hex_rgb("#1976d2"), tol=8) == 0
