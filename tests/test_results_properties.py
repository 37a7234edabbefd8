"""Result.load against random and truncated folders (hypothesis): it loads what can be read,
skips the rest with a warning, and never fails on a broken line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmeter_widget import Result
from llmeter_widget.endpoints.base import InvocationResponse


def responses(n: int) -> list[InvocationResponse]:
    out = []
    for i in range(n):
        r = InvocationResponse(response_text=f"answer é {i}", id=f"r{i}", t_send=float(i),
                               t_first_token=i + 0.1, t_last_token=i + 0.5, t_end=i + 0.5,
                               num_tokens_output=5, num_tokens_input=3, token_source="usage")
        if i % 4 == 3:
            r.error, r.error_type = "HTTP 500", "http_5xx"
        out.append(r.finalize())
    return out


LINES = [r.to_json() + "\n" for r in responses(12)]
WIRE = "".join(LINES).encode()


def load_jsonl(content: bytes, **files: str) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "responses.jsonl").write_bytes(content)
        for name, text in files.items():
            (folder / f"{name}.json").write_text(text)
        return Result.load(folder)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=len(WIRE)))
def test_truncated_at_any_byte_loads_every_complete_line(cut):
    result = load_jsonl(WIRE[:cut])
    # a line cut just before its "\n" is still whole JSON; any other cut line is skipped
    complete = WIRE[:cut].count(b"\n") + (1 if cut in {len("".join(LINES[:k + 1]).encode()) - 1
                                                       for k in range(len(LINES))} else 0)
    assert len(result.responses) == complete
    assert result.status == "interrupted"
    assert result.stats["total_requests"] == complete
    assert result.stats["failed_requests"] == sum(1 for r in result.responses if not r.ok)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(garbage):
    result = load_jsonl(WIRE + garbage)
    assert 12 <= len(result.responses) <= 12 + garbage.count(b"\n") + 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FIELDS = st.sampled_from(["time_to_first_token", "num_tokens_output", "request_time", "error",
                          "annotations", "t_send", "chunks", "retries", "input_prompt", "x"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(FIELDS, JSON_VALUES, max_size=4), max_size=6))
def test_lines_with_wrong_types_are_skipped_not_fatal(objects):
    lines = "".join(json.dumps(o) + "\n" for o in objects).encode()
    result = load_jsonl(WIRE + lines)
    assert len(result.responses) >= 12
    stats = result.stats  # computing stats over what loaded must work
    assert stats["total_requests"] == len(result.responses)


STATUSES = ("running", "completed", "stopped", "interrupted", "failed")
# A metadata file: any JSON, or an object whose "status" is known, unknown or of a wrong type.
METADATA = JSON_VALUES | st.fixed_dictionaries(
    {"status": st.sampled_from(STATUSES) | st.text(max_size=5) | st.integers()},
    optional={"clients": JSON_VALUES, "run_name": JSON_VALUES})


def expected_status(summary, run_status) -> str:
    """How Result.load must read the status: no summary object means the run never finished
    writing ("interrupted"); else run_status.json's status if it is a known one, else the
    summary's, else "completed"."""
    if not isinstance(summary, dict):
        return "interrupted"
    for record in (run_status, summary):
        if isinstance(record, dict) and "status" in record:
            return record["status"] if record["status"] in STATUSES else "completed"
    return "completed"


@settings(max_examples=80, deadline=None)
@given(METADATA, JSON_VALUES, METADATA)
def test_odd_summary_and_stats_files_do_not_crash(summary, stats, run_status):
    # a folder edited by hand: whatever the metadata files hold, the responses still load
    result = load_jsonl(WIRE, summary=json.dumps(summary), stats=json.dumps(stats),
                        run_status=json.dumps(run_status))
    assert len(result.responses) == 12
    assert result.status == expected_status(summary, run_status)
    stats_file = stats if isinstance(stats, dict) else None
    if stats_file is None:  # rebuilt from the 12 responses (3 of them failed)
        assert (result.stats["total_requests"], result.stats["failed_requests"]) == (12, 3)
