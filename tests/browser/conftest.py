"""Browser fixtures: a static file server and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from ..chromium import launch

ROOT = Path(__file__).resolve().parents[2]
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # always the bundle just built
        super().end_headers()


@pytest.fixture(scope="session")
def static_server():
    """The project root over HTTP on 127.0.0.1 (a free port), in a thread; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium, shared by one module's tests.

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    while it is open, and the asyncio tests that follow need the thread free.
    """
    from playwright.sync_api import sync_playwright  # the `test` extra installs it

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()
