"""Which view a plain `Runner.run()` shows: the choice the engine leaves to the view layer.

`default_view` is registered with `runner.set_default_view` when llmeter_widget.views is
imported (the package's `__init__` imports it, so `from llmeter_widget import Runner` is
enough). With `live_view=None` (the default) a run shows:

- in a Jupyter kernel: a read-only dashboard (`ReadOnlyView`), displayed in the cell's output;
- elsewhere, when stderr is a terminal: the live table (`TerminalView`), redrawn in place;
- otherwise (a log, CI): nothing.

`live_view=True` shows the table even when stderr is not a terminal (plain lines, then the
final table); `live_view=False` shows nothing. To show something else, register another
factory: `set_default_view(lambda runner, settings, forced: MyView(...))`.
"""

from __future__ import annotations

import sys

from ..events import RunListener
from ..runner import Runner, RunSettings
from .terminal import TerminalView


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a widget can be displayed)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def default_view(runner: Runner, settings: RunSettings, forced: bool) -> RunListener | None:
    """The listener that shows one run (see the module's docstring); None shows nothing."""
    if in_notebook():
        from IPython.display import display

        from .readonly import ReadOnlyView  # ipywidgets: loaded only in a notebook

        view = ReadOnlyView(runner, settings.clients, settings.run_duration, settings.display)
        display(view.dashboard)
        return view
    if forced or sys.stderr.isatty():
        endpoint = runner.endpoint
        return TerminalView(settings.display, title=f"{endpoint.model_id} @ {endpoint.endpoint_name}")
    return None
