"""Price options shared by commands: ``--price-basis tco|rental``, ``--price HW=USD``
(repeatable or comma-separated), ``--price-file prices.yaml`` and ``--kwh-price USD``, parsed
here at the edge into a ``PriceBook``.

The basis (``phasesim.simulator.catalog.economics``): ``tco`` (default) prices every catalog
entry by owning it (device + its share of server, host and network + power at a PUE,
amortised); ``rental`` by its public on-demand price, where one exists (others are refused).
Overrides are prices on the basis named.

A price file is a YAML mapping of hardware name to US dollars per hour of one catalog entry (a
GPU, a whole GroqRack), with optional ``kwh_usd`` and ``pue`` keys::

    h100-sxm: 2.49
    groqrack: 30.0
    kwh_usd: 0.12
    pue: 1.3

``--price`` wins over the file, ``--kwh-price`` over the file's ``kwh_usd``.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer
import yaml

from phasesim.errors import InputError
from phasesim.safe_yaml import load_yaml
from phasesim.simulator.catalog.economics import DEFAULT_KWH_USD, DEFAULT_PUE, PriceBasis, PriceBook
from phasesim.simulator.catalog.hardware import get_hardware

__all__ = ["MAX_USD", "PRICE_BASIS_HELP", "parse_price_basis", "parse_prices",
           "price_basis_option", "price_book"]

MAX_USD = 1e9  # a price above a billion dollars (an hour, or a kWh) is a typo, not a price

PRICE_BASIS_HELP = ("Prices on one basis: tco (owning: device + its share of server, host and "
                    "network + power at PUE, amortised; every device) or rental (public on-demand "
                    "prices; hardware without one is refused).")


def price_basis_option() -> object:
    """The ``--price-basis`` option, the same on every command that prices hardware."""
    return typer.Option("tco", "--price-basis", help=PRICE_BASIS_HELP)


def parse_price_basis(text: str) -> PriceBasis:
    try:
        return PriceBasis(text.strip().lower())
    except ValueError:
        raise InputError(f"--price-basis: unknown basis '{text}' (one of: "
                         f"{', '.join(b.value for b in PriceBasis)})") from None


def _usd(text: object, *, option: str, name: str) -> float:
    """A price: a number (a YAML/JSON number from a file, text from an option; never a
    boolean), finite, in 0..``MAX_USD``."""
    try:
        if isinstance(text, bool) or not isinstance(text, (int, float, str)):
            raise TypeError
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:37] + "..."
        raise InputError(f"{option}: price of '{name}' must be a number of US dollars, "
                         f"got {shown}") from None
    if not (math.isfinite(value) and 0.0 <= value <= MAX_USD):
        raise InputError(f"{option}: price of '{name}' must be >= 0 and <= {MAX_USD:.0e}, got {text!r}")
    return value


def parse_prices(items: list[str], *, option: str = "--price") -> dict[str, float]:
    """``["h100-sxm=2.99", "groqrack=30,l40s=1.1"]`` -> ``{hardware: usd_per_hour}``."""
    out: dict[str, float] = {}
    for item in (i.strip() for value in items for i in value.split(",")):
        if not item:
            continue
        name, sep, usd = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"{option}: expected HARDWARE=USD_PER_HOUR, got '{item}'")
        get_hardware(name)  # a known name, or an error listing them
        if name in out:
            raise InputError(f"{option}: '{name}' given twice")
        out[name] = _usd(usd.strip(), option=option, name=name)
    return out


def _read_file(path: Path) -> tuple[dict[str, float], float | None, float | None]:
    if not path.is_file():
        raise InputError("--price-file: no such file", path=path)
    try:
        data = load_yaml(path.read_bytes().decode("utf-8"))  # bounded: no alias bombs
    except OSError as exc:
        raise InputError(f"--price-file: cannot read: {exc.strerror}", path=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"--price-file: not UTF-8 text (byte {exc.start})", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"--price-file: not valid YAML: {getattr(exc, 'problem', None) or exc}",
                         path=path, line=None if mark is None else mark.line + 1) from None
    if not isinstance(data, dict):
        raise InputError("--price-file: expected a mapping of hardware to USD per hour", path=path)
    pue = data.pop("pue", None)
    prices: dict[str, float] = {}
    kwh = None
    for name, usd in data.items():
        key = str(name)
        try:
            if key != "kwh_usd":
                get_hardware(key)
            value = _usd(usd, option="--price-file", name=key)
        except InputError as exc:
            raise InputError(exc.message, path=path, column=key) from None
        if key == "kwh_usd":
            kwh = value
        else:
            prices[key] = value
    if pue is not None and not (isinstance(pue, (int, float)) and not isinstance(pue, bool)
                                and math.isfinite(pue) and pue >= 1.0):
        raise InputError(f"--price-file: pue must be a number >= 1, got {pue!r}", path=path,
                         column="pue")
    return prices, kwh, None if pue is None else float(pue)


def price_book(prices: list[str] | None, price_file: Path | None,
               kwh_price: float | None, basis: str | PriceBasis = PriceBasis.TCO) -> PriceBook:
    """The ``PriceBook`` the options describe (the catalog's prices on ``basis`` where none is
    given)."""
    overrides: dict[str, float] = {}
    kwh, pue = DEFAULT_KWH_USD, DEFAULT_PUE
    sources = []
    if price_file is not None:
        overrides, file_kwh, file_pue = _read_file(price_file)
        kwh = kwh if file_kwh is None else file_kwh
        pue = pue if file_pue is None else file_pue
        sources.append(f"--price-file {price_file}")
    given = parse_prices(prices or [])
    if given:
        sources.append("--price")
    overrides.update(given)
    if kwh_price is not None:
        kwh = _usd(kwh_price, option="--kwh-price", name="kWh")
    return PriceBook(overrides=overrides, kwh_usd=kwh, pue=pue,
                     basis=basis if isinstance(basis, PriceBasis) else parse_price_basis(basis),
                     override_source="user override (" + ", ".join(sources) + ")")
