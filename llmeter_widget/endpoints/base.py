"""What every endpoint shares: the measured response of one request, and the Endpoint protocol.

An `InvocationResponse` keeps the raw timestamps of a request (wall-clock send time, and the
monotonic send / first byte / first token / second token / first reasoning and first content
token / last token / end) and every gap between output tokens, so any metric can be derived
later; the usual ones (TTFT, TTLT, TPOT, time to second token, time to first reasoning and
first content token) are filled in by `finalize()`.

Field names follow llmeter's `InvocationResponse`, so llmeter can read our `responses.jsonl`
(fields it does not know land in its `annotations`).

A cancelled request (in flight when the run was stopped or interrupted) is saved without the
derived `time_to_first_token` llmeter averages: we leave cancelled requests out of every latency
figure, and llmeter, which has no notion of "cancelled", would average them in. Its raw
timestamps (`t_send`, `t_first_token`, ...) are saved as always, and reading the line back
derives the value again, so nothing measured is lost and a response round-trips unchanged
(our own derived timings, `time_to_second_token` and the like, follow the same rule).

`inter_token_latencies` (one gap per pair of consecutive output events) is rounded to the
microsecond by `finalize()`, so a long answer's line stays short and the record in memory is
the one saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

if TYPE_CHECKING:
    import aiohttp

# Error classes a failed request can carry (`InvocationResponse.error_type`).
ERROR_TYPES = (
    "timeout",        # the whole request, connecting, a silence between bytes, or the wait for
                      # the next token (token_timeout) took too long
    "connect",        # no connection (refused, DNS, reset before a response)
    "http_4xx",       # the server answered with a 4xx other than 429
    "rate_limited",   # HTTP 429
    "http_5xx",       # the server answered with a 5xx
    "broken_stream",  # the connection dropped after the response started
    "protocol",       # the body was not what the API promises (bad JSON, not SSE, an SSE
                      # event over max_event_bytes, ...)
    "cancelled",      # the run was stopped or interrupted while the request was in flight
    "other",          # a wrapped (llmeter) endpoint's error whose kind its text does not tell
)

# Where num_tokens_output came from: the server's usage block, or our count of content chunks
# (most servers send one token per chunk, but it is an estimate).
TOKEN_SOURCES = ("usage", "counted")


def utc_now() -> datetime:
    """Wall-clock time in UTC, with microseconds."""
    return datetime.now(timezone.utc)


def datetime_to_str(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z` suffix (the format llmeter writes)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def str_to_datetime(value: str) -> datetime:
    """Parse what `datetime_to_str` (or llmeter) wrote; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


_NUMBER = (int, float)
# What each saved field may hold (None is always allowed), checked when a file is read back.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "input_prompt": (str, dict),  # llmeter writes some prompts as dicts
    **dict.fromkeys(("response_text", "id", "error", "error_type",
                     "finish_reason", "token_source", "request_time"), (str,)),
    **dict.fromkeys(("time_to_first_token", "time_to_last_token", "time_per_output_token",
                     "time_to_second_token", "time_to_first_reasoning_token",
                     "time_to_first_content_token",
                     "t_send", "t_first_byte", "t_first_token", "t_second_token",
                     "t_first_reasoning_token", "t_first_content_token", "t_last_token", "t_end",
                     "t_scheduled", "schedule_lag", "concurrency_wait",
                     "scheduled_time_to_first_token", "scheduled_time_to_last_token"),
                    _NUMBER),
    **dict.fromkeys(("num_tokens_input", "num_tokens_output", "num_tokens_input_cached",
                     "num_tokens_output_reasoning", "retries", "http_status", "chunks"), (int,)),
    "slo_pass": (bool,),
    "phase": (str,),
    "input_payload": (dict,),
    "annotations": (dict,),
    "inter_token_latencies": (list,),
}
# Fields that hold a list of numbers (_FIELD_TYPES says list; each element is checked too).
_NUMBER_LISTS = frozenset({"inter_token_latencies"})


# Derived by `finalize()` from the raw timestamps: the three llmeter averages, and ours.
_DERIVED_TIMINGS = ("time_to_first_token", "time_to_last_token", "time_per_output_token",
                    "time_to_second_token", "time_to_first_reasoning_token",
                    "time_to_first_content_token")


def _check_type(name: str, value: Any) -> None:
    """Raise ValueError if a saved field's value is not of the type it may hold."""
    expected = _FIELD_TYPES.get(name)
    if value is None or not expected:
        return
    if not isinstance(value, expected) or isinstance(value, bool) and bool not in expected:
        raise ValueError(f"field {name!r} holds {type(value).__name__} {value!r:.40}")
    if name in _NUMBER_LISTS:
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, _NUMBER):
                raise ValueError(
                    f"field {name!r} holds {type(item).__name__} {item!r:.40} at index {i}; "
                    "it is a list of numbers (seconds)"
                )


