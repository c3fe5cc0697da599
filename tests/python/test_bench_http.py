"""`glimpse bench --url` against the real `glimpse serve` (demo model): streamed tokens agree
with the server's usage count, the server's stage timings add up, and --cache cold really misses
the server's image-embedding cache on every request."""
import json
import subprocess

import pytest

from conftest import DEMO_MODEL, GLIMPSE, Server


@pytest.fixture(scope="module")
def demo_server():
    s = Server(model=DEMO_MODEL)
    yield s
    s.stop()


def bench_url(url, out, *args):
    run = subprocess.run([str(GLIMPSE), "bench", "--url", url, "--resolution", "96x96", "--max-tokens", "6",
                          "--ignore-eos", "-n", "1", "-r", "2", "--json", str(out), *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(out.read_text()), run.stdout


def test_streaming_sweep_against_glimpse_serve(demo_server, tmp_path):
    report, stdout = bench_url(demo_server.url, tmp_path / "http.json", "--concurrency", "1,4")
    assert report["run"]["mode"] == "http"
    for p in report["points"]:
        assert p["requests"] == 2 * p["concurrency"]
        assert p["metrics"]["output_tokens"]["min"] == 6
        assert p["usage_mismatches"] == 0
        assert p["metrics"]["prefill_ms"]["min"] > 0  # from the server's usage-chunk timings
        assert p["stage_sum_error"] < 0.02
        assert p["metrics"]["ttft_ms"]["min"] >= p["metrics"]["prefill_ms"]["min"]
    assert "per loop (mean ± std. dev. of 2 runs, 1 loop each)" in stdout


def test_cold_cache_misses_the_server_image_cache(demo_server, tmp_path):
    before = demo_server.metric("glimpse_image_cache_misses_total") or 0
    report, _ = bench_url(demo_server.url, tmp_path / "cold.json", "--cache", "cold", "--warmup", "0")
    sent = 1 + report["points"][0]["requests"]  # the cold first call + the timed ones
    assert demo_server.metric("glimpse_image_cache_misses_total") - before == sent
