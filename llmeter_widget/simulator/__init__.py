"""An embedded OpenAI-compatible simulated LLM server, the default target of llmeter-widget.

Example::

    from llmeter_widget.simulator import SimulatedServer

    async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01) as server:
        ...  # POST {server.base_url}/chat/completions with model="sim"

    with SimulatedServer.spawn(mode="batching", max_batch=8) as proc:   # in its own process
        ...  # proc.base_url

    # faults: 5% of requests get 429 + Retry-After, 2% of streams break mid-way
    async with SimulatedServer(rate_limit_rate=0.05, drop_mid_stream_rate=0.02) as server:
        ...  # server.faults_injected counts what was injected

Modules: config (options + validation), engine (latency models), text (token text and counts),
openai_format (JSON/SSE bodies), faults (fault injection draws and error answers), server
(aiohttp app, SimulatedServer), process (spawn), cli (command line).
"""

from .config import SimulatorConfig
from .process import SimulatorProcess
from .server import SimulatedServer, unused_port

__all__ = ["SimulatedServer", "SimulatorConfig", "SimulatorProcess", "unused_port"]
