"""Each live chart of the built bundle downloads itself as a PNG (Plotly's toImage button).

js/charts.test.js holds the config to it; here the real button is clicked in Chromium, on the
harness page of test_bundle_harness.py (its fixtures and helpers are reused, not copied).
"""

from __future__ import annotations

import pytest

from .test_bundle_harness import built_bundle, mount, page, stream_run  # noqa: F401 (fixtures)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("chart", ["throughput", "latency", "load"])
def test_each_live_chart_has_a_png_button_that_downloads_it(page, chart, tmp_path):  # noqa: F811
    mount(page)
    stream_run(page, seconds=6)
    plot = page.locator(f'.lmw-plot[data-chart="{chart}"]')
    plot.hover()  # the mode bar shows on hover
    buttons = plot.locator(".modebar-btn")
    assert buttons.count() == 1  # the PNG button only: no zoom, pan or logo
    button = plot.locator('.modebar-btn[data-title="Download plot as a PNG"]')
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename == f"llmeter-{chart}.png"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.read_bytes()[:8] == PNG_MAGIC
