"""The energy model's shares in the catalog are the fit's, on device-scope rows, no Llama-2-7B."""

from __future__ import annotations

import pytest

from phasesim.profiler.calibrate.bench_data import WITHHELD_MODELS
from phasesim.profiler.calibrate.energy_fit import fit_report
from phasesim.simulator.catalog.economics import BANDWIDTH_SHARE, COMPUTE_SHARE


def test_catalog_shares_are_the_device_scope_fit() -> None:
    report = fit_report()
    fit = report["device_fit"]
    assert fit["bandwidth_share"] == pytest.approx(BANDWIDTH_SHARE, abs=5e-5)
    assert fit["compute_share"] == pytest.approx(COMPUTE_SHARE, abs=5e-4)
    rows = report["rows"]
    assert not rows["model_label"].isin(WITHHELD_MODELS).any()
    assert not rows["model"].isin(["llama2-7b"]).any()
    assert set(rows.loc[rows["scope"] == "device", "power_source"].str[:6]) == {"Fig_16"}
    errors = report["device_errors"].set_index("hardware")
    assert set(errors.index) == {"a100-sxm-40gb", "h100-sxm", "gh200"}
    assert (errors["train_mape"] < 0.25).all()
