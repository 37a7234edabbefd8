"""Compatibility module: the dashboard moved to llmeter_widget/views/ (dashboard.py,
dashboard_control.py, dashboard_traits.py, readonly.py, default.py).

`from llmeter_widget.widget import Dashboard` keeps working; new code imports
`from llmeter_widget import Dashboard` or from `llmeter_widget.views`. Nothing in the package
imports this module.
"""

from .overlays import COMPARISON_KEYS, comparison_levels, load_overlay
from .views.dashboard import DEFAULT_SWEEP_LEVELS, MODES, STATUSES, Dashboard
from .views.dashboard_traits import comparison_of
from .views.default import in_notebook
from .views.readonly import ReadOnlyView
from .views.shared_code import STATIC

__all__ = ["COMPARISON_KEYS", "DEFAULT_SWEEP_LEVELS", "Dashboard", "MODES", "ReadOnlyView",
           "STATIC", "STATUSES", "comparison_levels", "comparison_of", "in_notebook",
           "load_overlay"]
