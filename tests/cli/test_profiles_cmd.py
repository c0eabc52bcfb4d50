"""`sim profiles` list / show / plot, in-process."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from phasesim.cli import app
from phasesim.simulator.costs.shipped import TABLES_DIR

DEFAULTS = ["h100-sxm__llama2-7b__fp16__analytical__analytical", "a100-sxm-80gb__llama2-7b__fp16__analytical__analytical",
            "groqrack__llama2-7b__fp16__groq__analytical"]


def test_list_json_shows_the_defaults():
    result = CliRunner().invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(DEFAULTS) <= set(rows)
    g = rows["groqrack__llama2-7b__fp16__groq__analytical"]
    assert (g["hardware"], g["model"], g["dtype"], g["source"]) == ("groqrack", "llama2-7b", "fp16", "analytical")
    assert "decode b1-1" in g["grid"]
    assert g["engine"] == "groq"
    assert rows["h100-sxm__llama2-7b__fp16__torch__measured"]["engine"] == "torch"
    assert "decode b1-512" in rows[DEFAULTS[0]]["grid"]


def test_list_table_output():
    result = CliRunner().invoke(app, ["profiles", "list"])
    assert result.exit_code == 0 and "groqrack__llama2-7b__fp16__groq__analytical" in result.output
    assert "engine" in result.output and "torch" in result.output


def test_show_by_stem_and_path():
    r1 = CliRunner().invoke(app, ["profiles", "show", DEFAULTS[2]])
    r2 = CliRunner().invoke(app, ["profiles", "show", str(TABLES_DIR / f"{DEFAULTS[2]}.parquet")])
    assert r1.exit_code == 0 and r2.exit_code == 0
    shown = json.loads(r1.output)
    assert shown["metadata"]["source"] == "analytical"
    assert shown["table"]["engine"] == shown["metadata"]["engine"] == "groq"
    assert "groq-published" in shown["metadata"]["calibration"]
    assert json.loads(r2.output)["metadata"] == shown["metadata"]


def test_show_unknown_name_exits_2():
    result = CliRunner().invoke(app, ["profiles", "show", "nope"])
    assert result.exit_code == 2 and result.output.startswith("error: no table named 'nope'")


def test_plot_writes_png(tmp_path):
    """-o, --out and the old --output write the same file."""
    for flag in ("-o", "--out", "--output"):
        out = tmp_path / f"fig{flag}.png"
        result = CliRunner().invoke(app, ["profiles", "plot", *DEFAULTS, flag, str(out)])
        assert result.exit_code == 0, result.output
    data = (tmp_path / "fig-o.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert (tmp_path / "fig--out.png").read_bytes() == data
    assert (tmp_path / "fig--output.png").read_bytes() == data


def test_plot_draws_no_decode_curve_beyond_the_kv_memory(tmp_path, monkeypatch):
    """Issue 21: each table's decode curves stop at the largest batch whose KV (at --context
    tokens a sequence) fits beside the weights, marked, and its legend says so; prompts stop
    at the context."""
    from matplotlib.figure import Figure

    from phasesim.simulator.costs import kv_capacity_tokens

    drawn = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig),
                                                                 real(fig, *a, **k)))
    names = ["h100-sxm__llama2-7b__fp16__vllm__analytical",
             "groqrack__llama2-7b__fp16__groq__analytical"]
    result = CliRunner().invoke(app, ["profiles", "plot", *names, "--context", "2048",
                                      "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    prefill, step = drawn[0].axes[:2]
    fits = kv_capacity_tokens(hardware="h100-sxm", model="llama2-7b") // 2048
    assert 1 < fits < 256  # the table goes to batch 512; the KV memory holds far fewer
    h100 = [line for line in step.get_lines() if line.get_color() == "C0"]
    assert max(max(line.get_xdata()) for line in h100) == fits
    assert any(line.get_marker() == "|" and list(line.get_xdata()) == [fits] for line in h100)
    labels = [t.get_text() for t in drawn[0].legends[0].get_texts()]
    assert labels[0].endswith(f"up to batch {fits})") and labels[1].endswith("up to batch 1)")
    assert not any(ax.get_legend() for ax in drawn[0].axes)  # the legend is off the data
    groq_prompts = next(line for line in prefill.get_lines() if line.get_color() == "C1")
    assert max(groq_prompts.get_xdata()) <= 2048  # GroqRack's context


def test_plot_bad_output_exits_2_without_file(tmp_path):
    out = tmp_path / "fig.svg"
    result = CliRunner().invoke(app, ["profiles", "plot", DEFAULTS[0], "-o", str(out)])
    assert result.exit_code == 2 and "must be a .png" in result.output
    assert not out.exists()


def test_engines_lists_scheduling_and_where_each_is_fitted(sim):
    import json

    from phasesim.simulator.costs.roofline import load_engine_calibration

    result = sim("profiles", "engines", "--json")
    assert result.exit_code == 0, result.output
    engines = json.loads(result.stdout)
    assert engines["vllm"]["batching"] == "continuous" and engines["vllm"]["max_num_seqs"] == 256
    assert engines["llama.cpp"]["single_sequence"] and engines["llama.cpp"]["layer_split"]
    pairs = load_engine_calibration()["pairs"]
    for name, e in engines.items():  # every fitted pair is listed under its engine, nothing else
        assert set(e["fitted_on"]) == {k.split("/")[0] for k in pairs if k.split("/")[1] == name}
    assert engines["vllm"]["fitted_on"]["h100-sxm"]["cv_mape_pct"] == pairs["h100-sxm/vllm"]["cv_mape_pct"]
    assert "groqrack" in engines["groq"]["other_calibration"]
    table = sim("profiles", "engines")
    assert "gaudi2 (" in table.stdout and "sambaflow" in table.stdout
