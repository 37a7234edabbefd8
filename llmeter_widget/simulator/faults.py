"""Fault injection of the simulated server: the seeded per-request draws and the error answers.

What each fault does, and the order of the draws, is documented on SimulatorConfig; the server
(server.py) applies the plan drawn here. Error bodies look like the real thing: OpenAI's JSON
errors for 401/429/500, and the HTML page nginx sends for a 503 (a proxy in front of a server
that is down).

Example::

    injector = FaultInjector(SimulatorConfig(error_500_rate=0.1, seed=1))
    plan = injector.draw()        # FaultPlan(response='error_500', ...) about 1 time in 10
    injector.count("error_500")   # when the server applies it
    injector.counts               # {'unauthorized': 0, ..., 'error_500': 1, ...}
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from aiohttp import web

from . import openai_format as fmt
from .config import FAULTS, RESPONSE_FAULTS, SimulatorConfig


@dataclass(frozen=True)
class FaultPlan:
    """The faults drawn for one request (applied by the server where they fit)."""

    response: str | None = None  # one of config.RESPONSE_FAULTS, or None
    slow_headers: bool = False
    malformed_json: bool = False
    stall_mid_stream: bool = False
    drop_mid_stream: bool = False
    no_usage: bool = False

    @property
    def mid_stream(self) -> bool:
        """True if something happens in the middle of a stream."""
        return self.malformed_json or self.stall_mid_stream or self.drop_mid_stream


NO_FAULTS = FaultPlan()


class FaultInjector:
    """Draws a FaultPlan per request from a RNG seeded with the server's seed; counts faults."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        # a str seed is hashed with sha512 (not hash()): the same in every process
        self._rng = random.Random(f"llmeter-widget simulator faults {config.seed}")
        # cumulative upper bounds of the response-level faults, in their fixed order
        bounds, total = [], 0.0
        for name in RESPONSE_FAULTS:
            rate = getattr(config, name + "_rate")
            total += rate
            if rate > 0:
                bounds.append((total, name))
        self._bounds = tuple(bounds)
        self._rates = tuple(getattr(config, name + "_rate") for name in (
            "slow_headers", "malformed_json", "stall_mid_stream", "drop_mid_stream", "no_usage"))
        self.counts: dict[str, int] = dict.fromkeys(FAULTS, 0)

    def draw(self) -> FaultPlan:
        """The faults of the next request: always six draws, whatever is enabled."""
        rand = self._rng.random
        u = rand()
        response = None
        for bound, name in self._bounds:
            if u < bound:
                response = name
                break
        # random() is in [0, 1): a rate of 1 always hits, 0 never
        slow, malformed, stall, drop, no_usage = (rand() < rate for rate in self._rates)
        if response is None and not (slow or malformed or stall or drop or no_usage):
            return NO_FAULTS
        return FaultPlan(response, slow, malformed, stall, drop, no_usage)

    def count(self, name: str) -> None:
        """Record that fault `name` was applied."""
        self.counts[name] += 1


# -- the answers ---------------------------------------------------------------------------------

NGINX_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username. You can obtain an API key from https://platform.openai.com/account/api-keys."
)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _mask(key: str) -> str:
    # like OpenAI: "sk-abc***********wxyz"
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def unauthorized(token: str | None) -> web.Response:
    """401 as OpenAI sends it: no key given, or a wrong one."""
    if token is None:
        body = fmt.error_body(MISSING_KEY_MESSAGE)
    else:
        body = fmt.error_body(
            f"Incorrect API key provided: {_mask(token)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
    return web.json_response(body, status=401, dumps=fmt.dumps)


def rate_limited(model: str, retry_after: float) -> web.Response:
    """429 with `Retry-After` (whole seconds, rounded up, as HTTP wants) and `retry-after-ms`."""
    body = fmt.error_body(
        f"Rate limit reached for {model} in organization org-simulated on requests per min "
        f"(RPM): Limit 60, Used 60, Requested 1. Please try again in {retry_after:g}s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
        type="requests", code="rate_limit_exceeded")
    headers = {"Retry-After": str(math.ceil(retry_after)),
               "retry-after-ms": str(round(retry_after * 1000))}
    return web.json_response(body, status=429, headers=headers, dumps=fmt.dumps)


def server_error() -> web.Response:
    """500 as OpenAI sends it."""
    body = fmt.error_body(
        "The server had an error while processing your request. Sorry about that!",
        type="server_error")
    return web.json_response(body, status=500, dumps=fmt.dumps)


def service_unavailable() -> web.Response:
    """503 as nginx sends it when the server behind it is down: an HTML page."""
    return web.Response(status=503, text=NGINX_503, content_type="text/html")


def response_fault(name: str, config: SimulatorConfig, request: web.Request) -> web.Response:
    """The answer of the response-level fault `name` (not non_sse, which is a real answer)."""
    if name == "unauthorized":
        return unauthorized(bearer_token(request))
    if name == "rate_limit":
        return rate_limited(config.model, config.retry_after)
    if name == "error_500":
        return server_error()
    if name == "error_503":
        return service_unavailable()
    raise ValueError(f"{name!r} is not an error answer")
