"""The user's catalog (issue 21, point 3): the same fields and validation as the built-ins, one
error line naming the file, the line and the field, and a captured table's own hardware."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from phasesim.errors import InputError
from phasesim.simulator.catalog import economics, user
from phasesim.simulator.catalog.engines import ENGINES, EngineSpec, get_engine
from phasesim.simulator.catalog.hardware import HARDWARE, DeviceKind, HardwareSpec, get_hardware
from phasesim.simulator.catalog.models import MODELS, ModelSpec, get_model

B200 = """\
b200:
  kind: gpu
  chips: 1
  peak_flops_fp16: 2.25e15
  memory_bytes: 180e9
  memory_bandwidth_bytes_per_s: 8TB/s
  interconnect_bytes_per_s: 1800GB/s
  pcie_bytes_per_s: 63GB/s
  nic_bytes_per_s: 400Gbps
  max_batch_size: 512
  sources: {peak_flops_fp16: "example"}
  power: {idle_w: 150, peak_w: 1000}
  price:
    tco: {device_usd: 40000, device_source: "assumption: example", host_usd: 5000,
          host_source: "assumption: example", host_w: 75, host_w_source: "assumption: example",
          lifetime_years: 4, lifetime_source: "assumption: example"}
    rental: {usd_per_hour: 6.0, source: "example cloud, 2026"}
"""


@pytest.fixture(autouse=True)
def _isolated():
    with user.isolated_catalog():
        yield


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - {"name"}


def test_entries_have_the_built_ins_fields() -> None:
    assert set(user._HardwareEntry.model_fields) == _fields(HardwareSpec) | {"power", "price"}
    assert set(user._ModelEntry.model_fields) == _fields(ModelSpec)
    assert set(user._EngineEntry.model_fields) == _fields(EngineSpec)
    assert set(user._TcoEntry.model_fields) == _fields(economics.TcoSpec)
    assert set(user._PowerEntry.model_fields) == _fields(economics.PowerSpec)


def test_a_hardware_file_registers_hardware_power_and_prices(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    path.write_text(B200)
    assert user.register_hardware_file(path) == ["b200"]
    spec = get_hardware("b200")
    assert spec.kind is DeviceKind.GPU and spec.memory_bandwidth_bytes_per_s == 8e12
    assert spec.nic_bytes_per_s == 400e9 / 8 and spec.memory_bytes == 180e9
    book = economics.PriceBook()
    assert book.usd_per_hour("b200") == pytest.approx(45_000 / (4 * economics.HOURS_PER_YEAR)
                                                      + 1.075 * 1.2 * 0.10)
    assert economics.PriceBook(basis=economics.PriceBasis.RENTAL).usd_per_hour("b200") == 6.0


def test_the_catalog_is_restored_after(tmp_path: Path) -> None:
    assert "b200" not in HARDWARE and "b200" not in economics.TCO


@pytest.mark.parametrize("text, where, message", [
    (B200.replace("  max_batch_size: 512\n", ""), "line 1, column 'b200.max_batch_size'",
     "missing field"),
    (B200.replace("  chips: 1\n", "  chips: 1\n  colour: red\n"),
     "line 4, column 'b200.colour'", "unknown field"),
    (B200.replace("8TB/s", "8TB/z"), "line 6, column 'b200.memory_bandwidth_bytes_per_s'",
     "cannot read bandwidth '8TB/z'"),
    (B200.replace("chips: 1", "chips: 0"), "line 3, column 'b200.chips'", "greater than or equal"),
    (B200.replace("kind: gpu", "kind: tpu"), "line 2, column 'b200.kind'", "'gpu'"),
    (B200.replace("b200:", "h100-sxm:"), "line 1, column 'h100-sxm'", "is a built-in entry"),
    (B200.replace("idle_w: 150", "idle_w: 1500"), "column 'b200.power'", "idle_w must be <="),
    ("b200: [1, 2]\n", "line 1, column 'b200'", "expected a mapping"),
    ("b200: {kind: gpu\n", "", "not valid YAML"),
])
def test_bad_hardware_files_name_file_line_and_field(tmp_path: Path, text: str, where: str,
                                                     message: str) -> None:
    path = tmp_path / "hw.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        user.register_hardware_file(path)
    line = str(caught.value)
    assert line.startswith(str(path)) and where in line and message in line, line
    assert "\n" not in line
    assert "b200" not in HARDWARE


def test_a_catalog_directory_adds_models_engines_prices_and_tables(tmp_path: Path) -> None:
    (tmp_path / "hardware.yaml").write_text(B200.split("  price:")[0])
    (tmp_path / "models.yaml").write_text(
        "tiny-mine: {layers: 2, hidden: 64, heads: 4, kv_heads: 4, head_dim: 16, ffn: 128,"
        " vocab: 100, max_context_tokens: 512}\n")
    (tmp_path / "engines.yaml").write_text(
        "mine: {title: My engine, batching: chunked, max_num_seqs: 8, "
        "max_num_batched_tokens: 256, version: '1'}\n")
    (tmp_path / "prices.yaml").write_text(
        "b200: {rental: {usd_per_hour: 7.5, source: example cloud}}\n")
    user.register_from_environment({user.CATALOG_ENV: str(tmp_path)})
    assert get_model("tiny-mine").layers == 2 and get_engine("mine").batching == "chunked"
    assert "tiny-mine" in MODELS and "mine" in ENGINES
    assert economics.PriceBook(basis=economics.PriceBasis.RENTAL).usd_per_hour("b200") == 7.5
    (tmp_path / "engines.yaml").write_text("mine2: {title: x, batching: fast, version: '1'}\n")
    with pytest.raises(InputError, match=r"engines.yaml, line 1, column 'mine2.batching'"):
        user.load_engines_file(tmp_path / "engines.yaml")
