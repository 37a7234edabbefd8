"""An embedded OpenAI-compatible simulated LLM server, the default target of llmeter-widget.

Example::

    from llmeter_widget.simulator import SimulatedServer

    async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01) as server:
        ...  # POST {server.base_url}/chat/completions with model="sim"

    with SimulatedServer.spawn(mode="batching", max_batch=8) as proc:   # in its own process
        ...  # proc.base_url

Modules: config (options + validation), engine (latency models), text (token text and counts),
openai_format (JSON/SSE bodies), server (aiohttp app, SimulatedServer), process (spawn),
cli (command line).
"""

from .config import SimulatorConfig
from .process import SimulatorProcess
from .server import SimulatedServer

__all__ = ["SimulatedServer", "SimulatorConfig", "SimulatorProcess"]
