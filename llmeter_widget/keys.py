"""The catalogue of stat keys a run reports: what a live view may show, and a check for typos.

The keys come from the metric registry (metrics.py). Every figure has one canonical key
(`time_to_first_token-p90`, `requests_per_minute`, ...; see docs/user_guide.md). Besides the
fixed keys, any percentile of a per-request metric can be asked for
(`time_to_first_token-p95`, `time_to_last_token-p99.9`): RunningStats computes it when a view
(or a caller) asks. Callbacks add their own keys (`cost-total`).

Example:
    >>> check_key("time_to_first_token-p95")
    >>> check_key("time_to_frist_token-p95")
    Traceback (most recent call last):
    ...
    ValueError: Unknown stat key 'time_to_frist_token-p95'. Did you mean 'time_to_first_token-p95'?
    Any percentile of a per-request metric works too ...
"""

from __future__ import annotations

import difflib
import re
import textwrap
from collections.abc import Iterable

from .metrics import METRICS, REGISTRY, unit_of
from .slo import is_slo_key
from .stats import parse_percentile

_LINE = 100  # the unknown-key error's lines, at most (it lists every key: ~60 of them)

# Built once: the dashboard lists them in every spec it compares, a few times a second.
_BUILTIN_KEYS: tuple[str, ...] = tuple(key for metric in REGISTRY for key in metric.keys)


def builtin_keys() -> list[str]:
    """Every fixed key a run reports, in a stable order: run-level keys, the per-metric
    aggregations, then one `errors-<class>` key per error class.

    Example:
        >>> builtin_keys()[:2], "time_to_first_token-p99" in builtin_keys()
        (['total_requests', 'failed_requests'], True)
    """
    return list(_BUILTIN_KEYS)


def is_builtin(key: str) -> bool:
    """True for a key the statistics themselves report (fixed, any percentile, any error class)."""
    return (key in _BUILTIN or key.startswith("errors-") or parse_percentile(key) is not None
            or is_slo_key(key))


def default_unit(key: str) -> str:
    """The unit a live view shows a key with when none is given.

    Example:
        >>> default_unit("time_to_first_token-p95"), default_unit("total_requests")
        ('s', 'count')
    """
    unit = unit_of(key)
    return unit if unit is not None else ""


def check_key(key: str, extra_keys: Iterable[str] = (), label: str | None = None) -> None:
    """Raise ValueError naming the key, the closest known keys and every key available.

    A key ending in "*" is a prefix ("errors-*": one cell per key that starts with "errors-").
    `extra_keys` are the keys callbacks publish.
    """
    extra = list(extra_keys)
    if key.endswith("*"):
        prefix = key[:-1]
        if any(k.startswith(prefix) for k in [*_BUILTIN, *extra]) or "errors-".startswith(prefix):
            return
    elif is_builtin(key) or key in extra:
        return
    available = list(dict.fromkeys([*builtin_keys(), *extra]))  # once each (extra may repeat them)
    close = difflib.get_close_matches(key, available, n=3, cutoff=0.6)
    metric, _, agg = key.rpartition("-")
    if re.fullmatch(r"p\d+(\.\d+)?", agg):  # a percentile of a misspelt metric: keep the percentile
        close = [f"{m}-{agg}" for m in difflib.get_close_matches(metric, METRICS, n=1)] or close
    where = f" for live stat {label!r}" if label else ""
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = textwrap.fill(", ".join(available), width=_LINE, initial_indent="  ",
                           subsequent_indent="  ", break_on_hyphens=False)
    raise ValueError(
        f"Unknown stat key {key!r}{where}.{hint}\n"
        "Any percentile of a per-request metric works too (e.g. 'time_to_first_token-p95'),\n"
        "and so do a callback's keys once it is passed in callbacks=. Available keys:\n" + listed
    )


_BUILTIN = frozenset(_BUILTIN_KEYS)
