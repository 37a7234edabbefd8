"""llmeter-widget: a live, notebook-first load tester for OpenAI-compatible LLM endpoints.

Example:
    >>> from llmeter_widget import Runner, Result
    >>> from llmeter_widget.endpoints import OpenAIChatEndpoint
    >>> from llmeter_widget.simulator import SimulatedServer
    >>> async def main():                                             # doctest: +SKIP
    ...     async with SimulatedServer() as server:
    ...         ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    ...         runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi"), output_path="runs")
    ...         result = await runner.run(clients=8, run_duration=10)
    ...         return Result.load(result.output_path)
"""

from .callbacks import Callback
from .cost import CostModel
from .display import DEFAULT_GROUPS, DEFAULT_STATS, DisplaySpec, StatSpec
from .terminal import TerminalView
from .endpoints.base import InvocationResponse
from .experiments import LoadTest, LoadTestResult
from .results import Result
from .runner import Runner
from .stats import RunningStats

__version__ = "0.1.0"


def __getattr__(name: str):
    # The dashboard pulls in ipywidgets: load it only when asked, so the CLI starts fast.
    if name == "Dashboard":
        from .widget import Dashboard

        return Dashboard
    raise AttributeError(f"module 'llmeter_widget' has no attribute {name!r}")


__all__ = [
    "Callback",
    "CostModel",
    "DEFAULT_GROUPS",
    "DEFAULT_STATS",
    "Dashboard",
    "DisplaySpec",
    "InvocationResponse",
    "LoadTest",
    "LoadTestResult",
    "Result",
    "Runner",
    "RunningStats",
    "StatSpec",
    "TerminalView",
    "__version__",
]
