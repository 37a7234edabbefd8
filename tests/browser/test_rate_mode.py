"""Rate mode in Chromium (issue 13), the page wired to a real Dashboard: a person clicks the
Clients | Rate switch, picks even arrivals, drags the rate slider to 20 requests per second and
presses Run; the page shows rate mode (the rate slider, the scheduled rate in the header, the
open loop's load chart) and the run's requests go out at that rate to the embedded simulator.

The harness page (harness.html) renders the built bundle with a fake model; `Bridge` plays
the widget manager and the kernel: what the view sets and sends is applied to a real Dashboard
whose runs go on an event loop in a thread (as the kernel's), and what the Dashboard changes
goes back to the page.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time

from llmeter_widget import Dashboard
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer

from ..e2e.dashboard_page import drag_slider
from .test_bundle_harness import built_bundle, mount, page  # noqa: F401 (fixtures)

DURATION = 3


class Bridge:
    """The page's fake model <-> a real Dashboard, over a thread-safe queue each way."""

    def __init__(self, page) -> None:  # noqa: F811 (a page, not the fixture)
        self.page = page
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.to_page: queue.Queue = queue.Queue()
        self.server, self.dash = self.call(self._start())
        state = self.dash.get_state()
        self.names = [k for k in state if not k.startswith("_") and k != "layout"]
        self.dash.observe(lambda c: self.to_page.put(("set", c["name"], c["new"])), self.names)
        self.dash.send = lambda msg, buffers=None: self.to_page.put(("msg", msg, None))
        mount(page, **{k: state[k] for k in self.names})
        self.read = {"sets": 0, "sent": 0}

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self):
        server = SimulatedServer(mode="fixed", ttft=0.02, itl=0.01)
        await server.start()
        dash = Dashboard(endpoint=OpenAIChatEndpoint(base_url=server.base_url, model="sim"),
                         payload=OpenAIChatEndpoint.create_payload("hi", max_tokens=5),
                         duration=DURATION, clients=2)
        return server, dash

    def pump(self) -> None:
        """Hand the view's sets and messages to the Dashboard, and its changes to the view."""
        sets, sent = self.page.evaluate(
            """([s, m]) => [window.harness.model.setCalls.slice(s), window.harness.model.sent.slice(m)]""",
            [self.read["sets"], self.read["sent"]])
        self.read["sets"] += len(sets)
        self.read["sent"] += len(sent)
        for name, value in sets:
            self.loop.call_soon_threadsafe(setattr, self.dash, name, value)
        for msg in sent:
            self.loop.call_soon_threadsafe(self.dash._on_message, self.dash, msg, [])
        while not self.to_page.empty():
            kind, a, b = self.to_page.get()
            if kind == "set":
                self.page.evaluate("([n, v]) => window.harness.model.update({[n]: v})",
                                   [a, json.loads(json.dumps(b))])
            else:
                self.page.evaluate("m => window.harness.model.emit('msg:custom', m)", a)

    def settle(self, seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()
            self.page.wait_for_timeout(50)

    def close(self) -> None:
        self.dash.stop()
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def test_a_person_switches_to_rate_sets_it_and_runs(page):  # noqa: F811
    bridge = Bridge(page)
    try:
        assert page.get_attribute('[data-load="clients"]', "aria-pressed") == "true"
        assert page.is_visible("input.lmw-clients") and not page.is_visible("input.lmw-rate")
        page.click('[data-load="rate"]')
        bridge.settle()
        assert bridge.dash.mode == "rate"
        assert page.get_attribute('[data-load="rate"]', "aria-pressed") == "true"
        assert page.is_visible("input.lmw-rate") and not page.is_visible("input.lmw-clients")
        page.select_option("select.lmw-arrival", "constant")
        assert page.text_content(".lmw-rate-row .lmw-control-value") == "10 req/s"
        # drag the thumb to 20 requests per second (the slider moves on round-number steps)
        target = page.evaluate("""async () => (await import('/js/controls.js'))
            .rateSteps(0.5, 200).indexOf(20)""")
        released, _ = drag_slider(page, page.locator("input.lmw-rate"), target)
        assert released == target
        bridge.settle()
        assert (bridge.dash.rate, bridge.dash.arrival) == (20.0, "constant")
        assert page.text_content(".lmw-rate-row .lmw-control-value") == "20 req/s"

        page.click(".lmw-run")
        end = time.monotonic() + DURATION + 20
        while bridge.dash.status != "done" and time.monotonic() < end:
            bridge.settle(0.2)
        bridge.settle()
        assert bridge.dash.status == "done", bridge.dash.error
        # the page shows the open loop: the scheduled rate, no clients, its load chart
        shown = page.evaluate("""() => {
            const q = (s) => document.querySelector(s);
            return {badge: q('.lmw-badge').textContent,
                    rate: q('[data-key="rate"]').hidden ? null : q('[data-key="rate"] .lmw-count-value').textContent,
                    clients: !q('[data-key="active_clients"]').hidden,
                    completed: Number(q('[data-key="completed"] .lmw-count-value').textContent),
                    chart: q('[data-chart="load"]').closest('.lmw-chart').querySelector('h3').textContent,
                    scheduled: (q('[data-chart="load"]').data || [])[0]?.y.filter(v => v === 20).length};
        }""")
        total = bridge.dash.result.stats["total_requests"]
        assert shown["badge"] == "Done" and shown["rate"] == "20" and not shown["clients"], shown
        assert shown["chart"] == "Load (open loop)" and shown["scheduled"] >= 2, shown
        # the requests went out: 20 per second for 3 s, evenly (and the page counted them)
        assert 20 * DURATION - 6 <= total <= 20 * DURATION + 1, total
        assert shown["completed"] == bridge.dash.result.stats["successful_requests"], shown
    finally:
        bridge.close()
