"""Hooks into a run, with llmeter's names.

A callback can also publish stats while the run goes on (`publish`): they join the live
table, the dashboard's charts (numbers, one point a second) and stats.json.

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

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .keys import is_builtin

if TYPE_CHECKING:
    from .endpoints.base import InvocationResponse
    from .results import Result


class Callback:
    """Base class: override the hooks you need; every hook is async and optional.

    Stats a callback adds with `result.add_stats({...})` in `after_run` are saved in
    stats.json and survive `Result.load`. Stats it `publish`es during the run are live: the
    views show them as they change, and the final values are saved the same way.

    Attributes:
        live_stats: what the live views show of this callback by default: label -> key, or a
            dict with "key", "unit", "transform", "group" (as `live_stats=` of a Runner). They
            go in the "Other" group unless a group is given.
        stat_keys: further keys this callback publishes (so `live_stats=` may name them).

    Example:
        >>> class Tokens(Callback):
        ...     live_stats = {"Tokens seen": {"key": "tokens-seen", "unit": "count"}}
        ...     async def before_run(self, run_config):
        ...         self.seen = 0
        ...     async def after_invoke(self, response):
        ...         self.seen += response.num_tokens_output or 0
        ...         self.publish({"tokens-seen": self.seen})
    """

    live_stats: Mapping[str, Any] = MappingProxyType({})
    stat_keys: Sequence[str] = ()

    async def before_run(self, run_config: dict[str, Any]) -> None:
        """Called once before the first request; `run_config` is what run_config.json holds."""

    async def before_invoke(self, payload: dict) -> None:
        """Called before each request; may modify the payload in place."""

    async def after_invoke(self, response: InvocationResponse) -> None:
        """Called after each request with its measured response (also failed ones)."""

    async def after_run(self, result: Result) -> None:
        """Called once at the end, before the result files are written, however the run ended."""

    def publish(self, values: Mapping[str, Any]) -> None:
        """Publish live stats: key -> number (or text, or None), shown and saved with the run's.

        Call it from any hook, as often as values change (it only stores them; the views read
        them a few times a second). Keys must not be built-in stat keys.

        Raises:
            ValueError: a key that is a built-in stat ("total_requests") or not text.
        """
        for key in values:
            if not isinstance(key, str) or is_builtin(key):
                raise ValueError(
                    f"{type(self).__name__} cannot publish {key!r}: it is not text or it is a "
                    "built-in stat key. Choose a name of your own, e.g. 'mycallback-total'."
                )
        self.published.update(values)
        sink = self.__dict__.get("_live_sink")
        if sink is not None:
            sink.update(values)

    @property
    def published(self) -> dict[str, Any]:
        """What this callback has published (the latest value per key)."""
        return self.__dict__.setdefault("_published", {})

    def _bind_live_stats(self, sink: dict[str, Any] | None) -> None:
        """The Runner points `publish` at the run's live stats (None: the run is over)."""
        self.__dict__["_live_sink"] = sink
        if sink is not None:
            self.published.clear()

    def to_config(self) -> dict[str, Any]:
        """What run_config.json records of this callback."""
        return {"callback_type": type(self).__name__}
