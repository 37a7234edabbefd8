"""Operating-system limits a load test runs into."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def ensure_open_files(needed: int) -> None:
    """Raise this process's soft limit on open files (one socket per client) up to the hard
    limit if `needed` is above it: 1,000 clients would otherwise fail to connect on systems
    whose soft limit is 1,024 or 256. A no-op where the limit cannot be read (Windows)."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        logger.warning("Cannot raise the open-file limit to %d (it is %d).", needed, soft)
    if target < needed:
        logger.warning("%d clients may need %d open files; this system allows %d.",
                       needed - 64, needed, target)
