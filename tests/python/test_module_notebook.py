"""examples/timeit.ipynb runs headless (nbclient) and prints what it promises."""
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The module of scripts/test.sh's release build, unless PYTHONPATH names another build first.
sys.path.append(str(Path(os.environ.get("GLIMPSE_BUILD_DIR", ROOT / "build" / "release")) / "python"))
import glimpse  # noqa: E402

import nbclient  # noqa: E402
import nbformat  # noqa: E402

NOTEBOOK = ROOT / "examples" / "timeit.ipynb"


def text_of(cell):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                   for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel runs this interpreter; PYTHONPATH hands it the glimpse build the tests import.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(glimpse.__file__).parents[1])] + os.environ.get("PYTHONPATH", "").split(os.pathsep))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    os.environ.setdefault("MPLBACKEND", "Agg")
    client.execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def test_timeit_line(executed):
    out = next(text_of(c) for c in executed if "%timeit" in c.source)
    assert re.search(r"[\d.]+ [mµ]?s ± [\d.]+ [mµn]?s per loop \(mean ± std\. dev\. of 3 runs, "
                     r"5 loops each\)", out), out


def test_glimpse_timeit_breakdown(executed):
    out = next(text_of(c) for c in executed if "%glimpse_timeit" in c.source)
    assert "of 3 runs, 5 loops each" in out
    assert "stages (mean of 15 calls, ms)" in out and "TTFT ms: p50" in out and "peak RSS" in out


def test_timeit_agrees_with_the_engine(executed):
    out = next(text_of(c) for c in executed if "engine_ms =" in c.source)
    ratio = float(re.search(r"ratio ([\d.]+)", out).group(1))
    assert 0.9 <= ratio <= 1.1, out  # Python adds little on top of the engine's own time


def test_sweep_plots_five_sizes(executed):
    cell = next(c for c in executed if "sweep" in c.source)
    assert len(re.findall(r"\d+x\d+: \d+ image tokens", text_of(cell))) == 5
    assert any("image/png" in o.get("data", {}) for o in cell.outputs)


def test_sla_verdict(executed):
    out = text_of(next(c for c in executed if ".sla(" in c.source))
    assert len(re.findall(r"^(PASS|FAIL)  ", out, re.M)) == 3
    assert re.search(r"SLA (met|missed)", out)
