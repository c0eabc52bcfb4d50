"""Edits of a topology after it is chosen: a built-in's overrides checked against its layout, cost
tables per pool, the prefix cache and routers, an engine for the pools that name none.

``sim replay`` is one user of these functions; a scenario or a Python caller is another. Each
takes a :class:`~phasesim.simulator.topology.TopologySpec` (or a built-in's name or a YAML path)
and returns a new one; none of them reads options or prints. Their errors are
:class:`~phasesim.errors.InputError` lines that name the setting at fault through ``label``:
by default the keyword as written here (``tensor_parallel``), or, from the command line, the
option as the user typed it (``--tp``).

Values are in the topology's units already (bytes per second, seconds): the caller converts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from phasesim.errors import InputError
from phasesim.simulator.catalog.hardware import DeviceKind, get_hardware
from phasesim.simulator.topology import (
    BUILTIN_TOPOLOGIES,
    Role,
    Routing,
    TopologySpec,
    builtin_topology,
    load_topology,
)

__all__ = ["ROUTER_NAMES", "Label", "profile_target", "topology_with_overrides",
           "with_engine", "with_prefix_cache_and_routers"]

Label = Callable[[str], str]
"""How an error names a setting: ``label("tensor_parallel")`` -> ``tensor_parallel`` or ``--tp``.
The settings named: the keys of ``overrides`` and ``profiles``, ``routers``, ``prefix_cache``."""

# routers as users spell them (``least-outstanding``; ``least_outstanding`` accepted too)
ROUTER_NAMES = tuple(r.value.replace("_", "-") for r in Routing)

_PROFILE_OVERRIDE = {Role.COLOCATED: "profile", Role.PREFILL: "prefill_profile",
                     Role.DECODE: "decode_profile"}
_RUN_WIDE = frozenset({"rate_scale", "first_token"})  # the overrides a YAML topology takes


def _as_keyword(key: str) -> str:
    return key


def topology_with_overrides(name_or_path: str, overrides: Mapping[str, Any], *,
                            profiles: Sequence[str] = (),
                            label: Label = _as_keyword) -> TopologySpec:
    """A built-in with ``overrides`` (the keywords of ``builtin_topology``; None values are
    ignored) and ``profiles`` (``POOL=PATH`` or ``PATH``: :func:`profile_target`), or a YAML file,
    which takes only run-wide overrides (``rate_scale``, ``first_token``). An override the layout
    would silently ignore (``instances`` on a disaggregated topology, a link setting on a
    colocated one, ``gpu`` or ``tensor_parallel`` on GroqRack only) is refused."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if name_or_path in BUILTIN_TOPOLOGIES:
        base = builtin_topology(name_or_path)
        _check_layout(base, given, label)
        given.update(_profile_overrides(base, profiles, label))
        return builtin_topology(name_or_path, **given)
    spec = load_topology(name_or_path)
    pool_level = sorted(set(given) - _RUN_WIDE)
    if pool_level or profiles:
        setting = label(pool_level[0] if pool_level else "profiles")
        raise InputError(f"{setting}: only built-in topologies take pool overrides; "
                         f"set it in {name_or_path}")
    data = spec.model_dump(mode="json")
    data.update({k: v.value if hasattr(v, "value") else v for k, v in given.items()})
    try:
        return TopologySpec.model_validate(data)
    except ValueError as exc:
        raise InputError(" ".join(str(exc).split()), path=name_or_path) from None


def with_engine(spec: TopologySpec, engine: str | None) -> TopologySpec:
    """``engine`` on every pool that names no engine of its own (built-in or YAML), except
    GroqRack pools: they run Groq's own stack (batch 1), whatever the GPUs run."""
    if engine is None:
        return spec
    pools = tuple(p if p.engine is not None or get_hardware(p.hardware).kind is DeviceKind.LPU
                  else p.model_copy(update={"engine": engine}) for p in spec.pools)
    return spec.model_copy(update={"pools": pools})


