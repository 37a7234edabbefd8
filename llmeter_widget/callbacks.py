"""Hooks into a run, with llmeter's names.

Example:
    >>> class CountTokens(Callback):
    ...     def __init__(self):
    ...         self.tokens = 0
    ...     async def after_invoke(self, response):
    ...         self.tokens += response.num_tokens_output or 0
    ...     async def after_run(self, result):
    ...         result.add_stats({"tokens_seen": self.tokens})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .endpoints.base import InvocationResponse
    from .results import Result


class Callback:
    """Base class: override the hooks you need; every hook is async and optional.

    Stats a callback adds with `result.add_stats({...})` in `after_run` are saved in
    stats.json and survive `Result.load`.
    """

    async def before_run(self, run_config: dict[str, Any]) -> None:
        """Called once before the first request; `run_config` is what run_config.json holds."""

    async def before_invoke(self, payload: dict) -> None:
        """Called before each request; may modify the payload in place."""

    async def after_invoke(self, response: InvocationResponse) -> None:
        """Called after each request with its measured response (also failed ones)."""

    async def after_run(self, result: Result) -> None:
        """Called once at the end, before the result files are written, however the run ended."""

    def to_config(self) -> dict[str, Any]:
        """What run_config.json records of this callback."""
        return {"callback_type": type(self).__name__}
