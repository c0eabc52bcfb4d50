"""`sim replay --price/--price-file/--kwh-price`: the summary says which prices it used; bad
prices are refused with one error line, exit 2, nothing written; `sim profiles hardware`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from phasesim import traces
from phasesim.cli import app
from phasesim.simulator.catalog.economics import DEFAULT_PUE, POWER, RENTAL, TCO, PriceBook
from phasesim.simulator.results.metrics import meets_slo

runner = CliRunner()


@pytest.fixture()
def trace(tmp_path: Path) -> Path:
    df = pd.DataFrame({"request_id": [0, 1, 2], "arrival_s": [0.0, 0.1, 0.2],
                       "prompt_tokens": [100, 200, 300], "output_tokens": [5, 1, 9]})
    return traces.write_trace(df, tmp_path / "trace.parquet", {"source": {"kind": "test"}})


def _summary(tmp_path: Path, trace: Path, *args: str) -> dict:
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())


def test_default_prices_come_from_the_catalog(tmp_path: Path, trace: Path) -> None:
    s = _summary(tmp_path, trace, "-t", "gpu-prefill-groq-decode")
    cost = s["cost"]
    assert set(cost["prices"]) == {"h100-sxm", "groqrack"}
    assert cost["basis"] == "tco"  # one basis for both devices: owning them
    assert cost["prices"]["h100-sxm"]["usd_per_hour"] == pytest.approx(TCO["h100-sxm"].usd_per_hour(
        power=POWER["h100-sxm"], kwh_usd=0.1, pue=DEFAULT_PUE))
    assert cost["prices"]["h100-sxm"]["source"].startswith("tco: device $30,000")
    assert cost["usd_per_hour"] == pytest.approx(PriceBook().usd_per_hour("h100-sxm")
                                                 + PriceBook().usd_per_hour("groqrack"))
    assert s["energy"]["joules"] > 0 and [p["pool"] for p in s["energy"]["pools"]] == [
        "prefill", "decode"]
    requests = pd.read_parquet(tmp_path / "out" / "requests.parquet")
    assert requests["energy_j"].sum() == pytest.approx(s["energy"]["joules"], rel=1e-9)


def test_price_options_override_and_say_so(tmp_path: Path, trace: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("groqrack: 30\nh100-sxm: 9\nkwh_usd: 0.2\n")
    s = _summary(tmp_path, trace, "-t", "gpu-prefill-groq-decode", "--price-file", str(prices),
                 "--price", "h100-sxm=2.5")
    cost = s["cost"]
    assert cost["prices"]["h100-sxm"]["usd_per_hour"] == 2.5
    assert cost["prices"]["groqrack"]["usd_per_hour"] == 30.0
    assert "--price-file" in cost["prices"]["groqrack"]["source"]
    assert cost["kwh_usd"] == 0.2 and cost["usd_per_hour"] == 32.5
    s = _summary(tmp_path, trace, "-t", "groq", "--kwh-price", "0.5")
    assert s["cost"]["usd_per_hour"] == pytest.approx(
        PriceBook(kwh_usd=0.5).usd_per_hour("groqrack"))
    assert s["cost"]["usd_per_hour"] - PriceBook().usd_per_hour("groqrack") == pytest.approx(
        (POWER["groqrack"].peak_w + TCO["groqrack"].host_w) / 1000 * DEFAULT_PUE * 0.4)


def test_comma_separated_prices(tmp_path: Path, trace: Path) -> None:
    s = _summary(tmp_path, trace, "-t", "gpu-prefill-gpu-decode",
                 "--price", "h100-sxm=1,a100-sxm-80gb=2", "--gpu", "h100-sxm")
    assert s["cost"]["usd_per_hour"] == 2.0


@pytest.mark.parametrize("args, expect", [
    (["--price", "h100-sxm"], "--price: expected HARDWARE=USD_PER_HOUR"),
    (["--price", "h100-sxm=abc"], "must be a number"),
    (["--price", "h100-sxm=-1"], "must be >= 0"),
    (["--price", "nope=1"], "unknown hardware 'nope'"),
    (["--price", "h100-sxm=1,h100-sxm=2"], "given twice"),
    (["--kwh-price", "-0.1"], "must be >= 0"),
    (["--price-file", "missing.yaml"], "--price-file: no such file"),
])
def test_bad_prices_are_refused(tmp_path: Path, trace: Path, args: list[str], expect: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "-o", str(out), *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], lines
    assert not out.exists()


def test_profiles_hardware_lists_sources() -> None:
    result = runner.invoke(app, ["profiles", "hardware", "--json"])
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert set(shown) == set(TCO)
    for name, entry in shown.items():
        assert entry["price"]["tco"]["source"] and entry["power"]["peak_w"]["source"]
        assert (entry["price"]["rental"] is None) == (name not in RENTAL)
    one = runner.invoke(app, ["profiles", "hardware", "gaudi2"])
    assert "Computex 2024" in one.output
    assert runner.invoke(app, ["profiles", "hardware", "nope"]).exit_code == 2


def test_rental_basis_uses_public_prices_and_refuses_the_rest(tmp_path: Path, trace: Path) -> None:
    s = _summary(tmp_path, trace, "-t", "gpu", "--price-basis", "rental")
    assert s["cost"]["basis"] == "rental"
    assert s["cost"]["usd_per_hour"] == RENTAL["h100-sxm"].list_usd_per_hour
    assert s["cost"]["prices"]["h100-sxm"]["source"].startswith("rental: Lambda")
    out = tmp_path / "refused"
    result = runner.invoke(app, ["replay", str(trace), "-t", "gpu-prefill-groq-decode", "-o",
                                 str(out), "--price-basis", "rental"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no public rental price for 'groqrack'" in lines[0], lines
    assert not out.exists()
    bad = runner.invoke(app, ["replay", str(trace), "-t", "gpu", "-o", str(out),
                              "--price-basis", "spot"])
    assert bad.exit_code == 2 and "unknown basis 'spot'" in bad.stderr


def test_cost_per_million_goodput_tokens(tmp_path: Path, trace: Path) -> None:
    """$/M tokens also over the tokens of requests that met the SLOs (issue 21)."""
    for ttft in ("10", "0.02", "1e-9"):
        s = _summary(tmp_path, trace, "-t", "gpu", "--slo-ttft", ttft, "--slo-tpot", "10")
        cost = s["cost"]
        requests = pd.read_parquet(tmp_path / "out" / "requests.parquet")
        good = meets_slo(requests, slo_ttft_s=float(ttft), slo_tpot_s=10.0)
        tokens = int(requests["output_tokens"][good].sum())
        if tokens == 0:
            assert cost["usd_per_million_goodput_tokens"] is None
        else:
            assert cost["usd_per_million_goodput_tokens"] == pytest.approx(
                cost["usd"] / tokens * 1e6)
        assert cost["usd_per_million_output_tokens"] == pytest.approx(cost["usd"] / 15 * 1e6)
