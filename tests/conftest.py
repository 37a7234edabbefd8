"""Shared fixtures: real simulated servers on 127.0.0.1 (no mocked HTTP anywhere)."""

from __future__ import annotations

import pytest

from llmeter_widget.endpoints import OpenAIChatEndpoint, create_session
from llmeter_widget.simulator import SimulatedServer

# The fixed-latency server's truth, used by timing tests.
TTFT = 0.05
ITL = 0.01


@pytest.fixture
async def fixed_server():
    async with SimulatedServer(mode="fixed", ttft=TTFT, itl=ITL) as server:
        yield server


@pytest.fixture
async def session():
    async with create_session() as s:
        yield s


@pytest.fixture
def chat_payload():
    return OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=16)
