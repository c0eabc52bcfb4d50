"""Engine names: one spelling per engine (issue 21, point 8)."""

from __future__ import annotations

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog.engines import (
    ENGINE_SPELLINGS,
    ENGINES,
    canonical_engine,
    get_engine,
)


def test_one_spelling_per_engine() -> None:
    """Other spellings name phasesim's: never a second engine name."""
    assert set(ENGINE_SPELLINGS.values()) <= set(ENGINES)
    assert not set(ENGINE_SPELLINGS) & set(ENGINES)
    for spelling in ("trtllm", "TensorRT-LLM", "TRT_LLM", "TRT-LLM"):
        assert canonical_engine(spelling) == "trt-llm"
        with pytest.raises(InputError, match="phasesim spells it 'trt-llm'"):
            get_engine(spelling)
    assert canonical_engine("sglang") == "sglang"  # not a catalog engine: provenance, as given
