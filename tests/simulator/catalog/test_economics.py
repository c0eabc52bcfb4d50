"""Power and price catalog: every device has power and a TCO price, every number a source or an
'assumption', rental prices only where public, and one basis per price book (issue 21)."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.economics import (
    DEFAULT_KWH_USD,
    DEFAULT_PUE,
    HOURS_PER_YEAR,
    POWER,
    RENTAL,
    TCO,
    PowerSpec,
    PriceBasis,
    PriceBook,
    PriceSpec,
    TcoSpec,
)
from phasesim.simulator.catalog.hardware import HARDWARE


def test_every_device_has_power_and_a_tco_price_with_sources() -> None:
    assert set(POWER) == set(HARDWARE) == set(TCO)
    for name, power in POWER.items():
        assert 0 < power.idle_w < power.peak_w, name
        for field in ("idle_w", "peak_w", "bandwidth_share", "compute_share"):
            assert power.source(field), (name, field)
    for name, tco in TCO.items():
        for part in ("device_source", "host_source", "host_w_source", "lifetime_source"):
            assert getattr(tco, part), (name, part)
        # every device, H100 included, pays for its share of a server, host and network
        assert tco.device_usd > 0 and tco.host_usd > 0 and tco.host_w > 0, name


def test_tco_adds_capital_host_and_power_at_pue() -> None:
    for name in ("h100-sxm", "groqrack", "gaudi2"):
        tco = TCO[name]
        hourly = tco.usd_per_hour(power=POWER[name], kwh_usd=0.2, pue=1.5)
        assert hourly == pytest.approx(
            (tco.device_usd + tco.host_usd) / (tco.lifetime_years * HOURS_PER_YEAR)
            + (POWER[name].peak_w + tco.host_w) / 1000 * 1.5 * 0.2)
        assert "PUE 1.5" in tco.source(kwh_usd=0.2, pue=1.5)


def test_rental_prices_are_public_offers_only() -> None:
    assert set(RENTAL) < set(HARDWARE)
    for name in ("groqrack", "gaudi2", "sn40l", "mi250", "max1550"):
        assert name not in RENTAL
    for name, price in RENTAL.items():
        assert price.list_usd_per_hour > 0 and "assumption" not in price.source, name
    book = PriceBook(basis=PriceBasis.RENTAL)
    assert book.usd_per_hour("h100-sxm") == RENTAL["h100-sxm"].list_usd_per_hour
    with pytest.raises(InputError, match="--price-basis rental: no public rental price for "
                                         "'groqrack'"):
        book.usd_per_hour("groqrack")
    with pytest.raises(InputError, match="groqrack"):
        book.check("groqrack")
    PriceBook(basis=PriceBasis.RENTAL, overrides={"groqrack": 40.0}).check("groqrack")


def test_default_book_is_tco_with_overrides_kwh_and_pue() -> None:
    book = PriceBook(overrides={"h100-sxm": 1.5}, kwh_usd=0.3, override_source="mine")
    assert book.basis is PriceBasis.TCO
    assert book.usd_per_hour("h100-sxm") == 1.5 and book.source("h100-sxm") == "mine"
    rack = PriceBook().usd_per_hour("groqrack")
    extra_w = POWER["groqrack"].peak_w + TCO["groqrack"].host_w
    assert PriceBook(kwh_usd=0.3).usd_per_hour("groqrack") == pytest.approx(
        rack + extra_w / 1000 * DEFAULT_PUE * (0.3 - DEFAULT_KWH_USD))
    assert PriceBook(pue=1.5).usd_per_hour("groqrack") == pytest.approx(
        rack + extra_w / 1000 * (1.5 - DEFAULT_PUE) * DEFAULT_KWH_USD)
    assert "$0.3/kWh" in PriceBook(kwh_usd=0.3).source("groqrack")
    assert PriceBook().describe("no-such-gpu")["usd_per_hour"] is None


def test_bad_specs_are_refused() -> None:
    with pytest.raises(InputError):
        PowerSpec(idle_w=500, peak_w=400)
    with pytest.raises(InputError):
        PriceSpec(list_usd_per_hour=-1.0, source="x")
    with pytest.raises(InputError):
        TcoSpec(device_usd=1.0, device_source="x", host_usd=0.0, host_source="x", host_w=0.0,
                host_w_source="x", lifetime_years=0.0, lifetime_source="x")
    with pytest.raises(InputError):
        PriceBook(overrides={"h100-sxm": -1.0})
    with pytest.raises(InputError):
        PriceBook(pue=0.9)
