"""What the HTTP capture backends (groq, openai) share: naming an endpoint without its secrets,
keeping a key out of messages, and reading a server's retry-after."""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping

__all__ = ["MAX_RETRY_AFTER_S", "endpoint_host", "retry_after_s", "scrub", "shown_url"]

# The longest wait a server's retry-after may impose before a retry: a longer (or infinite) one
# would stall the capture with no output; a server that needs more is better retried later with
# --resume.
MAX_RETRY_AFTER_S = 60.0


def endpoint_host(url: str) -> str:
    """``host[:port]`` of a URL: what provenance records (no user, password, path or query)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def shown_url(url: str) -> str:
    """``url`` as error messages and checkpoints name it: without a ``user:password@`` part, a
    query or a fragment (any of which may carry a key)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, endpoint_host(url), parts.path, "", ""))


def scrub(text: str, secret: str) -> str:
    """``text`` on one line with ``secret`` (the API key) replaced by ``***``."""
    text = " ".join(str(text).split())
    return text.replace(secret, "***") if secret else text


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The wait a 429/503 asks for (``retry-after-ms`` or ``retry-after`` in seconds), if any,
    capped at :data:`MAX_RETRY_AFTER_S`; a value that is no finite number (``inf``, ``nan``, an
    HTTP date) is ignored (the caller's own backoff applies)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw[:40]) * scale
        except ValueError:
            continue
        if math.isfinite(value):
            return min(MAX_RETRY_AFTER_S, max(0.0, value))
    return None
