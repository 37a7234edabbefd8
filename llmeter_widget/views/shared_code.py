"""The dashboard's frontend bundle, once per kernel: one model every Dashboard shares.

anywidget keeps a widget's `_esm` in its model, so a bundle given as `_esm` is sent to the
browser, and saved in the notebook's widget state, once per dashboard (~1.25 MB each with
Plotly: issue 12). Here the bundle (llmeter_widget/static/widget.js) is the `code` trait of one
`DashboardCode` model per kernel; each Dashboard's `_esm` is the small loader
(static/loader.js, from js/loader.js) and its `_code` trait references this model, which the
loader reads through the widget manager, in a live kernel and in a notebook restored from its
saved widget state alike (docs/widget_contract.md).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import anywidget
import traitlets

STATIC = Path(__file__).parent.parent / "static"

# What a source checkout that was never built shows instead of the dashboard.
MISSING_BUNDLE = """
export default { render({ el }) {
  el.textContent = "llmeter-widget: the dashboard's frontend bundle (llmeter_widget/static/widget.js)"
    + " is missing. Build it with `npm ci && npm run build` in the project folder"
    + " (`pip install .` builds it too), then restart the kernel.";
} };
"""


def bundle_text(name: str) -> str:
    """A built file of static/ as text, or (for a source checkout not built yet) a module that
    says how to build it (for a .js file; "" for another)."""
    path = STATIC / name
    if path.exists():
        return path.read_text(encoding="utf-8")
    return MISSING_BUNDLE if name.endswith(".js") else ""


def code_version(code: str) -> str:
    """The loader's cache key for a bundle: the same text is imported once per page."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]


class DashboardCode(anywidget.AnyWidget):
    """Holds the dashboard's bundle for every Dashboard of the kernel; shows nothing itself.

    Get it with `shared_code()`, not by making one: a second instance would put a second copy
    of the bundle in the page and in the saved notebook.
    """

    # anywidget needs an `_esm`; this model is never displayed, only read by the loaders.
    _esm = "export default { render() {} };"
    code = traitlets.Unicode("").tag(sync=True)
    # static/widget.css: the loader adds it once to each root the dashboards render in (the
    # page, or a front end's shadow root), instead of anywidget's `_css` in every dashboard
    css = traitlets.Unicode("").tag(sync=True)
    version = traitlets.Unicode("").tag(sync=True)


_shared: DashboardCode | None = None
_lock = threading.Lock()


def shared_code() -> DashboardCode:
    """The kernel's one `DashboardCode`, holding static/widget.js as it is now.

    Made at first use, and made again when it was closed (`dash_code.close()`,
    `ipywidgets.Widget.close_all()`): a closed model is gone from the front end, so a new
    dashboard could not load from it.

    Example:
        >>> shared_code() is shared_code()
        True
        >>> old = shared_code(); old.close()
        >>> shared_code() is old
        False
    """
    global _shared
    with _lock:
        if _shared is None or _shared.comm is None:  # ipywidgets sets comm to None on close
            code, css = bundle_text("widget.js"), bundle_text("widget.css")
            _shared = DashboardCode(code=code, css=css, version=code_version(code + css))
        return _shared
