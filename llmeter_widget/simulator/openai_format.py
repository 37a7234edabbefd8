"""OpenAI-shaped bodies: streamed SSE chunks, full responses, errors.

Streamed chunks are pre-encoded once per request: a token chunk is `head + token_json + tail`, a
bytes concatenation, so a server feeding hundreds of streams does no JSON work per token.
"""

from __future__ import annotations

import json
from typing import Any

from .text import TOKEN_JSON

DONE = b"data: [DONE]\n\n"

_MARK = "\x01token\x01"


def _dumps(obj: Any) -> str:
    # compact, like OpenAI's own output
    return json.dumps(obj, separators=(",", ":"))


def _sse(obj: Any) -> bytes:
    return b"data: " + _dumps(obj).encode() + b"\n\n"


def usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> dict[str, Any]:
    """An OpenAI `usage` object; with reasoning, `completion_tokens_details.reasoning_tokens`
    says how many of the completion tokens were reasoning."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return body


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class StreamChunks:
    """The SSE chunks of one streamed answer, chat (`chat=True`) or text completion.

    Chat: a role-only first chunk, `delta.content` per token (`delta.reasoning_content` per
    reasoning token, with `reasoning=True`), a finish chunk with an empty delta.
    Completions: `choices[0].text` per token, a finish chunk with empty text. With
    `include_usage`, every chunk carries `"usage": null` and a last chunk has `"choices": []` and
    the usage (as OpenAI does with stream_options.include_usage).
    """

    def __init__(self, *, chat: bool, id: str, created: int, model: str,
                 include_usage: bool, reasoning: bool = False) -> None:
        self.chat = chat
        self._base = {
            "id": id,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._head, self._tail = self._template("content")
        if reasoning and chat:
            self._reasoning_head, self._reasoning_tail = self._template("reasoning_content")

    def _template(self, key: str) -> tuple[bytes, bytes]:
        """The bytes before and after the token's JSON string in a token chunk."""
        head, _, tail = _dumps(self._chunk(_MARK, None, key=key)).rpartition(_dumps(_MARK))
        return b"data: " + head.encode(), tail.encode() + b"\n\n"

    def _chunk(self, content: Any, finish_reason: str | None, *, role: bool = False,
               key: str = "content") -> dict:
        if self.chat:
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if content is not None:
                delta[key] = content
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        else:
            choice = {"text": content if content is not None else "", "index": 0,
                      "logprobs": None, "finish_reason": finish_reason}
        obj = {**self._base, "choices": [choice]}
        if self._include_usage:
            obj["usage"] = None
        return obj

    def role(self) -> bytes:
        """Chat only: the first chunk, `delta: {"role": "assistant", "content": ""}`."""
        return _sse(self._chunk("", None, role=True))

    def token(self, token_id: int) -> bytes:
        """The chunk carrying one output token (an index into text.TOKEN_TEXT)."""
        return self._head + TOKEN_JSON[token_id] + self._tail

    def reasoning(self, token_id: int) -> bytes:
        """Chat, made with `reasoning=True`: the chunk carrying one reasoning token."""
        return self._reasoning_head + TOKEN_JSON[token_id] + self._reasoning_tail

    def malformed(self, token_id: int) -> bytes:
        """A token event whose JSON is cut in half (fault injection: malformed_json)."""
        data = self._head[len(b"data: "):] + TOKEN_JSON[token_id] + self._tail.rstrip(b"\n")
        return b"data: " + data[: len(data) // 2] + b"\n\n"

    def end(self, finish_reason: str, prompt_tokens: int, completion_tokens: int,
            reasoning_tokens: int = 0) -> bytes:
        """Finish chunk, usage chunk (if asked for) and `data: [DONE]`, as one write."""
        out = _sse(self._chunk(None, finish_reason))
        if self._include_usage:
            out += _sse({**self._base, "choices": [],
                         "usage": usage(prompt_tokens, completion_tokens, reasoning_tokens)})
        return out + DONE


def full_response(*, chat: bool, id: str, created: int, model: str, text: str,
                  finish_reason: str, prompt_tokens: int, completion_tokens: int,
                  include_usage: bool = True, reasoning_text: str = "",
                  reasoning_tokens: int = 0) -> dict:
    """A non-streamed chat.completion or text_completion body (with usage unless
    `include_usage=False`, fault injection: no_usage). A chat message with `reasoning_text`
    carries it as `reasoning_content` (as vLLM and DeepSeek do)."""
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning_text:
            message["reasoning_content"] = reasoning_text
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
    else:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
    body = {
        "id": id,
        "object": "chat.completion" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": [choice],
    }
    if include_usage:
        body["usage"] = usage(prompt_tokens, completion_tokens, reasoning_tokens)
    return body


def dumps(obj: Any) -> str:
    """Compact JSON text (for web.json_response)."""
    return _dumps(obj)
