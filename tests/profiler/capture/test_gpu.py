"""CUDA-only checks (marked ``gpu``; skip cleanly without a CUDA device). Their logic is covered
on CPU elsewhere; these catch what only a GPU shows: CUDA-graph capture of decode steps."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from phasesim.cli.profiler_cmd import app
from phasesim.simulator import table_schema as ts

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_decode_graph_replay_equals_eager_step():
    from phasesim.profiler.capture.torch_model import build_weights, decode_step, new_kv_cache
    from phasesim.simulator.catalog.models import get_model

    spec, dev = get_model("tiny-llama"), torch.device("cuda", 0)
    w = build_weights(spec, device=dev, dtype=torch.float16, seed=0)
    cache = new_kv_cache(spec, batch=4, capacity_tokens=512, device=dev, dtype=torch.float16,
                         random_fill=True)
    tokens = torch.randint(0, spec.vocab, (4,), device=dev)
    positions = torch.tensor([10, 100, 300, 511], device=dev)
    eager = decode_step(w, tokens, positions, cache, attn_tokens=512).clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        decode_step(w, tokens, positions, cache, attn_tokens=512)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = decode_step(w, tokens, positions, cache, attn_tokens=512)
    graph.replay()
    torch.cuda.synchronize()
    assert out.tolist() == eager.tolist()


def test_capture_on_cuda_uses_graphs_for_decode(tmp_path):
    out = tmp_path / "t.parquet"
    res = CliRunner().invoke(app, ["capture", "--backend", "torch", "--device", "cuda",
                                   "--model", "tiny-llama", "--prefill-batch-sizes", "1",
                                   "--prompt-lens", "64", "--decode-batch-sizes", "1,8",
                                   "--contexts", "128", "--repeats", "3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[ts.METADATA_KEY])
    df = table.to_pandas()
    assert meta["cuda_graphs"]["used"] and not meta["cuda_graphs"]["failures"]
    assert df.loc[df[ts.PHASE] == "decode", "cuda_graph"].all()
    assert meta["capture"]["libraries"]["cuda"]
