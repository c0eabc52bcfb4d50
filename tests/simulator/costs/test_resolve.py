"""The one resolver (``phasesim.simulator.costs.resolve``) and the one table naming
(``TableName``): a profile by path or stem, else the best shipped table of the instance's engine
(measured > published > analytical), else a user catalog's, else the roofline built for the
engine and degree; a user's calibration of the pair ahead of any shipped table; one InputError
naming the table or the column for anything unknown or mismatched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from phasesim.errors import InputError
from phasesim.simulator import table_schema as ts
from phasesim.simulator.catalog import user
from phasesim.simulator.costs import TableName, read_table, write_table
from phasesim.simulator.costs import roofline as analytical
from phasesim.simulator.costs.resolve import (
    choose_table,
    load_choice,
    load_table,
    resolve_table,
    shipped_table,
    table_path,
)
from phasesim.simulator.costs.shipped import TABLES_DIR

MEASURED = "h100-sxm__llama2-7b__fp16__torch__measured"
H100_ANALYTICAL = TABLES_DIR / "h100-sxm__llama2-7b__fp16__analytical__analytical.parquet"



# -- naming ---------------------------------------------------------------------------------------
def test_a_table_name_round_trips_and_strangers_are_not_table_names() -> None:
    for stem in (MEASURED, "h100-sxm__llama2-7b__fp16__measured",
                 "h100-sxm__llama3-70b__fp16__vllm__analytical__tp4",
                 "h100-sxm__llama3-70b__fp16__analytical__tp2"):
        name = TableName.parse(stem)
        assert name is not None and name.stem == stem and name.file_name == f"{stem}.parquet"
    assert TableName.parse(MEASURED) == TableName(hardware="h100-sxm", model="llama2-7b",
                                                  dtype="fp16", engine="torch", source="measured")
    old = TableName.parse("h100-sxm__llama3-70b__fp16__analytical__tp2")
    assert (old.engine, old.source, old.tensor_parallel) == (None, "analytical", 2)
    for stranger in ("mine", "a__b__c", "a__b__c__d__e__f", "a____c__d", "a__b/c__d__e"):
        assert TableName.parse(stranger) is None, stranger
    # every shipped table is named by its own metadata
    for path in TABLES_DIR.glob("*.parquet"):
        name, (df, meta) = TableName.parse(path.stem), read_table(path)
        assert (name.hardware, name.model, name.dtype, name.engine, name.source) == (
            df[ts.HARDWARE].iloc[0], df[ts.MODEL].iloc[0], df[ts.DTYPE].iloc[0], meta["engine"],
            meta["source"]), path.name


def test_the_built_table_is_named_by_the_same_rule(fresh_tables) -> None:
    r = resolve_table(hardware="h100-sxm", model="llama3-8b")  # no table shipped for it
    assert (r.engine, r.built, r.path) == ("vllm", True, None)
    assert r.cost_model.name == "h100-sxm__llama3-8b__fp16__vllm__analytical__tp1"
    assert r.cost_model.meta["engine"] == "vllm"


# -- shipped vs explicit ----------------------------------------------------------------------------
def test_a_shipped_table_of_the_engine_wins() -> None:
    torch = resolve_table(hardware="h100-sxm", model="llama2-7b", engine="torch")
    assert (torch.built, torch.cost_model.name, torch.uncalibrated) == (False, MEASURED, None)
    assert torch.path == TABLES_DIR / f"{MEASURED}.parquet"
    groq = resolve_table(hardware="groqrack", model="llama2-7b")  # default: groq
    assert (groq.engine, groq.built) == ("groq", False)
    assert groq.cost_model.name == "groqrack__llama2-7b__fp16__groq__analytical"
    # the H100's default engine is vllm: its table, not the measured torch one
    assert resolve_table(hardware="h100-sxm", model="llama2-7b").cost_model.name == (
        "h100-sxm__llama2-7b__fp16__vllm__analytical")


def test_engine_filter_picks_among_that_engines_tables_only() -> None:
    assert shipped_table(hardware="h100-sxm", model="llama2-7b").name.endswith("__measured.parquet")
    assert shipped_table(hardware="h100-sxm", model="llama2-7b", engine="analytical").name == (
        H100_ANALYTICAL.name)
    assert shipped_table(hardware="h100-sxm", model="llama2-7b", engine="vllm").name == (
        "h100-sxm__llama2-7b__fp16__vllm__analytical.parquet")
    assert shipped_table(hardware="h100-sxm", model="llama2-7b", engine="trt-llm") is None
    assert shipped_table(hardware="h100-sxm", model="llama2-13b") is None
    m = resolve_table(hardware="h100-sxm", model="llama2-7b", engine="analytical").cost_model
    assert m.source == ts.Source.ANALYTICAL and m.name == H100_ANALYTICAL.stem


def test_measured_beats_analytical_and_the_file_name_does_not_choose(tmp_path: Path) -> None:
    df, meta = read_table(H100_ANALYTICAL)
    (tmp_path / H100_ANALYTICAL.name).write_bytes(H100_ANALYTICAL.read_bytes())
    pick = dict(hardware="h100-sxm", model="llama2-7b", engine="analytical", directory=tmp_path)
    assert resolve_table(**pick).cost_model.source is ts.Source.ANALYTICAL
    doubled = {c: df[ts.LATENCY_S] * 2 for c in (ts.LATENCY_S, ts.LATENCY_P10_S, ts.LATENCY_P90_S)}
    # named "zz..." (after the analytical file) and "published": the metadata's source ranks
    write_table(df.assign(**doubled), dict(meta, source="measured"),
                tmp_path / "h100-sxm__llama2-7b__fp16__zz__published.parquet")
    m = resolve_table(**pick)
    assert m.cost_model.source is ts.Source.MEASURED and not m.built
    assert m.path.name == "h100-sxm__llama2-7b__fp16__zz__published.parquet"
    assert m.cost_model.warn_beyond_grid  # not in TABLES_DIR: a user's table warns
    a = resolve_table(hardware="h100-sxm", model="llama2-7b", profile=H100_ANALYTICAL).cost_model
    assert not a.warn_beyond_grid  # a shipped table given by path is still shipped
    ctx = np.array([512.0])
    assert m.cost_model.decode_step_times_s(8, ctx)[0] == pytest.approx(
        2 * a.decode_step_times_s(8, ctx)[0])
    # a file that is not named as a table is never picked (it is still a profile by path)
    (tmp_path / "mine.parquet").write_bytes(H100_ANALYTICAL.read_bytes())
    assert resolve_table(**pick).path.name != "mine.parquet"


def test_a_profile_is_taken_as_given_and_checked_against_the_shape() -> None:
    with pytest.raises(InputError, match="engine 'torch', not 'vllm'"):
        resolve_table(hardware="h100-sxm", model="llama2-7b", profile=MEASURED, engine="vllm")
    # a pool that names none keeps its profile, whatever the table's engine; the resolved
    # engine stays the hardware's default (what meta.json records)
    kept = resolve_table(hardware="h100-sxm", model="llama2-7b", profile=MEASURED)
    assert (kept.cost_model.name, kept.built, kept.engine) == (MEASURED, False, "vllm")
    with pytest.raises(InputError, match=r"row 1, column 'hardware'.*not 'a100-sxm-80gb'"):
        resolve_table(hardware="a100-sxm-80gb", model="llama2-7b", profile=H100_ANALYTICAL)
    with pytest.raises(InputError, match="model 'llama2-7b', not 'llama3-8b'"):
        resolve_table(hardware="h100-sxm", model="llama3-8b", profile=H100_ANALYTICAL)


def test_identical_prompts_build_a_moe_table_and_leave_dense_choices_alone() -> None:
    """Copies of one prompt change a mixture of experts only: its table is the roofline built
    for them (never a file, whose step times were taken on its own prompts); a dense model's
    choice is the same either way."""
    dense = choose_table(hardware="h100-sxm", model="llama2-7b", identical_prompts=True)
    assert dense == choose_table(hardware="h100-sxm", model="llama2-7b")
    moe = choose_table(hardware="h100-sxm", model="mixtral-8x7b", tensor_parallel=2,
                       identical_prompts=True)
    assert moe.path is None and moe.identical_prompts
    built = load_choice(moe)
    assert built.built and built.cost_model.meta["identical_prompts"] is True
    plain = resolve_table(hardware="h100-sxm", model="mixtral-8x7b", tensor_parallel=2)
    assert "identical_prompts" not in plain.cost_model.meta
    with pytest.raises(InputError, match="identical prompts on mixtral-8x7b"):
        choose_table(hardware="h100-sxm", model="mixtral-8x7b", profile=MEASURED,
                     identical_prompts=True)


def test_an_unknown_table_name_is_one_clear_error_naming_it() -> None:
    with pytest.raises(InputError) as caught:
        resolve_table(hardware="h100-sxm", model="llama2-7b", profile="nope")
    assert caught.value.message.startswith("no table named 'nope' (shipped: ")
    assert MEASURED in caught.value.message and "or give a .parquet path" in caught.value.message
    with pytest.raises(InputError, match="no table named 'h100-sxm__llama2-7b__fp16__nope'"):
        table_path("h100-sxm__llama2-7b__fp16__nope")
    with pytest.raises(InputError, match="unknown hardware 'b300'"):
        resolve_table(hardware="b300", model="llama2-7b")
    with pytest.raises(InputError, match="unknown engine 'nope'"):
        resolve_table(hardware="h100-sxm", model="llama2-7b", engine="nope")
    with pytest.raises(InputError, match="unknown model 'llama9'"):
        resolve_table(hardware="h100-sxm", model="llama9", profile=MEASURED)


def test_old_table_stems_still_name_their_one_table(tmp_path: Path) -> None:
    old = "h100-sxm__llama2-7b__fp16__measured"
    assert table_path(old) == TABLES_DIR / f"{MEASURED}.parquet"
    assert table_path("groqrack__llama2-7b__fp16__analytical").name == (
        "groqrack__llama2-7b__fp16__groq__analytical.parquet")
    assert table_path(TABLES_DIR / f"{MEASURED}.parquet") == TABLES_DIR / f"{MEASURED}.parquet"
    assert table_path("not/there.parquet") == Path("not/there.parquet")  # a path is a path
    for engine in ("vllm", "trt-llm"):  # two engines' tables: the old stem is ambiguous
        (tmp_path / f"h100-sxm__llama2-7b__fp16__{engine}__measured.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="ambiguous.*trt-llm__measured, .*vllm__measured"):
        table_path(old, tmp_path)


# -- tensor parallelism ---------------------------------------------------------------------------
def test_a_tp1_table_is_not_reused_for_tp_n(fresh_tables) -> None:
    choice = choose_table(hardware="h100-sxm", model="llama2-7b", tensor_parallel=2)
    assert choice.path is None and choice.engine == "vllm"  # shipped tables are TP 1: built
    built = load_choice(choice)
    assert built.built and built.cost_model.tensor_parallel == 2
    assert built.cost_model.name == "h100-sxm__llama2-7b__fp16__vllm__analytical__tp2"
    with pytest.raises(InputError, match="tensor_parallel '1', not '2' .*not reused for another"):
        resolve_table(hardware="h100-sxm", model="llama2-7b", tensor_parallel=2, profile=MEASURED)


# -- calibration ----------------------------------------------------------------------------------
def test_uncalibrated_unless_the_pair_is_fitted(fresh_tables) -> None:
    r = resolve_table(hardware="h200", model="llama2-7b", engine="trt-llm")  # no H200 data
    assert r.uncalibrated and "trt-llm" in r.uncalibrated
    fitted = resolve_table(hardware="h100-sxm", model="llama3-8b", engine="trt-llm")
    assert fitted.built and fitted.uncalibrated is None  # simulator/tables/engine_calibration.json


def test_a_fitted_pair_is_calibrated(h100_vllm_calibrated) -> None:
    r = resolve_table(hardware="h100-sxm", model="llama3-8b")
    assert r.built and r.uncalibrated is None
    assert r.cost_model.meta["calibrated_on"] == "h100-sxm/vllm"


def test_a_users_calibration_of_the_pair_goes_ahead_of_the_shipped_table(fresh_tables,
                                                                          tmp_path: Path) -> None:
    entry = dict(analytical.load_engine_calibration()["pairs"]["h100-sxm/vllm"])
    entry["constants"] = {k: v * 2 if k.endswith("_s") else v
                          for k, v in entry["constants"].items()}
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"pairs": {"h100-sxm/vllm": entry}}))
    shipped = resolve_table(hardware="h100-sxm", model="llama2-7b")
    mine = choose_table(hardware="h100-sxm", model="llama2-7b", calibration=cal)
    assert (mine.path, mine.calibration) == (None, str(cal))
    built = load_choice(mine)
    assert built.built and not shipped.built
    one = (np.array([512]), np.array([0]))
    assert built.cost_model.prefill_time_s(*one) > shipped.cost_model.prefill_time_s(*one)
    # a pair the file does not hold keeps its shipped table; a profile ignores the file
    other = resolve_table(hardware="groqrack", model="llama2-7b", calibration=cal)
    assert other.path is not None and other.path.parent == TABLES_DIR
    assert resolve_table(hardware="h100-sxm", model="llama2-7b", profile=MEASURED,
                         calibration=cal).cost_model.name == MEASURED


# -- user catalog ---------------------------------------------------------------------------------
def test_a_user_catalog_table_comes_after_the_shipped_ones(fresh_tables, tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    df, meta = analytical.build_analytical_table(hardware="h100-sxm", model="llama2-7b",
                                                 engine="trt-llm")
    meta = dict(meta, hardware="h100-sxm", model="llama2-7b", dtype="fp16")  # as captures write
    write_table(df, meta, tables / "whatever.parquet")  # found by its metadata, not its name
    with user.isolated_catalog():
        user.register_directory(tmp_path)
        r = resolve_table(hardware="h100-sxm", model="llama2-7b", engine="trt-llm")
        assert (r.built, r.path, r.cost_model.name) == (False, tables / "whatever.parquet",
                                                         "whatever")
        assert resolve_table(hardware="h100-sxm", model="llama2-7b", engine="trt-llm",
                             tensor_parallel=2).built  # a TP-1 table is not reused
        assert resolve_table(hardware="h100-sxm", model="llama2-7b").path.parent == TABLES_DIR
    assert resolve_table(hardware="h100-sxm", model="llama2-7b", engine="trt-llm").built


# -- loading a file -------------------------------------------------------------------------------
def test_load_table_takes_the_tables_own_model_unless_one_is_asked_for(tmp_path: Path) -> None:
    m = load_table(TABLES_DIR / f"{MEASURED}.parquet")
    assert (m.name, m.model_name, m.hardware, m.warn_beyond_grid) == (
        MEASURED, "llama2-7b", "h100-sxm", False)
    df, meta = read_table(H100_ANALYTICAL)
    write_table(df.assign(**{ts.MODEL: "llama-unknown"}), meta, tmp_path / "odd.parquet")
    with pytest.raises(InputError, match="model 'llama-unknown' is not in the catalog") as caught:
        load_table(tmp_path / "odd.parquet")
    assert (caught.value.row, caught.value.column) == (1, ts.MODEL)


def test_a_choice_is_a_value_a_cache_can_key_on() -> None:
    shape = dict(hardware="h100-sxm", model="llama2-7b", profile=MEASURED)
    assert choose_table(**shape) == choose_table(**shape)
    assert hash(choose_table(**shape)) == hash(choose_table(**shape))
    assert choose_table(**shape).file_engine is None
    assert choose_table(hardware="h100-sxm", model="llama2-7b").file_engine == "vllm"
