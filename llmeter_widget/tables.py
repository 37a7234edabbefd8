"""A list of rows that shows itself as a table: in a notebook (HTML), in a terminal (text), and
as a pandas DataFrame when pandas is installed.

`LoadTestResult.stats_table()` returns one. It stays a plain list of dicts for code (rows keep
their raw numbers: seconds, ratios), and is shown with each column's unit from the metric
registry (metrics.py) and the live table's number format (display.format_value), where it was
printed as a raw list of dicts with 16-digit floats.

Example:
    >>> table = StatsTable([{"clients": 1, "output_tps": 412.3456, "time_to_first_token-p90": 0.12345}])
    >>> table[0]["output_tps"]
    412.3456
    >>> print(table)
    clients  Output tokens/s  TTFT p90
    -------  ---------------  --------
          1        412 tok/s    123 ms
"""

from __future__ import annotations

import html
from typing import Any

from .display import format_value
from .metrics import metric_of_key, unit_of


def column_title(key: str) -> str:
    """A column's title: the metric's label and the aggregation ("TTFT p90"), or the key."""
    found = metric_of_key(key)
    if found is None:
        return key
    aggregation = key[len(found.key) + 1:] if key != found.key else ""
    return f"{found.label} {aggregation}".strip()


def cell_text(key: str, value: Any) -> str:
    """A value as the live table shows it (its unit from the registry; "—" when missing)."""
    if key == "clients" or isinstance(value, str):
        return str(value)
    return format_value(value, unit_of(key) or "")


class StatsTable(list):
    """Rows (dicts with the same keys), shown as a table. Still a list: index it, loop over it."""

    @property
    def columns(self) -> list[str]:
        return list(self[0]) if self else []

    def _cells(self) -> list[list[str]]:
        return [[cell_text(key, row.get(key)) for key in self.columns] for row in self]

    def __str__(self) -> str:
        titles = [column_title(key) for key in self.columns]
        cells = self._cells()
        widths = [max([len(t), *(len(r[i]) for r in cells)]) for i, t in enumerate(titles)]
        lines = ["  ".join(t.rjust(w) if i else t.ljust(w) for i, (t, w) in enumerate(zip(titles, widths))),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return str(self) if self else "StatsTable([])"

    def _repr_html_(self) -> str:
        head = "".join(f"<th title='{html.escape(k, quote=True)}'>{html.escape(column_title(k))}</th>"
                       for k in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:right'>{html.escape(c)}</td>"
                                        for c in row) + "</tr>" for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (raw numbers, canonical keys as columns).

        Raises ImportError naming the fix when pandas is not installed (it is not a
        dependency of this package).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pd.DataFrame(list(self), columns=self.columns)
