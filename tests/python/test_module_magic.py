"""%glimpse_timeit in a real IPython shell: %timeit's semantics, the engine's statistics."""
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The module of scripts/test.sh's release build, unless PYTHONPATH names another build first.
sys.path.append(str(Path(os.environ.get("GLIMPSE_BUILD_DIR", ROOT / "build" / "release")) / "python"))
import glimpse  # noqa: E402

from glimpse import magic  # noqa: E402
from IPython.testing.globalipapp import start_ipython  # noqa: E402

SCENE = ROOT / "tests" / "demo_scenes" / "000.png"


@pytest.fixture(scope="module")
def shell():
    ip = start_ipython()
    ip.run_line_magic("load_ext", "glimpse")
    ip.user_ns["m"] = glimpse.Model(threads=2)
    ip.user_ns["img"] = ip.user_ns["m"].prepare(SCENE)
    return ip


def test_split_line_reads_options_then_expression():
    options, expr = magic.split_line("-n 5 -r 3 --warmup 2 -o m.generate(image=img, text='-n 1')")
    assert (options["n"], options["r"], options["warmup"], options["o"]) == (5, 3, 2, True)
    assert expr == "m.generate(image=img, text='-n 1')"
    options, expr = magic.split_line("f(x) -n 3")
    assert options["n"] is None and expr == "f(x) -n 3"


def test_magic_counts_loops_and_prints_the_engine_breakdown(shell, capsys):
    result = shell.run_line_magic(
        "glimpse_timeit", "-n 2 -r 3 --warmup 1 -o m.generate(image=img, text='图中有几个形状？', "
        "max_tokens=4, temperature=0)")
    out = capsys.readouterr().out
    assert len(result.results) == 6  # exactly the timed calls: warm-up excluded
    assert result.timeit.loops == 2 and len(result.timeit.repeat_seconds) == 3
    assert re.search(r"per loop \(mean ± std\. dev\. of 3 runs, 2 loops each\)", out)
    assert "stages (mean of 6 calls, ms): preprocess" in out
    assert re.search(r"TTFT ms: p50 [\d.]+ \| p90 [\d.]+ \| p99 [\d.]+", out)
    assert re.search(r"peak RSS [\d.]+ MiB", out)
    engine_total = sum(r.timings["total"] for r in result.results) / 1e3
    assert engine_total <= sum(result.timeit.repeat_seconds)  # wall time covers the engine's
    ttfts = sorted(r.timings["ttft"] for r in result.results)
    assert result.ttft.count == 6 and ttfts[0] <= result.ttft.p50 <= ttfts[-1]


def test_magic_chooses_loops_like_timeit_and_stays_quiet(shell, capsys):
    assert shell.run_line_magic("glimpse_timeit", "-q -r 2 --warmup 0 "
                                "m.generate(image=img, text='x', max_tokens=1)") is None
    assert capsys.readouterr().out == ""
    last = magic.last
    assert last.timeit.loops in (1, 2, 5, 10, 20, 50)
    assert last.timeit.loops * last.timeit.average >= 0.2 or last.timeit.loops == 1


def test_magic_reports_expressions_without_engine_calls(shell, capsys):
    shell.run_line_magic("glimpse_timeit", "-n 1 -r 1 sum(range(10))")
    assert "made no glimpse generate/chat call" in capsys.readouterr().out


def test_magic_rejects_bad_options(shell):
    with pytest.raises(ValueError):
        magic.glimpse_timeit("-r 0 m.generate(text='x')", shell.user_ns)
    with pytest.raises(ValueError):
        magic.glimpse_timeit("-n 2", shell.user_ns)


def test_sla_verdicts_use_the_measured_percentiles(shell, capsys):
    result = shell.run_line_magic("glimpse_timeit", "-q -o -n 1 -r 3 m.generate(image=img, "
                                  "text='图中有几个形状？', max_tokens=4, temperature=0)")
    p90 = result.metrics()["ttft_p90"]
    assert result.sla(f"ttft_p90<{p90 * 1e3 * 2:.3f}ms") is True
    assert result.sla(f"ttft_p90<{p90 * 1e3 / 2:.3f}ms,e2e_mean<1min") is False
    out = capsys.readouterr().out
    assert out.count("PASS") == 2 and out.count("FAIL") == 1
    with pytest.raises(glimpse.Error):
        result.sla("ttft_p90<<1ms")
