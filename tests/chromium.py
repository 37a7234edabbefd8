"""Debian's Chromium (/usr/bin/chromium), as every browser test launches it.

No browser is downloaded (`playwright install` cannot reach its host here); `make test` installs
Chromium with apt-get. Without the background-networking flags Chromium keeps trying to reach
hosts it cannot reach.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):  # noqa: ANN001, ANN201
    """A headless Chromium from a Playwright (sync API) instance; fails clearly if missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get update && apt-get install -y chromium` "
                    "(make test does it).")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)