@dataclass
class InvocationResponse:
    """The measured outcome of one request.

    Times named `t_*` are `time.perf_counter()` readings (seconds, monotonic, comparable within
    one process only); `request_time` is the wall-clock send time in UTC. Durations are seconds.

    An output event is a streamed event that carries output text, content or reasoning (the
    `reasoning_content` / `reasoning` delta fields of vLLM, SGLang, DeepSeek, OpenRouter):

    - `t_first_token` / `time_to_first_token`: the first output event of either kind;
    - `t_second_token` / `time_to_second_token`: the second output event (None with fewer);
    - `t_first_reasoning_token` / `time_to_first_reasoning_token`: the first reasoning event
      (None when the answer had no reasoning);
    - `t_first_content_token` / `time_to_first_content_token`: the first content event (None
      when no content arrived, e.g. a reasoning model cut off by max_tokens);
    - `inter_token_latencies`: the gap before each output event after the first, in order
      (len = output events - 1; None with fewer than two, or without streaming). The arrival
      time is stamped per network read, so events that came in one read share it and their
      gap is 0: a real 0 (the client saw them at once), kept, not a missing value.

    Without streaming the whole answer arrives at once: the first token, first content and
    first reasoning times (those the message has) are all its arrival time.

    Example:
        >>> r = InvocationResponse(response_text="hi", t_send=10.0, t_first_token=10.25,
        ...                        t_last_token=10.75, num_tokens_output=3)
        >>> r.finalize().time_to_first_token, r.time_per_output_token
        (0.25, 0.25)
    """

    response_text: str | None = None
    input_payload: dict | None = None
    id: str | None = None
    input_prompt: str | None = None
    time_to_first_token: float | None = None
    time_to_last_token: float | None = None
    num_tokens_input: int | None = None
    num_tokens_output: int | None = None
    num_tokens_input_cached: int | None = None
    num_tokens_output_reasoning: int | None = None
    time_per_output_token: float | None = None
    # ours, derived by finalize() like the three above (see the class docstring)
    time_to_second_token: float | None = None
    time_to_first_reasoning_token: float | None = None
    time_to_first_content_token: float | None = None
    error: str | None = None
    retries: int | None = None
    request_time: datetime | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    # -- our additions (raw timings and provenance) --
    error_type: str | None = None
    http_status: int | None = None
    finish_reason: str | None = None
    token_source: str | None = None
    chunks: int = 0
    t_send: float | None = None
    t_first_byte: float | None = None
    t_first_token: float | None = None
    t_second_token: float | None = None
    t_first_reasoning_token: float | None = None
    t_first_content_token: float | None = None
    t_last_token: float | None = None
    t_end: float | None = None
    inter_token_latencies: list[float] | None = None
    # -- an open-loop run's schedule (None in a closed loop): see set_schedule --
    t_scheduled: float | None = None
    schedule_lag: float | None = None
    concurrency_wait: float | None = None
    scheduled_time_to_first_token: float | None = None
    scheduled_time_to_last_token: float | None = None
    # -- how the run counts it (set where the run records it; None in older files) --
    # Met the run's SLO when recorded (slo.py): None without an SLO, or cancelled.
    slo_pass: bool | None = None
    # "warmup" or "cooldown": saved, but left out of the stats (phases.py); None: measured.
    phase: str | None = None

    @property
    def ok(self) -> bool:
        """True when the request succeeded."""
        return self.error is None

    def finalize(self) -> InvocationResponse:
        """Derive TTFT, TTLT, TPOT and the other `time_to_*` from the raw timestamps; returns
        self.

        TPOT = (TTLT - TTFT) / (output tokens - 1): the mean gap between output tokens. It is
        left empty with fewer than two tokens. A request that failed after its first token keeps
        its TTFT (what was measured is not thrown away), and so its time to second, first
        reasoning and first content token.

        The gaps (`inter_token_latencies`) are rounded to the microsecond, once per response
        (not per token), so the record in memory is the one `to_dict` saves.
        """
        if self.inter_token_latencies is not None:
            self.inter_token_latencies = [round(gap, 6) for gap in self.inter_token_latencies]
        t_send = self.t_send
        if t_send is not None:
            if self.t_first_token is not None:
                self.time_to_first_token = self.t_first_token - t_send
            if self.t_second_token is not None:
                self.time_to_second_token = self.t_second_token - t_send
            if self.t_first_reasoning_token is not None:
                self.time_to_first_reasoning_token = self.t_first_reasoning_token - t_send
            if self.t_first_content_token is not None:
                self.time_to_first_content_token = self.t_first_content_token - t_send
        if self.ok and self.t_send is not None and self.t_last_token is not None:
            self.time_to_last_token = self.t_last_token - self.t_send
        if (
            self.time_to_first_token is not None
            and self.time_to_last_token is not None
            and self.num_tokens_output is not None
            and self.num_tokens_output > 1
        ):
            self.time_per_output_token = (self.time_to_last_token - self.time_to_first_token) / (
                self.num_tokens_output - 1
            )
        return self

    def set_schedule(self, t_scheduled: float, concurrency_wait: float | None = None,
                     ) -> InvocationResponse:
        """Record when an open-loop run meant to send this request; returns self.

        `schedule_lag` is how late it went out (`t_send - t_scheduled`: a generator that could
        not keep up, or a wait for a `max_concurrency` slot, `concurrency_wait` of it), and the
        `scheduled_time_to_*` count from the intended send: what a user of an overloaded
        service waits, where `time_to_*` (from the actual send) would hide the queue.

        Example:
            >>> r = InvocationResponse(t_send=10.5, t_first_token=11.0, t_last_token=12.0)
            >>> r.finalize().set_schedule(10.0, 0.25).schedule_lag
            0.5
            >>> r.scheduled_time_to_first_token, r.time_to_first_token
            (1.0, 0.5)
        """
        self.t_scheduled = t_scheduled
        self.concurrency_wait = concurrency_wait
        if self.t_send is not None:
            self.schedule_lag = max(0.0, self.t_send - t_scheduled)
        if self.t_first_token is not None:
            self.scheduled_time_to_first_token = self.t_first_token - t_scheduled
        if self.time_to_last_token is not None and self.t_last_token is not None:
            self.scheduled_time_to_last_token = self.t_last_token - t_scheduled
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO strings): the record as saved.

        A shallow copy (not dataclasses.asdict, which deep-copies the payload): this runs once
        per response on the event loop the clients share. A cancelled request's derived
        timings are left empty when its raw timestamps give them back (see the module
        docstring); `from_dict` derives them again. `inter_token_latencies` are saved as
        `finalize()` left them (rounded to the microsecond there, once).
        """
        data = dict(self.__dict__)
        data["annotations"] = dict(self.annotations)
        if self.request_time is not None:
            data["request_time"] = datetime_to_str(self.request_time)
        if self.error_type == "cancelled":
            derived = self._derived_timings()
            for name, value in derived.items():
                if value is not None and data[name] == value:
                    data[name] = None
        return data

    def _derived_timings(self) -> dict[str, float | None]:
        """What `finalize()` derives from the raw timestamps alone (this response unchanged)."""
        bare = replace(self, inter_token_latencies=None, **dict.fromkeys(_DERIVED_TIMINGS))
        bare.finalize()
        return {name: getattr(bare, name) for name in _DERIVED_TIMINGS}

    def to_json(self) -> str:
        """One line of `responses.jsonl`.

        orjson (several times faster than json: this runs once per response in the process
        that merges a run); the standard library for what orjson refuses (an integer beyond
        64 bits in a payload).
        """
        data = self.to_dict()
        try:
            return orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except orjson.JSONEncodeError:
            return json.dumps(data, default=str, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvocationResponse:
        """Rebuild a response from `to_dict()` output (or from a line llmeter wrote).

        Keys we do not know go to `annotations`, so newer or foreign files still load.
        Raises ValueError for a value of the wrong type (a file edited by hand, or corrupt), so
        a reader can skip that line instead of failing later on a string where a number goes.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        extras = {k: v for k, v in data.items() if k not in known}
        if extras:
            annotations = values.get("annotations")
            values["annotations"] = {**extras, **(annotations if isinstance(annotations, dict) else {})}
        for name, value in values.items():
            _check_type(name, value)
        if isinstance(values.get("request_time"), str):
            values["request_time"] = str_to_datetime(values["request_time"])
        response = cls(**values)
        if response.error_type == "cancelled":  # saved without its derived timings: derive them
            for name, value in response._derived_timings().items():
                if getattr(response, name) is None:
                    setattr(response, name, value)
        return response

    @classmethod
    def from_json(cls, line: str) -> InvocationResponse:
        """Parse one line of `responses.jsonl`."""
        return cls.from_dict(json.loads(line))


@runtime_checkable
class Endpoint(Protocol):
    """How one request is made and timed. The runner owns the HTTP session and passes it in.

    An endpoint never raises for a failed request: it returns an `InvocationResponse` with
    `error` and `error_type` set, keeping whatever it measured before the failure.
    """

    model_id: str
    endpoint_name: str
    provider: str

    async def invoke(self, session: aiohttp.ClientSession, payload: dict) -> InvocationResponse:
        """Send `payload`, stream the answer, and return the measured response."""
        ...

    def to_config(self) -> dict[str, Any]:
        """A JSON-ready description for run_config.json, with every secret left out."""
        ...
