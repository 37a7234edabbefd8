"""How one request is made and timed.

Example:
    >>> from llmeter_widget.endpoints import OpenAIChatEndpoint
    >>> ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:8000/v1", model="sim")
"""

from .base import ERROR_TYPES, Endpoint, InvocationResponse
from .http import create_session
from .llmeter_adapter import LlmeterEndpoint
from .openai import OpenAIChatEndpoint, OpenAICompletionEndpoint, RequestCancelled

__all__ = [
    "ERROR_TYPES",
    "Endpoint",
    "InvocationResponse",
    "LlmeterEndpoint",
    "OpenAIChatEndpoint",
    "OpenAICompletionEndpoint",
    "RequestCancelled",
    "create_session",
]
