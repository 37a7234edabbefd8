"""What the live views show: one spec, and how a value is formatted.

One spec, used by the terminal table (terminal.py) and by the dashboard widget: which stats
appear, under which label, unit and group. Labels and groups are display properties: the
statistics code only knows canonical keys (`time_to_first_token-p50`, `requests_per_minute`,
...). `DisplaySpec.from_live_stats` turns a caller's `live_stats=` mapping into one, checking
every key.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Union

from .keys import check_key, default_unit
from .metrics import default_table, group_of_key, metric
from .slo import ATTAINMENT_KEY, ATTAINMENT_PREFIX, Slo

logger = logging.getLogger(__name__)

# Group name -> key patterns (regular expressions searched in the stat key); first match wins.
# Built-in keys have their group in the metric registry; the patterns place callbacks' keys.
# An immutable default, so callers can pass their own `groups=` (the review of llmeter PR 58).
DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Throughput", (r"requests_per_minute", r"_tps$", r"per_minute",
                    r"^(total|successful)_requests$")),
    ("SLO", (r"^goodput-", r"^slo_attainment")),
    ("TTFT", (r"^time_to_first_token",)),
    ("TTLT", (r"^time_to_last_token",)),
    ("Tokens", (r"token",)),
    ("Errors", (r"fail", r"^errors-", r"cancel")),
    ("Other", (r"",)),
)


Transform = Union[str, float, Callable[[Any], Any], None]


@dataclass(frozen=True)
class StatSpec:
    """One cell of the live table.

    key: a canonical stat key, or a prefix ending in "*" ("errors-*"): one cell for each key
        of the stats that starts with the prefix, labelled by the rest of the key (each error
        class as it appears).
    unit: "s" (shown as ms below one second), "%" (a 0..1 ratio shown as percent),
        "count", "$" (money), or any free text shown after the number ("req/min", "tok/s").
    invert: show 1/value (e.g. TPOT as tokens per second).
    group: force a group instead of matching the key against the group patterns.
    scale: multiply the value (after `invert`) before showing it (e.g. 1000 for "per 1k").
    transform: any function of the value, run in Python (the dashboard receives its result).
    """

    label: str
    key: str
    unit: str = ""
    invert: bool = False
    group: str | None = None
    scale: float = 1.0
    transform: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def shown_key(self) -> str:
        """The key the dashboard reads: the stat's own, or one holding the transformed value."""
        return f"{self.key}|{self.label}" if self.transform is not None else self.key

    def value(self, stats: dict[str, Any]) -> Any:
        """The stat's value in `stats`, after `transform` (not `invert`/`scale`: formatting does those)."""
        value = stats.get(self.key)
        if self.transform is None or value is None or isinstance(value, str):
            return value
        try:
            return self.transform(value)
        except Exception:  # a view must not end a run: show a placeholder instead
            logger.debug("transform of %r failed on %r", self.label, value, exc_info=True)
            return None

    def format(self, stats: dict[str, Any]) -> str:
        return format_value(self.value(stats), self.unit, self.invert, self.scale)


# What a live_stats mapping's values may be: a key, a StatSpec, or a dict of StatSpec fields.
LiveStat = Union[str, StatSpec, Mapping[str, Any]]
LiveStats = Union[Mapping[str, LiveStat], Sequence[StatSpec]]
_STAT_FIELDS = ("key", "unit", "transform", "group", "invert", "scale")


def group_of(key: str, groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS) -> str:
    """The group of a key: the registry's for a built-in key (with the default groups), else
    the first group whose patterns match it ("Other" if none)."""
    if groups is DEFAULT_GROUPS:
        known = group_of_key(key)
        if known is not None:
            return known
    return _group_by_patterns(key, groups)


def _group_by_patterns(key: str, groups: Sequence[tuple[str, Sequence[str]]]) -> str:
    for name, patterns in groups:
        if any(re.search(p, key) for p in patterns):
            return name
    return "Other"


# The default table, from the metric registry: each metric's cells, group by group. A cell
# names its group only where the patterns would not find it (so a caller's own `groups=` can
# still regroup the others).
DEFAULT_STATS: tuple[StatSpec, ...] = tuple(
    StatSpec(label, key, unit, invert=invert,
             group=None if _group_by_patterns(key, DEFAULT_GROUPS) == group else group)
    for label, key, unit, invert, group in default_table()
)

