"""Running code as a kernel subshell does: on another thread, inside that thread's own loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable


def in_subshell(action: Callable[[], object]) -> None:
    """Run `action` as ipykernel 7 may run a comm message under JupyterLab 4: on a subshell
    thread, inside that thread's own asyncio loop (not the loop the run lives on). Waits for
    it; an exception it raised fails the test."""
    errors: list[BaseException] = []

    def target() -> None:
        async def main() -> None:
            action()

        try:
            asyncio.run(main())
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    assert not errors, errors
