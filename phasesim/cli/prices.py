"""Price options shared by commands: ``--price HW=USD`` (repeatable or comma-separated),
``--price-file prices.yaml`` and ``--kwh-price USD``, parsed here at the edge into a
``PriceBook``.

A price file is a YAML mapping of hardware name to US dollars per hour of one catalog entry (a
GPU, a whole GroqRack), with an optional ``kwh_usd`` key::

    h100-sxm: 2.49
    groqrack: 30.0
    kwh_usd: 0.12

``--price`` wins over the file, ``--kwh-price`` over the file's ``kwh_usd``.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from phasesim.errors import InputError
from phasesim.safe_yaml import load_yaml
from phasesim.simulator.catalog.economics import DEFAULT_KWH_USD, PriceBook
from phasesim.simulator.catalog.hardware import get_hardware

__all__ = ["MAX_USD", "parse_prices", "price_book"]

MAX_USD = 1e9  # a price above a billion dollars (an hour, or a kWh) is a typo, not a price


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


def _read_file(path: Path) -> tuple[dict[str, float], float | None]:
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
    return prices, kwh


def price_book(prices: list[str] | None, price_file: Path | None,
               kwh_price: float | None) -> PriceBook:
    """The ``PriceBook`` the three options describe (the catalog's prices where none is given)."""
    overrides: dict[str, float] = {}
    kwh = DEFAULT_KWH_USD
    sources = []
    if price_file is not None:
        overrides, file_kwh = _read_file(price_file)
        kwh = kwh if file_kwh is None else file_kwh
        sources.append(f"--price-file {price_file}")
    given = parse_prices(prices or [])
    if given:
        sources.append("--price")
    overrides.update(given)
    if kwh_price is not None:
        kwh = _usd(kwh_price, option="--kwh-price", name="kWh")
    return PriceBook(overrides=overrides, kwh_usd=kwh,
                     override_source="user override (" + ", ".join(sources) + ")")
