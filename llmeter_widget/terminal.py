"""Compatibility module: the terminal view moved to llmeter_widget/views/terminal.py.

`from llmeter_widget.terminal import TerminalView` keeps working; new code imports
`from llmeter_widget import TerminalView` or from `llmeter_widget.views`. Nothing in the package
imports this module.
"""

from .views.terminal import TerminalView, progress_line

__all__ = ["TerminalView", "progress_line"]
