"""Any catalog model on any catalog hardware and engine works out of the box (issue 12): a table
is found or built, calibrated pairs say where their constants come from, the rest say they are
uncalibrated; GroqRack takes only its own stack's batch-1 shape."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import ENGINES
from phasesim.simulator.catalog.hardware import HARDWARE, DeviceKind, get_hardware
from phasesim.simulator.catalog.models import MODELS
from phasesim.simulator.costs import min_tensor_parallel
from phasesim.simulator.costs import roofline as analytical
from phasesim.simulator.costs.resolve import resolve_table

FITTED = set(analytical.load_engine_calibration()["pairs"])


@pytest.mark.parametrize("hardware", sorted(h for h in HARDWARE if get_hardware(h).kind is not DeviceKind.LPU))
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_engine_on_every_device(hardware, engine):
    r = resolve_table(hardware=hardware, model="llama3-8b", engine=engine)
    assert r.engine == engine and r.cost_model.meta["engine"] == engine
    # a pair fitted on the same die (roofline.SAME_DIE: the 80 GB A100 on the 40 GB one's fits)
    key = next((f"{h}/{engine}" for h in (hardware, analytical.SAME_DIE.get(hardware))
                if f"{h}/{engine}" in FITTED), None)
    assert (r.uncalibrated is None) == (key is not None or engine == "analytical")
    if key is not None:
        assert r.cost_model.meta["calibrated_on"] == key
    assert 0 < r.cost_model.decode_step_times_s(8, [1024.0])[0] < 1.0


@pytest.mark.parametrize("model", sorted(m for m in MODELS if m != "tiny-llama"))
def test_every_model_on_a_calibrated_pair(model):
    tp = min_tensor_parallel(hardware="mi300x", model=model)
    r = resolve_table(hardware="mi300x", model=model, tensor_parallel=tp)
    assert r.uncalibrated is None and r.cost_model.tensor_parallel == tp
    ttft = r.cost_model.prefill_time_s([512], [0])
    assert 0 < ttft < 10


def test_groqrack_only_with_groq_batch_one():
    r = resolve_table(hardware="groqrack", model="llama2-7b")
    assert r.engine == "groq" and r.cost_model.max_batch_size == 1
    with pytest.raises(InputError):
        resolve_table(hardware="groqrack", model="llama2-7b", tensor_parallel=2)
