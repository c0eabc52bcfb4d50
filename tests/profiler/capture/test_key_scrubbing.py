"""API keys never reach a message, in any encoding (issue 24): scrubbing replaced only the exact
key, so a 401 body echoing it JSON-escaped (``\\/``) or with spaces inserted was printed in the
``error:`` line, and ``--base-url http://u:KEY@host`` with a ``/`` in the key crashed with a
traceback showing the key's first characters. Against a real HTTP server on 127.0.0.1
(openai_server.py, ``echo_key``): an auth error never prints the server's body; any other
error's body is printed with the key scrubbed in every encoding and any piece of 8+ characters."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.profiler.capture.endpoint import scrub
from tests.one_line import one_error_line
from tests.profiler.openai_server import ECHO_FORMS, echoed_key_body, serve

pytest.importorskip("httpx")

KEY = "sk-live/Qx7+Zp9w=Lm3Rt8Vb2Nc"  # '/', '+', '=': each has a JSON, URL and base64 form
PIECE = 8  # the shortest piece of a key that must not show (endpoint.PIECE)


def _pieces(text: str) -> list[str]:
    return [text[i:i + PIECE] for i in range(len(text) - PIECE + 1)]


def _encodings(key: str) -> list[str]:
    """The key as a server may quote it; of a base64 of ``user:key`` only the characters that
    depend on the key alone (the first 4 also carry the user, the last 4 the padding)."""
    plain = [key, json.dumps(key)[1:-1].replace("/", "\\/"), urllib.parse.quote(key, safe=""),
             urllib.parse.quote_plus(key, safe="").lower()]
    basic = [base64.b64encode(f"{user}:{key}".encode()).decode()[4:-4] for user in ("u", "us", "user")]
    return plain + basic


def _leaks(output: str) -> list[str]:
    """Any 8-character piece of the key, or of one of its encodings, found in ``output``
    (whitespace removed, so a key with spaces inserted counts)."""
    dense = "".join(output.split())
    return [p for form in _encodings(KEY) for p in _pieces(form) if p in dense]


def _capture(url: str, out: Path, key: str = KEY):
    args = ["capture", "--backend", "openai", "--base-url", url, "--model", "served-llama",
            "--catalog-model", "llama2-7b", "--hardware", "h100-sxm", "-o", str(out),
            "--prompt-lens", "64", "--concurrency", "1", "--repeats", "1", "--output-tokens", "2",
            "--max-retries", "0"]
    return CliRunner().invoke(app, args, env={"OPENAI_API_KEY": key})


@pytest.mark.parametrize("form", ECHO_FORMS)
def test_a_401_body_is_never_printed_whatever_it_quotes(tmp_path, form):
    with serve(echo_key=f"401:{form}") as server:
        res = _capture(server.url + "/v1", tmp_path / "t.parquet")
    assert res.exit_code == 2, res.output
    line = one_error_line(res.stderr, "HTTP 401", "API key was refused")
    assert "Incorrect API key" not in line  # the body is not shown at all
    assert _leaks(res.output) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("form", ECHO_FORMS)
def test_another_errors_body_is_printed_with_the_key_scrubbed_in_every_encoding(tmp_path, form):
    with serve(echo_key=f"400:{form}") as server:
        res = _capture(server.url + "/v1", tmp_path / "t.parquet")
    assert res.exit_code == 2, res.output
    line = one_error_line(res.stderr, "HTTP 400", "Incorrect API key provided: ")
    assert "***" in line  # the body is there, the key is not
    assert _leaks(res.output) == [], line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["user:{key}@", "{key}@", "{key}:x@"])
def test_a_key_with_a_slash_in_the_url_is_one_line_without_any_of_it(tmp_path, where):
    with serve() as server:
        url = server.url.replace("//", "//" + where.format(key=KEY), 1) + "/v1"
        res = _capture(url, tmp_path / "t.parquet", key="")
    assert res.exit_code == 2, res.output
    one_error_line(res.stderr, "--base-url", "percent-encode")
    assert "Traceback" not in res.output
    assert _leaks(res.output) == [] and "sk-live" not in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("form", ECHO_FORMS)
def test_scrub_hides_each_encoding(form):
    body = echoed_key_body(KEY, form).decode()
    shown = scrub(body, KEY)
    assert "***" in shown and _leaks(shown) == []
    assert shown.startswith('{"error": {"message": "Incorrect API key provided: ')


def test_scrub_hides_any_piece_of_8_characters_and_the_url_secrets():
    assert scrub(f"a {KEY[3:14]} b", KEY) == "a *** b"  # a piece from the middle
    assert scrub(f"a {KEY[:7]} b", KEY) == f"a {KEY[:7]} b"  # 7 characters tell little
    assert scrub("token=hunter2x", "hunter2x") == "token=***"
    short = "abc"  # a key shorter than a piece is scrubbed whole only
    assert "abc" not in scrub("abc x abcd", short) and scrub("ab", short) == "ab"


def test_a_short_key_hides_only_itself():
    # its base64 pieces are a character or two: matching them would eat ordinary words
    assert scrub("[Errno 111] Connection refused", "k") == "[Errno 111] Connection refused"