def _currency(value: float) -> str:
    """'$1,234', '$3.26', '$0.0123' (three significant digits below a dollar), '-$3.26'."""
    size = abs(value)
    if size >= 100:
        text = f"{size:,.0f}"
    elif size >= 1 or size == 0:
        text = f"{size:.2f}"
    else:
        text = f"{size:.{min(8, 2 - math.floor(math.log10(size)))}f}"
    return f"{'-' if value < 0 else ''}${text}"


def format_value(value: Any, unit: str = "", invert: bool = False, scale: float = 1.0) -> str:
    """Format a stat for a person: '—' until there is a value.

    Example:
        >>> format_value(0.1834, "s"), format_value(2.5, "s"), format_value(0.021, "%")
        ('183 ms', '2.50 s', '2.1%')
        >>> format_value(12345, "count"), format_value(None, "s"), format_value(0.02, "tok/s", invert=True)
        ('12,345', '—', '50.0 tok/s')
        >>> format_value(0.000123456, "$"), format_value(0.5, "¢", scale=100)
        ('$0.000123', '50.0 ¢')
    """
    if value is None or isinstance(value, str):
        return "—" if value is None else value
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if invert:
        if value == 0:
            return "—"
        value = 1.0 / value
    if scale != 1:
        value = value * scale
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{int(round(value)):,}"
    if unit == "$":
        return _currency(value)
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return f"{number} {unit}".rstrip()


