"""Power and price catalog: every device has both, every number a source, prices add up."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.economics import (
    DEFAULT_KWH_USD,
    HOURS_PER_YEAR,
    POWER,
    PRICES,
    PowerSpec,
    PriceBook,
    PriceSpec,
)
from phasesim.simulator.catalog.hardware import HARDWARE


def test_every_device_has_power_and_price_with_sources() -> None:
    assert set(POWER) == set(HARDWARE) == set(PRICES)
    for name, power in POWER.items():
        assert 0 < power.idle_w < power.peak_w, name
        for field in ("idle_w", "peak_w", "bandwidth_share", "compute_share"):
            assert power.source(field), (name, field)
        assert PRICES[name].source, name


def test_capital_cost_prices_state_lifetime_and_power() -> None:
    for name in ("groqrack", "sn40l", "gaudi2"):
        price = PRICES[name]
        assert price.list_usd_per_hour is None and price.capital_usd and price.lifetime_years
        assert "assumption" in price.source or "amortised" in price.source
        hourly = price.usd_per_hour(power=POWER[name], kwh_usd=0.2)
        assert hourly == pytest.approx(price.capital_usd / (price.lifetime_years * HOURS_PER_YEAR)
                                       + POWER[name].peak_w / 1000 * 0.2)


def test_price_book_overrides_and_kwh() -> None:
    book = PriceBook(overrides={"h100-sxm": 1.5}, kwh_usd=0.3, override_source="mine")
    assert book.usd_per_hour("h100-sxm") == 1.5 and book.source("h100-sxm") == "mine"
    assert book.usd_per_hour("a100-sxm-80gb") == PRICES["a100-sxm-80gb"].list_usd_per_hour
    rack = PriceBook().usd_per_hour("groqrack")
    assert PriceBook(kwh_usd=0.3).usd_per_hour("groqrack") == pytest.approx(
        rack + POWER["groqrack"].peak_w / 1000 * (0.3 - DEFAULT_KWH_USD))
    assert "$0.3/kWh" in PriceBook(kwh_usd=0.3).source("groqrack")
    assert PriceBook().describe("no-such-gpu")["usd_per_hour"] is None


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InputError):
        PowerSpec(idle_w=500, peak_w=400)
    with pytest.raises(InputError):
        PriceSpec(list_usd_per_hour=1.0, capital_usd=5.0, lifetime_years=3)
    with pytest.raises(InputError):
        PriceSpec(capital_usd=5.0)
    with pytest.raises(InputError):
        PriceBook(overrides={"h100-sxm": -1.0})
