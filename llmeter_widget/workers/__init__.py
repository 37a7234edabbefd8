"""Where requests are sent from: worker processes, each with its own event loop, so the parent
(a notebook kernel, the CLI) only merges and displays. The protocol is in protocol.py
(docs/worker_protocol.md); pool.py is the parent's side, process.py a worker."""

from .pool import ProcessWorkers, check_sendable, share
from .protocol import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION", "ProcessWorkers", "check_sendable", "share"]