def _check_groups(groups: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Groups as ((name, (pattern, ...)), ...); a mapping {name: patterns} is accepted too."""
    items = groups.items() if isinstance(groups, Mapping) else groups
    checked = []
    try:
        pairs = [(name, patterns) for name, patterns in items]
    except (TypeError, ValueError):
        raise ValueError(
            f"groups must be (name, patterns) pairs, e.g. (('Latency', ('^time_to',)), ...), "
            f"got {groups!r}."
        ) from None
    for name, patterns in pairs:
        patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise ValueError(
                    f"Group {name!r} has an invalid pattern {pattern!r} ({exc}): patterns are "
                    "regular expressions searched in the stat key, e.g. '^time_to_first_token'."
                ) from None
        checked.append((str(name), patterns))
    return tuple(checked)


def _transform_fields(transform: Transform, label: str) -> dict[str, Any]:
    """The StatSpec fields a transform sets: invert, scale or a Python function."""
    if transform is None:
        return {}
    if isinstance(transform, str):
        if transform in ("inverse", "invert"):
            return {"invert": True}
        raise ValueError(
            f"Live stat {label!r}: unknown transform {transform!r}. Use 'inverse' (1/value), "
            "a number to multiply by, or a function of the value."
        )
    if isinstance(transform, (int, float)) and not isinstance(transform, bool):
        return {"scale": float(transform)}
    if callable(transform):
        return {"transform": transform}
    raise ValueError(f"Live stat {label!r}: transform must be 'inverse', a number or a function, "
                     f"got {transform!r}.")


def live_stat(label: str, value: LiveStat, declared: Mapping[str, StatSpec] | None = None) -> StatSpec:
    """One entry of a live_stats mapping as a StatSpec, with the key's default unit.

    `declared`: key -> the StatSpec a callback declares for it (see `declared_stats`); a key it
    holds gets that unit and group unless the entry gives its own.

    Example:
        >>> live_stat("p99 TTFT", "time_to_first_token-p99")
        StatSpec(label='p99 TTFT', key='time_to_first_token-p99', unit='s', invert=False, group=None, scale=1.0)
        >>> live_stat("tok/s", {"key": "time_per_output_token-p50", "unit": "tok/s", "transform": "inverse"}).invert
        True
    """
    if not isinstance(label, str):
        raise ValueError(f"A live stat's label must be text, got {label!r}.")
    if isinstance(value, StatSpec):
        return replace(value, label=label)
    if isinstance(value, str):
        value = {"key": value}
    if isinstance(value, Mapping):
        unknown = set(value) - set(_STAT_FIELDS)
        if "key" not in value or unknown:
            raise ValueError(
                f"Live stat {label!r}: give a dict with 'key' and optionally {', '.join(_STAT_FIELDS[1:])}; "
                f"got {dict(value)!r}."
            )
        key = value["key"]
        base = (declared or {}).get(key)
        unit = value.get("unit")
        fields = {"unit": unit if unit is not None else (base.unit if base else default_unit(key)),
                  "group": value.get("group") or (base.group if base else None),
                  "invert": bool(value.get("invert", False)), "scale": float(value.get("scale", 1.0))}
        fields.update(_transform_fields(value.get("transform"), label))
        return StatSpec(label, key, **fields)
    raise ValueError(
        f"Live stat {label!r}: expected a stat key (e.g. 'time_to_first_token-p99'), a dict "
        f"{{'key': ..., 'unit': ..., 'transform': ..., 'group': ...}} or a StatSpec, got {value!r}."
    )


class DisplaySpec:
    """The stats a live view shows, grouped.

    Example:
        >>> spec = DisplaySpec()
        >>> [name for name, _ in spec.grouped()][:3]
        ['Throughput', 'TTFT', 'TTLT']
        >>> spec = DisplaySpec.from_live_stats({"p99 TTFT": "time_to_first_token-p99"})
        >>> spec.rows({"time_to_first_token-p99": 0.25})
        [('TTFT', [('p99 TTFT', '250 ms')])]
    """

    def __init__(
        self,
        stats: Sequence[StatSpec] = DEFAULT_STATS,
        groups: Sequence[tuple[str, Sequence[str]]] = DEFAULT_GROUPS,
    ) -> None:
        self.stats = tuple(stats)
        self.groups = _check_groups(groups)

    @classmethod
    def from_live_stats(
        cls,
        live_stats: LiveStats | DisplaySpec | None = None,
        groups: Sequence[tuple[str, Sequence[str]]] | Mapping[str, Sequence[str]] = DEFAULT_GROUPS,
        callbacks: Sequence[Any] = (),
    ) -> DisplaySpec:
        """The spec for a `live_stats=` argument, with every key checked.

        Args:
            live_stats: None (the default table, plus what each callback declares in its
                `live_stats`), a mapping label -> key / dict / StatSpec (exactly these, in
                this order), a sequence of StatSpec, `{}` (no table), or a DisplaySpec.
            groups: (name, key patterns) pairs, matched in order (first match wins).
            callbacks: their `live_stats` are shown by default, their `stat_keys` accepted.

        Raises:
            ValueError: an unknown key (listing the available ones), a bad transform or group.
        """
        if isinstance(live_stats, DisplaySpec):
            return live_stats
        extra_keys = callback_keys(callbacks)
        declared = declared_stats(callbacks)
        if live_stats is None:
            stats = [*DEFAULT_STATS, *declared.values()]
        elif isinstance(live_stats, Mapping):
            stats = [live_stat(label, value, declared) for label, value in live_stats.items()]
        elif isinstance(live_stats, (list, tuple)) and all(isinstance(s, StatSpec) for s in live_stats):
            stats = list(live_stats)
        else:
            raise ValueError(
                "live_stats must map labels to stat keys, e.g. {'p99 TTFT': "
                f"'time_to_first_token-p99'}} (or be None for the default table), got {live_stats!r}."
            )
        for stat in stats:
            check_key(stat.key, extra_keys, stat.label or None)
        return cls(stats, groups)

    # -- editing (the dashboard adds and removes stats while a run goes on) ----------------------
    def stat_id(self, stat: StatSpec) -> str:
        """A cell's identity: "<group>/<label>" ("TTFT/p50")."""
        return f"{stat.group or group_of(stat.key, self.groups)}/{stat.label}"

    def with_stat(self, stat: StatSpec) -> DisplaySpec:
        """This spec plus one stat (replacing a stat with the same id)."""
        new_id = self.stat_id(stat)
        kept = [s for s in self.stats if self.stat_id(s) != new_id]
        return DisplaySpec([*kept, stat], self.groups)

    def without(self, stat_id: str, stats: dict[str, Any] | None = None) -> DisplaySpec:
        """This spec without the stat whose id is `stat_id`.

        A cell that a prefix made ("errors-*" -> "Errors/timeout") is removed by replacing the
        prefix with the cells it shows in `stats` now, minus that one.

        Raises:
            KeyError: no stat has that id.
        """
        kept = [s for s in self.stats if self.stat_id(s) != stat_id]
        if len(kept) < len(self.stats):
            return DisplaySpec(kept, self.groups)
        if stats is not None:
            resolved = self.resolve(stats)
            if resolved is not self:
                return resolved.without(stat_id)
        raise KeyError(stat_id)

    def with_slo(self, slo: Slo | Mapping[str, float] | None) -> DisplaySpec:
        """This spec with the SLO group of `slo` (`slo_stats`), in place of any it had; None:
        without one. The default table of a run with an SLO is `DisplaySpec().with_slo(slo)`.

        Example:
            >>> spec = DisplaySpec().with_slo({"time_to_first_token": 0.5})
            >>> [s.label for s in dict(spec.grouped())["SLO"]]
            ['Goodput', 'Attainment', 'TTFT ≤ 500 ms']
        """
        kept = [s for s in self.stats
                if not (s.group == "SLO" and (s.key.startswith("goodput-")
                                              or s.key.startswith(ATTAINMENT_KEY)))]
        return DisplaySpec([*kept, *slo_stats(Slo.of(slo))], self.groups)

    def keys(self) -> list[str]:
        """The stat keys this spec reads (prefixes left out)."""
        return [s.key for s in self.stats if not s.key.endswith("*")]

    # -- reading ---------------------------------------------------------------------------------
    def resolve(self, stats: dict[str, Any]) -> DisplaySpec:
        """This spec with every prefix ("errors-*") replaced by the matching keys of `stats`."""
        if not any(s.key.endswith("*") for s in self.stats):
            return self
        concrete: list[StatSpec] = []
        for stat in self.stats:
            if not stat.key.endswith("*"):
                concrete.append(stat)
                continue
            prefix = stat.key[:-1]
            group = stat.group or group_of(prefix, self.groups)
            concrete.extend(
                replace(stat, label=stat.label or key[len(prefix):], key=key, group=group)
                for key in sorted(stats) if key.startswith(prefix)
            )
        return DisplaySpec(concrete, self.groups)

    def grouped(self) -> list[tuple[str, list[StatSpec]]]:
        """[(group name, [stat, ...]), ...] in group order, empty groups left out.

        Prefix entries ("errors-*") are left out here: `resolve(stats)` first.
        """
        by_group: dict[str, list[StatSpec]] = {name: [] for name, _ in self.groups}
        by_group.setdefault("Other", [])
        for stat in self.stats:
            if stat.key.endswith("*"):
                continue
            name = stat.group or group_of(stat.key, self.groups)
            by_group.setdefault(name, []).append(stat)
        return [(name, items) for name, items in by_group.items() if items]

    def shown_values(self, stats: dict[str, Any]) -> dict[str, Any]:
        """The values of stats with a Python `transform`, under their `shown_key`: what the
        dashboard adds to the stats it sends, since the function cannot run in the browser."""
        return {s.shown_key: s.value(stats) for s in self.stats if s.transform is not None}

    def to_json(self, available: Sequence[str] | None = None) -> dict[str, Any]:
        """The spec as the widget receives it (see docs/widget_contract.md)."""
        def cell(stat: StatSpec) -> dict[str, Any]:
            invert, scale = stat.invert, stat.scale
            return {"id": self.stat_id(stat), "label": stat.label, "key": stat.shown_key,
                    "unit": stat.unit, "invert": invert, "scale": scale, "group": stat.group}

        spec: dict[str, Any] = {
            "groups": [{"name": name, "stats": [cell(s) for s in items]} for name, items in self.grouped()]
        }
        if available is not None:
            spec["available"] = sorted(available)
        return spec

    def rows(self, stats: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
        """[(group, [(label, formatted value), ...]), ...] for one stats dict."""
        return [
            (name, [(s.label, s.format(stats)) for s in items])
            for name, items in self.resolve(stats).grouped()
        ]


def slo_stats(slo: Slo | None) -> list[StatSpec]:
    """The table cells of an SLO (group "SLO"): goodput, attainment, and each threshold's
    attainment labelled with its limit ("TTFT ≤ 500 ms"); none without an SLO."""
    if slo is None:
        return []
    cells = [StatSpec("Goodput", "goodput-requests_per_minute", "req/min", group="SLO"),
             StatSpec("Attainment", ATTAINMENT_KEY, "%", group="SLO")]
    for name, limit in slo.thresholds.items():
        found = metric(name)
        cells.append(StatSpec(f"{found.label} ≤ {format_value(limit, found.unit)}",
                              ATTAINMENT_PREFIX + name, "%", group="SLO"))
    return cells


def declared_stats(callbacks: Sequence[Any]) -> dict[str, StatSpec]:
    """key -> StatSpec for the cells callbacks declare in their `live_stats` (first one wins)."""
    declared: dict[str, StatSpec] = {}
    for callback in callbacks:
        for label, value in (getattr(callback, "live_stats", None) or {}).items():
            stat = live_stat(label, value)
            declared.setdefault(stat.key, stat)
    return declared


def callback_keys(callbacks: Sequence[Any]) -> list[str]:
    """The stat keys callbacks publish: each one's `stat_keys`, and the keys of its `live_stats`."""
    keys = [key for callback in callbacks for key in getattr(callback, "stat_keys", ()) or ()]
    return list(dict.fromkeys([*keys, *declared_stats(callbacks)]))
