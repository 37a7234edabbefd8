"""Token text and token counts of the simulated model.

- Output tokens are words from a small fixed vocabulary, each with a leading space, chosen by a
  RNG seeded from the server seed and the prompt text: the same prompt on a server with the same
  seed always gets the same answer (like temperature 0), whatever the order requests arrive in.
- Prompt tokens are counted as ceil(characters / 4) of the prompt text: for chat, the message
  contents (text parts of list contents included) concatenated with no separator; for
  completions, the prompt string(s); a prompt given as token ids counts one token per id.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

VOCAB = (
    "the", "model", "answer", "is", "a", "token", "stream", "of", "and", "to", "in", "that",
    "server", "load", "test", "time", "first", "each", "request", "client", "with", "for",
    "latency", "batch", "queue", "output", "input", "prompt", "speed", "simple", "data", "result",
    "we", "it", "can", "will", "more", "this", "one", "two", "fast", "slow", "good", "new", "next",
    "end", "word", "text", "run", "step", "value", "number", "system", "user", "reply", "engine",
    "simulated", "language", "large", "window", "chart", "measure", "always", "here",
)

# What each token looks like in the answer text, and pre-encoded as a JSON string literal so a
# streamed chunk is built by concatenating bytes, with no per-token json.dumps.
TOKEN_TEXT = tuple(" " + word for word in VOCAB)
TOKEN_JSON = tuple(json.dumps(text).encode() for text in TOKEN_TEXT)


class PromptError(ValueError):
    """The prompt part of a request is not what the API accepts (the message says why)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def chat_prompt_text(messages: Any) -> str:
    """The concatenated text contents of chat `messages` (raises PromptError if malformed)."""
    if not isinstance(messages, list) or not messages:
        raise PromptError("'messages' must be a non-empty array of message objects.", "messages")
    parts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise PromptError(f"'messages[{i}]' must be an object.", f"messages[{i}]")
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            # content parts, e.g. [{"type": "text", "text": "..."}]; non-text parts count 0
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])
        elif content is not None:
            raise PromptError(
                f"'messages[{i}].content' must be a string or an array of content parts.",
                f"messages[{i}].content",
            )
    return "".join(parts)


def completion_prompt(prompt: Any) -> tuple[str, int]:
    """(text, prompt_tokens) of a /v1/completions `prompt` (raises PromptError if malformed)."""
    if isinstance(prompt, str):
        return prompt, count_tokens(prompt)
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            text = "".join(prompt)
            return text, count_tokens(text)
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            # token ids: one token each
            return " ".join(map(str, prompt)), len(prompt)
    raise PromptError(
        "'prompt' must be a string, an array of strings or an array of token ids.", "prompt"
    )


def count_tokens(text: str) -> int:
    """Prompt tokens of `text`: ceil(len(text) / 4), the usual rule of thumb for English."""
    return math.ceil(len(text) / 4)


def choose_tokens(seed: int, prompt_text: str, n: int) -> list[int]:
    """Indexes into TOKEN_TEXT of an `n`-token answer, fixed by (seed, prompt_text).

    >>> choose_tokens(0, "hi", 3) == choose_tokens(0, "hi", 3)
    True
    """
    # random.Random hashes a str seed with SHA-512, so this does not depend on PYTHONHASHSEED.
    rng = random.Random(f"{seed}\x00{prompt_text}")
    return rng.choices(range(len(VOCAB)), k=n)
