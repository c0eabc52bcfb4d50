"""The package's shape: one namespace, imports that only point down a layer.

Layers, bottom up: shared basics (``phasesim.errors``, ``.units``, ``.atomic``) -> ``traces`` ->
``simulator`` (catalogs, cost tables, engine) -> ``profiler`` and ``scenarios`` -> ``cli``. Every
import statement is checked, including those inside functions (a lazy import that points up is
still a layering error).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# every module directly in phasesim/ (errors, units, atomic, ...) is a shared basic, layer 0
BASICS = sorted(p.stem for p in (REPO / "phasesim").glob("*.py")
                if p.stem not in {"__init__", "__main__"})
LAYER = {**dict.fromkeys(BASICS, 0), "traces": 1, "simulator": 2, "profiler": 3,
         "scenarios": 3, "cli": 4}
FOLDERS = {"traces": "traces", "simulator": "simulator", "profiler": "profiler",
           "scenarios": "scenarios", "cli": "phasesim/cli"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in ("phasesim", "phasesim.profiler"):  # from phasesim import traces
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in {"simulator", "traces", "profiler", "scenarios"}:
        return "generic"  # a top-level name outside the namespace
    if parts[0] != "phasesim" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYER else None


@pytest.mark.parametrize("package", sorted(FOLDERS))
def test_imports_point_down(package: str) -> None:
    own = LAYER[package]
    wrong = []
    for path in sorted((REPO / FOLDERS[package]).rglob("*.py")):
        for line, module in _imports(path):
            layer = _layer_of(module)
            if layer == "generic":
                wrong.append(f"{path.relative_to(REPO)}:{line}: {module} (outside phasesim)")
            elif layer is not None and layer != package and LAYER[layer] >= own:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {module}")
    assert not wrong, "imports that do not point down a layer:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("room", "other"), [("capture", "calibrate"), ("calibrate", "capture")])
def test_profiler_rooms_never_import_each_other(room: str, other: str) -> None:
    """The profiler's two rooms: capture (tables measured on hardware or an endpoint) and
    calibrate (the roofline fitted on public benchmarks) share only the layers below them."""
    folder = REPO / "profiler" / room
    assert (folder / "__init__.py").exists()
    top = sorted(p.name for p in (REPO / "profiler").glob("*.py") if p.name != "__init__.py")
    assert not top, f"profiler/ holds modules outside its two rooms: {top}"
    wrong = [f"{path.relative_to(REPO)}:{line}: {module}"
             for path in sorted(folder.rglob("*.py"))
             for line, module in _imports(path)
             if module == f"phasesim.profiler.{other}"
             or module.startswith(f"phasesim.profiler.{other}.")]
    assert not wrong, f"profiler/{room} imports profiler/{other}:\n" + "\n".join(wrong)


def test_shared_basics_import_only_each_other() -> None:
    assert {"errors", "units", "atomic"} <= set(BASICS)
    wrong = [f"phasesim/{name}.py:{line}: {module}"
             for name in BASICS
             for line, module in _imports(REPO / "phasesim" / f"{name}.py")
             if _layer_of(module) not in (None, *BASICS) or _layer_of(module) == "generic"]
    assert not wrong, wrong


def test_simulator_does_not_import_torch_or_groq() -> None:
    wrong = [f"{p.relative_to(REPO)}:{line}: {m}"
             for folder in ("simulator", "traces")
             for p in sorted((REPO / folder).rglob("*.py"))
             for line, m in _imports(p) if m.split(".")[0] in {"torch", "groq", "dask"}]
    assert not wrong, wrong


def test_importing_the_engine_loads_no_upper_layer() -> None:
    code = ("import sys; from phasesim.simulator.run import simulate; "
            "import phasesim.simulator.costs, phasesim.traces; "
            "print(sorted(m for m in sys.modules if m.startswith(('phasesim.scenarios', "
            "'phasesim.profiler', 'phasesim.cli', 'matplotlib', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert out.stdout.strip() == "[]", out.stdout


def test_every_package_folder_is_in_the_wheel_list() -> None:
    """pyproject lists the packages by hand (the folders are mapped into phasesim): a new
    subpackage missing from the list would be silently left out of the wheel."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    folders = {f"phasesim.{name}": name for name in ("simulator", "traces", "profiler",
                                                     "scenarios")}
    folders["phasesim"] = "phasesim"
    assert tool["package-dir"] == folders
    expected = set()
    for package, folder in folders.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            expected.add(".".join([package, *rel.parts]))
    assert listed == expected


@pytest.mark.slow
def test_wheel_holds_only_the_phasesim_namespace(tmp_path: Path) -> None:
    # built from a copy: setuptools builds in the source tree, and a stale build/ there would
    # carry deleted modules into the wheel
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache",
        "out", "runs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", str(source), "-w", str(tmp_path)], check=True,
                   capture_output=True)
    wheel, = tmp_path.glob("phasesim-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"phasesim", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                    + ".dist-info"}
    for needed in ("phasesim/simulator/run.py", "phasesim/cli/__init__.py",
                   "phasesim/simulator/tables/h100-sxm__llama2-7b__fp16__torch__measured.parquet",
                   "phasesim/traces/samples/azure_code_2023.parquet",
                   "phasesim/scenarios/paper-disagg.yaml"):
        assert needed in names
    assert not any("make_default_tables" in name or name.startswith("phasesim/tests")
                   for name in names)


def _calls_matplotlib_use(path: Path) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "use" and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"matplotlib", "mpl"}]


def test_nothing_chooses_a_matplotlib_backend(tmp_path: Path) -> None:
    """Plots draw on a canvas of their own (``Figure`` + ``FigureCanvasAgg``): no module calls
    ``matplotlib.use``, and importing the report or plotting leaves the caller's backend alone."""
    wrong = [f"{p.relative_to(REPO)}:{line}"
             for folder in (*FOLDERS.values(), "benchmarks", "tools")
             for p in sorted((REPO / folder).rglob("*.py"))
             for line in _calls_matplotlib_use(p)]
    assert not wrong, "matplotlib.use(...) calls:\n" + "\n".join(wrong)
    code = ("import sys, matplotlib; matplotlib.use('svg'); "
            "import phasesim.scenarios.report; from phasesim.cli import app; "
            "from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['profiles', 'plot', "
            "'h100-sxm__llama2-7b__fp16__analytical__analytical', '-o', sys.argv[1]]); "
            "assert r.exit_code == 0, r.output; "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.png")],
                         capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["svg", "False"], out.stdout
