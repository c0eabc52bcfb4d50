"""Catalogs of models and hardware (numbers with their sources)."""

from phasesim.simulator.catalog.hardware import HARDWARE, DeviceKind, HardwareSpec, get_hardware
from phasesim.simulator.catalog.models import (
           DTYPE_BYTES,
           MODELS,
           ModelSpec,
           get_model,
           model_from_hf_config,
)

__all__ = ["DTYPE_BYTES", "MODELS", "ModelSpec", "get_model", "model_from_hf_config",
           "HARDWARE", "DeviceKind", "HardwareSpec", "get_hardware"]