def with_prefix_cache_and_routers(spec: TopologySpec, *, prefix_cache: bool | None,
                                  routers: Sequence[str] = (),
                                  label: Label = _as_keyword) -> TopologySpec:
    """``prefix_cache`` (None: as the topology has it) on the pools that prefill (colocated or
    prefill), and ``routers`` (``NAME`` for every pool, ``POOL=NAME`` for a pool by name or role),
    on any topology. A pool whose cache is turned on here is routed ``cache_aware`` unless a
    router names it."""
    if prefix_cache is None and not routers:
        return spec
    data = spec.model_dump(mode="json")
    pools = data["pools"]
    if prefix_cache is not None:
        for pool in pools:
            if pool["role"] != Role.DECODE.value:
                if prefix_cache and not pool.get("prefix_cache"):  # turned on here: the cached
                    pool["routing"] = Routing.CACHE_AWARE.value  # pools' default (routers win)
                pool["prefix_cache"] = prefix_cache
    seen: set[str] = set()
    for item in routers:
        target, sep, name = item.rpartition("=")
        targets = [p for p in pools if p["name"] == target or p["role"] == target] if sep \
            else pools
        if sep and not targets:
            names = ", ".join(p["name"] for p in pools)
            raise InputError(f"{label('routers')}: no pool '{target}' in {spec.name} "
                             f"(pools: {names})")
        routing = _router(name, label)
        for pool in targets:
            if pool["name"] in seen:
                raise InputError(f"{label('routers')}: pool '{pool['name']}' given twice")
            seen.add(pool["name"])
            pool["routing"] = routing.value
    try:
        return TopologySpec.model_validate(data)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        message = errors()[0]["msg"] if errors else str(exc)
        setting = label("prefix_cache" if prefix_cache else "routers")
        raise InputError(f"{setting}: {message.removeprefix('Value error, ')}") from None


def profile_target(item: str) -> tuple[str | None, str]:
    """A ``profiles`` item: ``POOL=PATH`` -> (POOL, PATH), POOL a pool's name or role; ``PATH``
    (or a path with ``=`` after a ``/``) -> (None, PATH): every pool."""
    pool, sep, path = item.partition("=")
    if not sep or not pool or "/" in pool:
        return None, item
    return pool, path


def _check_layout(spec: TopologySpec, given: Mapping[str, Any], label: Label) -> None:
    """Refuse overrides that the layout would silently ignore."""
    if spec.disaggregated:
        ignored = ["instances"]
        hint = f"use {label('prefill_instances')} / {label('decode_instances')}"
    else:
        ignored = ["prefill_instances", "decode_instances", "link_bandwidth", "link_latency",
                   "first_token"]
        hint = "it applies to disaggregated topologies only"
    if "gpu" in given and all(p.hardware == "groqrack" for p in spec.pools):
        raise InputError(f"{label('gpu')}: {spec.name} has no GPU pool")
    if given.get("tensor_parallel", 1) > 1 and all(p.hardware == "groqrack" for p in spec.pools):
        raise InputError(f"{label('tensor_parallel')}: {spec.name} has no GPU pool; tensor "
                         "parallelism does not apply to groqrack (it already serves as one "
                         "64-chip pipeline)")
    for key in ignored:
        if key in given:
            raise InputError(f"{label(key)}: {spec.name} is "
                             f"{'disaggregated' if spec.disaggregated else 'colocated'}; {hint}")


def _profile_overrides(spec: TopologySpec, profiles: Sequence[str],
                       label: Label) -> dict[str, str]:
    """``profiles`` -> builtin_topology's profile / prefill_profile / decode_profile."""
    chosen: dict[Role, str] = {}
    for item in profiles:
        pool, path = profile_target(item)
        if pool is None:
            targets = list(spec.pools)
        else:
            targets = [p for p in spec.pools if pool in (p.name, p.role.value)]
            if not targets:
                names = ", ".join(p.name for p in spec.pools)
                raise InputError(f"{label('profiles')}: no pool '{pool}' in {spec.name} "
                                 f"(pools: {names})")
        if not Path(path).is_file():
            raise InputError(f"{label('profiles')}: no such file", path=path)
        for pool_spec in targets:
            if pool_spec.role in chosen:
                raise InputError(f"{label('profiles')}: pool '{pool_spec.name}' given twice")
            chosen[pool_spec.role] = path
    return {_PROFILE_OVERRIDE[role]: path for role, path in chosen.items()}


def _router(name: str, label: Label) -> Routing:
    """A router name as users spell it (``least-outstanding``; ``_`` accepted too); an unknown
    one is echoed as typed, with the names as :data:`ROUTER_NAMES` lists them."""
    try:
        return Routing(name.strip().replace("-", "_"))
    except ValueError:
        raise InputError(f"{label('routers')}: unknown router '{name}' (one of: "
                         f"{', '.join(ROUTER_NAMES)})") from None
