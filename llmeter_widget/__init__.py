"""llmeter-widget: a live, notebook-first load tester for OpenAI-compatible LLM endpoints.

Example: a load test of the built-in simulated server, as a script (in a notebook cell,
`await main()` instead of `asyncio.run(main())`).

    >>> import asyncio
    >>> from llmeter_widget import Runner, Result
    >>> from llmeter_widget.endpoints import OpenAIChatEndpoint
    >>> from llmeter_widget.simulator import SimulatedServer
    >>> async def main():
    ...     async with SimulatedServer() as server:
    ...         ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    ...         payload = OpenAIChatEndpoint.create_payload("Hi", max_tokens=8)
    ...         runner = Runner(ep, payload, output_path="runs")
    ...         result = await runner.run(clients=2, n_requests=3)  # 3 requests per client
    ...         return Result.load(result.output_path)
    >>> result = asyncio.run(main())
    >>> result.status, result.stats["total_requests"], result.stats["failed_requests"]
    ('completed', 6, 0)
"""

from .callbacks import Callback
from .cost import CostModel
from .display import DEFAULT_GROUPS, DEFAULT_STATS, DisplaySpec, StatSpec
from .endpoints.base import InvocationResponse
from .events import RunListener
from .experiments import LoadTest, LoadTestResult
from .load import Ramp, Steps
from .results import Result
from .runner import Runner
from .slo import Slo
from .stats import RunningStats

# The views subscribe to the engine's run events; importing them registers what a plain
# Runner.run() shows (views/default.py). The engine itself imports no view.
from .views import TerminalView

__version__ = "0.1.0"


def __getattr__(name: str):
    # The dashboard pulls in ipywidgets: load it only when asked, so the CLI starts fast.
    if name == "Dashboard":
        from .views.dashboard import Dashboard

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
    "Ramp",
    "Result",
    "Runner",
    "Slo",
    "RunListener",
    "RunningStats",
    "StatSpec",
    "Steps",
    "TerminalView",
    "__version__",
]
