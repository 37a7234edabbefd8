"""The loader's fallback in Chromium (issue 12, finding 1): a front end whose models have no
`widget_manager.get_model` (an older anywidget, another host) still shows the dashboard; the
loader asks the kernel for the bundle (`{"type": "code"}`) and Python's Dashboard answers.

The page imports the built llmeter_widget/static/loader.js, as anywidget would, and renders it
with fake models (js/testing/fake_model.js) holding a real Dashboard's state after a real demo
run; the test carries the messages between the page and that Dashboard (its own handler
answers, over a comm that records). Two dashboards import the bundle once; a model that cannot
send shows what is wrong and how to fix it. No request leaves 127.0.0.1 (the files are served
by the route itself), and the page raises no error.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import comm
import pytest
from comm.base_comm import BaseComm
from playwright.sync_api import sync_playwright

from llmeter_widget import Dashboard
from llmeter_widget.views import shared_code as shared_module

from ..chromium import launch
from ..saved_notebooks import shown_cells
from ..waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:9"  # nothing listens there: the route below answers every request
SERVED = {"/llmeter_widget/static/loader.js", "/llmeter_widget/static/widget.css",
          "/js/testing/fake_model.js"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loader fallback</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/llmeter_widget/static/widget.css">
</head><body><script type="module">
import loader from "/llmeter_widget/static/loader.js";
import { makeModel } from "/js/testing/fake_model.js";
window.models = {};
// A model as an old front end gives it: no widget_manager. `failSend`: its comm is gone.
window.mount = (id, state, failSend) => {
  const model = makeModel(state);
  if (failSend) model.send = () => { throw new Error("the comm is closed"); };
  const el = Object.assign(document.createElement("div"), { id });
  document.body.append(el);
  window.models[id] = model;
  model.rendered = loader.render({ model, el }).then(() => true);
};
window.sent = (id) => window.models[id].sent;
window.answer = (id, msg) => window.models[id].emit("msg:custom", msg);
window.bundles = () => globalThis[Symbol.for("llmeter_widget.bundles")]?.size ?? 0;
window.ready = true;
</script></body></html>"""

READ = """id => {
    const root = document.getElementById(id);
    const badge = root.querySelector('.lmw-badge');
    return {
        status: badge?.dataset.status ?? null,
        cells: Object.fromEntries([...root.querySelectorAll('td.lmw-value')].map(
            td => [td.dataset.key, td.textContent])),
        chart_boxes: root.querySelectorAll('.lmw-charts section.lmw-chart').length,
        error: root.querySelector('.lmw-loader-error')?.textContent ?? null,
        alert: root.querySelector('.lmw-loader-error')?.getAttribute('role') ?? null,
    };
}"""


class RecordingComm(BaseComm):
    """A kernel's comm minus the socket: what the Dashboard sends is kept."""

    def __init__(self, **kwargs):
        self.customs: list[dict] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        if msg_type == "comm_msg" and (data or {}).get("method") == "custom":
            self.customs.append(data["content"])


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory):
    """Two demo dashboards after a short real run each: their state, as the page receives it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(comm, "create_comm", lambda **kw: RecordingComm(**kw))
        mp.setattr(shared_module, "_shared", None)
        runs = tmp_path_factory.mktemp("runs")
        made = [Dashboard.demo(mode="count", clients=c, n_requests=2, max_tokens=8,
                               output_path=runs) for c in (1, 2)]
        try:
            for dash in made:
                asyncio.run(dash.run())
            yield made
        finally:
            for dash in made:
                dash.close()


def page_state(dash: Dashboard) -> dict:
    """The traits as the front end holds them (JSON, as over the comm)."""
    return json.loads(json.dumps(dash.get_state()))


def serve(blocked: list[str]):
    def route(r):  # noqa: ANN001
        url = r.request.url
        path = url[len(ORIGIN):] if url.startswith(ORIGIN) else None
        if path == "/":
            r.fulfill(status=200, content_type="text/html", body=PAGE)
        elif path in SERVED:
            kind = "text/css" if path.endswith(".css") else "text/javascript"
            r.fulfill(status=200, content_type=kind, body=(ROOT / path[1:]).read_bytes())
        elif url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()
    return route


def test_without_get_model_the_dashboard_asks_the_kernel_for_its_code(dashboards):
    blocked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.route("**/*", serve(blocked))
            page.goto(f"{ORIGIN}/")
            page.wait_for_function("window.ready === true")
            pause = lambda s: page.wait_for_timeout(s * 1000)  # noqa: E731

            for i, dash in enumerate(dashboards):
                page.evaluate("([id, state]) => window.mount(id, state, false)",
                              [f"d{i}", page_state(dash)])
            for i, dash in enumerate(dashboards):
                # the loader asks; Python's own handler answers; the answer goes to the page
                wait_until(lambda i=i: {"type": "code"} in page.evaluate("id => window.sent(id)",
                                                                          f"d{i}"),
                           f"dashboard {i} to ask for its code", timeout=20, pause=pause)
                dash._handle_msg({"content": {"data": {"method": "custom",
                                                       "content": {"type": "code"}}},
                                  "buffers": []})
                answer = dash.comm.customs[-1]
                assert answer["type"] == "code" and answer["code"] == dash._code.code
                page.evaluate("([id, msg]) => window.answer(id, msg)", [f"d{i}", answer])

            for i, dash in enumerate(dashboards):
                want = {"status": dash.status, "cells": shown_cells(dash.spec, dash.stats)}
                seen: list = []

                def shown(i=i, want=want, seen=seen) -> bool:
                    seen.append(page.evaluate(READ, f"d{i}"))
                    return ({"status": seen[-1]["status"], "cells": seen[-1]["cells"]} == want
                            and seen[-1]["chart_boxes"] >= 3)

                wait_until(shown, f"dashboard {i} rendered from the kernel's code", timeout=30,
                           describe=lambda seen=seen: {"seen": seen[-1] if seen else None,
                                                       "errors": errors},
                           pause=pause, interval=0.2)
                assert seen[-1]["status"] == "done" and seen[-1]["error"] is None
            assert page.evaluate("window.bundles()") == 1  # imported once for both

            # a model whose comm is gone: no bundle to be had; the view says why and what to do
            page.evaluate("([id, state]) => window.mount(id, state, true)",
                          ["gone", page_state(dashboards[0])])
            wait_until(lambda: page.evaluate(READ, "gone")["error"] is not None,
                       "the loader's message", timeout=20, pause=pause)
            gone = page.evaluate(READ, "gone")
            assert gone["alert"] == "alert" and gone["status"] is None
            assert "no widget_manager.get_model" in gone["error"]
            assert "the comm is closed" in gone["error"]
            assert "Run the cell that shows the dashboard again" in gone["error"]
        finally:
            browser.close()
    assert errors == [], errors
    assert blocked == [], blocked
