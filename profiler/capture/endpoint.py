"""What the HTTP capture backends (groq, openai) share: naming an endpoint without its secrets,
keeping a key out of messages, and reading a server's retry-after."""

from __future__ import annotations

import base64
import html
import json
import math
import re
import urllib.parse
from collections.abc import Mapping

from phasesim.errors import InputError

__all__ = ["MAX_RETRY_AFTER_S", "MIN_SECRET_PIECE", "endpoint_host", "shown_url", "url_secrets",
           "scrub", "retry_after_s"]

# The longest wait a server's retry-after may impose before a retry: a longer (or infinite) one
# would stall the capture with no output; a server that needs more is better retried later with
# --resume.
MAX_RETRY_AFTER_S = 60.0


def _split(url: str) -> urllib.parse.SplitResult:
    """``url`` split, or an :class:`InputError` that shows none of it: a ``user:password@`` part
    whose password holds a ``/`` (not percent-encoded) ends the host early, so the URL's own error
    (an invalid port) would print the password's first characters."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is no number
    except ValueError:
        raise InputError(_BAD_URL, column="--base-url") from None
    if "@" in url.split("#", 1)[0].split("?", 1)[0][len(parts.scheme) + 3 + len(parts.netloc):]:
        raise InputError(_BAD_URL, column="--base-url")  # an '@' after the host: a broken userinfo
    return parts


_BAD_URL = ("not a URL that can be read (if it holds user:password@, percent-encode any '/', "
            "'?', '#' or '@' in them, or pass the key through the environment)")


def endpoint_host(url: str) -> str:
    """``host[:port]`` of a URL: what provenance records (no user, password, path or query)."""
    parts = _split(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def shown_url(url: str) -> str:
    """``url`` as error messages and checkpoints name it: without a ``user:password@`` part, a
    query or a fragment (any of which may carry a key)."""
    parts = _split(url)
    return urllib.parse.urlunsplit((parts.scheme, endpoint_host(url), parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """What in ``url`` may be a secret: the user and password of a ``user:password@`` part (raw
    and percent-decoded) and the values of its query."""
    parts = _split(url)
    found = [parts.username or "", parts.password or ""]
    found += [value for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False)]
    found = [v for v in found if v]
    return found + [urllib.parse.unquote(v) for v in found]


# the shortest run of a secret's characters (in any encoding) that is scrubbed: a prefix or any
# other piece of an 8+ character key is still a key to whoever reads the log
MIN_SECRET_PIECE = 8


def _encodings(secret: str) -> set[str]:
    """``secret`` as a server may echo it: raw, JSON-escaped (with and without ``\\/``, ASCII or
    not), URL-encoded (``quote``/``quote_plus``, either hex case), HTML-escaped, and the inner
    characters of its base64 (standard and URL-safe) at each of the three byte alignments, which
    cover ``base64("user:" + secret)`` for any user."""
    forms = {secret, html.escape(secret), html.escape(secret, quote=False)}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    for hex_format in ("\\u{:04x}", "\\u{:04X}"):  # every punctuation mark as \u002f
        forms.add("".join(c if c.isalnum() else hex_format.format(ord(c)) for c in secret))
    for quoted in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe=""),
                   urllib.parse.quote(secret)):
        forms |= {quoted, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)}
    raw = secret.encode()
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + raw).decode()
            # characters touched by the padding bytes or by what follows the secret are dropped
            start = -(-pad * 4 // 3)
            end = (pad + len(raw)) * 4 // 3
            if end - start >= MIN_SECRET_PIECE:  # a shorter core would match ordinary words
                forms.add(text[start:end])
    return {f for f in forms if f}


def scrub(text: str, *secrets: str) -> str:
    """``text`` on one line with every secret replaced by ``***``: each in any of the encodings
    of :func:`_encodings`, whitespace inserted anywhere inside it, and any piece of it of
    :data:`MIN_SECRET_PIECE` or more characters (a truncated echo); a secret shorter than that
    only whole."""
    text = " ".join(str(text).split())
    # match on the text without whitespace, remembering where each kept character came from
    kept = [i for i, c in enumerate(text) if not c.isspace()]
    dense = "".join(text[i] for i in kept)
    hidden = [False] * len(dense)
    for secret in secrets:
        if not secret:
            continue
        for form in _encodings(secret):
            form = "".join(form.split())
            if len(form) < MIN_SECRET_PIECE:
                _mark_whole(dense, form, hidden)
            else:
                _mark_pieces(dense, form, hidden)
    if not any(hidden):
        return text
    out: list[str] = []
    last = 0
    j = 0
    while j < len(dense):
        if not hidden[j]:
            j += 1
            continue
        k = j
        while k + 1 < len(dense) and hidden[k + 1]:
            k += 1
        out += [text[last:kept[j]], "***"]
        last = kept[k] + 1
        j = k + 1
    out.append(text[last:])
    return "".join(out)


def _mark_whole(dense: str, form: str, hidden: list[bool]) -> None:
    start = dense.find(form)
    while start >= 0:
        hidden[start:start + len(form)] = [True] * len(form)
        start = dense.find(form, start + 1)


def _mark_pieces(dense: str, form: str, hidden: list[bool]) -> None:
    """Hide every run of ``dense`` of MIN_SECRET_PIECE+ characters that also occurs in ``form``."""
    n = MIN_SECRET_PIECE
    grams: dict[str, list[int]] = {}
    for j in range(len(form) - n + 1):
        grams.setdefault(form[j:j + n], []).append(j)
    for i in range(len(dense) - n + 1):
        for j in grams.get(dense[i:i + n], ()):
            k = n
            while i + k < len(dense) and j + k < len(form) and dense[i + k] == form[j + k]:
                k += 1
            hidden[i:i + k] = [True] * k


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
