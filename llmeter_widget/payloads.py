"""Turn what a user passes as `payload` into a list of request bodies.

Accepts one dict, a list of dicts, or a path to a .jsonl file (one payload per line) or a .json
file (one payload or a list of them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PayloadInput = dict | list | str | os.PathLike


def load_payloads(payload: Any) -> list[dict]:
    """Normalise `payload` to a non-empty list of dicts, or raise a ValueError that says why.

    Example:
        >>> load_payloads({"messages": [{"role": "user", "content": "hi"}]})
        [{'messages': [{'role': 'user', 'content': 'hi'}]}]
    """
    if payload is None:
        raise ValueError(
            "No payload: pass payload= a dict, a list of dicts or a .jsonl path, e.g. "
            "OpenAIChatEndpoint.create_payload('Tell me a story', max_tokens=64)."
        )
    if isinstance(payload, (str, os.PathLike)):
        payloads = _read_payload_file(Path(payload))
    elif isinstance(payload, dict):
        payloads = [payload]
    elif isinstance(payload, (list, tuple)):
        payloads = list(payload)
    else:
        raise ValueError(
            f"payload must be a dict, a list of dicts or a file path, not {type(payload).__name__}."
        )
    if not payloads:
        raise ValueError("The payload list is empty: give at least one request body.")
    for i, item in enumerate(payloads):
        if not isinstance(item, dict):
            raise ValueError(f"Payload #{i} is a {type(item).__name__}, not a dict (a JSON object).")
    return payloads


def _read_payload_file(path: Path) -> list[dict]:
    if not path.exists():
        raise ValueError(f"Payload file {path} does not exist: check the path.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        payloads = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                payloads.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(
                    f"Line {number} of {path} is not valid JSON ({exc}): a .jsonl file needs one "
                    "JSON object per line."
                ) from None
        return payloads
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(
            f"{path} is not valid JSON ({exc}): use a .json file with one payload or a list, "
            "or a .jsonl file with one payload per line."
        ) from None
    return data if isinstance(data, list) else [data]
