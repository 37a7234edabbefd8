"""The views: subscribers to run events (events.py), never called by the engine.

- terminal.py: `TerminalView`, the live table in a terminal;
- dashboard.py (+ dashboard_control.py, dashboard_traits.py): `Dashboard`, the anywidget;
- readonly.py: `ReadOnlyView`, the dashboard without controls a plain run shows in a notebook;
- default.py: which of them a plain `Runner.run()` shows, registered here with the Runner.

Importing this package registers that choice; the dashboard (ipywidgets, anywidget) is loaded
only when it is asked for, so the command line starts fast.
"""

from __future__ import annotations

from ..runner import set_default_view
from .default import default_view, in_notebook
from .terminal import TerminalView, progress_line

set_default_view(default_view)


def __getattr__(name: str):
    if name == "Dashboard":
        from .dashboard import Dashboard

        return Dashboard
    if name == "ReadOnlyView":
        from .readonly import ReadOnlyView

        return ReadOnlyView
    raise AttributeError(f"module 'llmeter_widget.views' has no attribute {name!r}")


__all__ = ["Dashboard", "ReadOnlyView", "TerminalView", "default_view", "in_notebook",
           "progress_line"]
