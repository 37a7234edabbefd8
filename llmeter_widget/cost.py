"""CostModel: what a run costs at per-token prices, live while it runs and in stats.json.

Example:
    >>> cost = CostModel(input_per_million=0.15, output_per_million=0.60)
    >>> cost.price(input_tokens=1_000, output_tokens=500)
    0.00045

    Passed as a callback, it prices every answer by its token counts (`ep` and `payload`: an
    endpoint and a payload asking for 10 tokens; in a notebook, `await runner.run(...)`):

    >>> import asyncio
    >>> from llmeter_widget import Runner
    >>> runner = Runner(ep, payload, output_path="runs", callbacks=[cost])
    >>> result = asyncio.run(runner.run(clients=2, n_requests=2))
    >>> result.stats["total_input_tokens"], result.stats["total_output_tokens"]
    (16, 40)

    4 requests: 16 input tokens at $0.15 per million plus 40 output tokens at $0.60 per million:

    >>> result.stats["cost-total"], result.stats["cost-per_request"]
    (2.64e-05, 6.6e-06)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .callbacks import Callback

if TYPE_CHECKING:
    from .endpoints.base import InvocationResponse
    from .results import Result

# Keys CostModel publishes (all in dollars except the request counts).
COST_KEYS = ("cost-total", "cost-per_request", "cost-input", "cost-output", "cost-requests",
             "cost-unpriced_requests")


def _price(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(
            f"{name} must be a price in dollars per million tokens (a number >= 0), got {value!r}: "
            f"e.g. CostModel(input_per_million=0.15, output_per_million=0.60)."
        )
    return float(value)


class CostModel(Callback):
    """Prices every request by its input and output tokens and publishes the cost live.

    Args:
        input_per_million: dollars per million input (prompt) tokens.
        output_per_million: dollars per million output (completion) tokens.

    Live (and in stats.json at the end), in dollars:
        cost-total: the cost of every request so far; cost-per_request: its mean over the
        requests priced; cost-input / cost-output: the two parts of the total.
    At the end also: cost-requests (requests priced) and cost-unpriced_requests (requests
    whose response carried no token counts at all: usually failed ones; they cost nothing here).

    Tokens are what the server reported (`usage`), or what the client counted when it reported
    none (`token_source` "counted", an estimate). Requests cancelled by Stop are not priced
    (they reach no callback), although a server may bill what it generated for them.
    """

    live_stats = {
        "Cost so far": {"key": "cost-total", "unit": "$", "group": "Cost"},
        "Cost per request": {"key": "cost-per_request", "unit": "$", "group": "Cost"},
    }
    stat_keys = COST_KEYS

    def __init__(self, input_per_million: float, output_per_million: float) -> None:
        self.input_per_million = _price(input_per_million, "input_per_million")
        self.output_per_million = _price(output_per_million, "output_per_million")
        self._reset()

    def _reset(self) -> None:
        self.input_cost = 0.0
        self.output_cost = 0.0
        self.requests = 0
        self.unpriced_requests = 0

    @property
    def total(self) -> float:
        """Dollars so far."""
        return self.input_cost + self.output_cost

    def price(self, input_tokens: int = 0, output_tokens: int = 0) -> float:
        """Dollars for one request of these token counts."""
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6

    async def before_run(self, run_config: dict[str, Any]) -> None:
        self._reset()  # one CostModel can serve several runs (e.g. a LoadTest's levels)
        self.publish({"cost-total": 0.0, "cost-per_request": None})

    async def after_invoke(self, response: InvocationResponse) -> None:
        input_tokens = response.num_tokens_input
        output_tokens = response.num_tokens_output
        if input_tokens is None and output_tokens is None:
            self.unpriced_requests += 1
            return
        self.requests += 1
        self.input_cost += self.price(input_tokens=input_tokens or 0)
        self.output_cost += self.price(output_tokens=output_tokens or 0)
        self.publish({"cost-total": self.total, "cost-per_request": self.total / self.requests})

    async def after_run(self, result: Result) -> None:
        result.add_stats(self.totals())

    def totals(self) -> dict[str, Any]:
        """Every cost key with its value now."""
        return {
            "cost-total": self.total,
            "cost-per_request": self.total / self.requests if self.requests else None,
            "cost-input": self.input_cost,
            "cost-output": self.output_cost,
            "cost-requests": self.requests,
            "cost-unpriced_requests": self.unpriced_requests,
        }

    def to_config(self) -> dict[str, Any]:
        return {"callback_type": "CostModel", "input_per_million": self.input_per_million,
                "output_per_million": self.output_per_million}
