"""What the HTTP capture backends (groq, openai) share: naming an endpoint without its secrets,
keeping a key out of messages, and reading a server's retry-after."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

__all__ = ["endpoint_host", "shown_url", "scrub", "retry_after_s"]


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
    """The wait a 429/503 asks for (``retry-after-ms`` or ``retry-after`` in seconds), if any."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            continue
    return None
