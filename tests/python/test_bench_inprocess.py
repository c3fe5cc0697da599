"""`glimpse bench --model` end to end on the bundled demo model: the JSON report's discipline and
stage sums, cache modes, timed preprocessing, CSV, SLA verdicts and exit codes, `bench compare`,
and the HTML report rendered in headless Chromium (screenshot in test-artifacts/)."""
import csv
import json
import os
import re
import shutil
import subprocess

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By

from conftest import DEMO_MODEL, GLIMPSE

IPYTHON_LINE = re.compile(r"^[\d.]+ (s|ms|µs|ns) ± [\d.]+ (s|ms|µs|ns) per loop "
                          r"\(mean ± std\. dev\. of \d+ runs?, \d+ loops? each\)$")
STAGES = ("preprocess_ms", "queue_ms", "vision_ms", "prefill_ms", "other_ms", "decode_ms")


def bench(*args, check=True):
    run = subprocess.run([str(GLIMPSE), "bench", *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


def local(*args, check=True):
    return bench("--model", DEMO_MODEL, "--threads", 2, "--max-tokens", 4, "--ignore-eos", "-n", 1, "-r", 2,
                 *args, check=check)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    run = local("--resolution", "64x64,160x120", "--concurrency", "1,2", "--json", out / "a.json",
                "--html", out / "report.html", "--csv", out / "report.csv")
    return out, run.stdout, json.loads((out / "a.json").read_text())


def test_report_follows_the_timeit_discipline(sweep):
    _, stdout, report = sweep
    assert report["run"]["mode"] == "in-process"
    assert report["run"]["load_ms"] > 0
    assert 0 < report["run"]["timer_overhead_ns"] < 10_000
    points = report["points"]
    assert [(p["label"], p["concurrency"]) for p in points] == [
        ("64x64", 1), ("64x64", 2), ("160x120", 1), ("160x120", 2)]
    for p in points:
        assert p["requests"] == 2 * p["concurrency"]  # -n 1 -r 2: the cold call is not among them
        assert p["timeit"]["loops"] == 1 and p["timeit"]["repeats"] == 2
        assert IPYTHON_LINE.match(p["timeit"]["line"]), p["timeit"]["line"]
        assert p["timeit"]["best"].startswith("best of 2: ")
        assert p["cold"]["e2e_ms"] > 0
        assert p["peak_rss_bytes"] > 10 << 20
        assert p["metrics"]["output_tokens"]["min"] == p["metrics"]["output_tokens"]["max"] == 4
        assert p["metrics"]["tpot_ms"]["count"] == p["requests"]
        assert p["metrics"]["itl_ms"]["count"] == 3 * p["requests"]
        for key in ("p50", "p90", "p95", "p99", "min", "mean", "std"):
            assert key in p["metrics"]["ttft_ms"]
        assert p["tokens_per_s"] == pytest.approx(4 * p["rps"])
    assert stdout.count("per loop (mean ± std. dev. of 2 runs, 1 loop each)") == 4
    assert "cold first call" in stdout


def test_stages_add_up_to_end_to_end(sweep):
    for p in sweep[2]["points"]:
        assert p["stage_sum_error"] < 0.02
        s = p["samples"]
        for i, e2e in enumerate(s["e2e_ms"]):
            total = sum(s[stage][i] for stage in STAGES)
            assert total == pytest.approx(e2e, rel=0.02)
            assert s["other_ms"][i] >= -0.02 * e2e  # the engine never claims more than was measured
            assert s["prefill_ms"][i] > 0 and s["decode_ms"][i] > 0


def test_csv_has_a_row_per_point_and_metric(sweep):
    rows = list(csv.DictReader((sweep[0] / "report.csv").open()))
    assert len(rows) == 4 * 11
    ttft = [r for r in rows if r["metric"] == "ttft_ms" and r["image"] == "160x120" and r["concurrency"] == "2"]
    assert float(ttft[0]["p50"]) == pytest.approx(sweep[2]["points"][3]["metrics"]["ttft_ms"]["p50"])


def test_cold_cache_encodes_every_image_and_warm_reuses_it(tmp_path):
    local("--resolution", "64x64", "--cache", "cold", "--json", tmp_path / "cold.json")
    local("--resolution", "64x64", "--cache", "warm", "--json", tmp_path / "warm.json")
    cold = json.loads((tmp_path / "cold.json").read_text())["points"][0]["metrics"]["vision_ms"]
    warm = json.loads((tmp_path / "warm.json").read_text())["points"][0]["metrics"]["vision_ms"]
    assert cold["min"] > 5 * warm["max"], (cold, warm)


def test_include_preprocess_times_the_image_work(tmp_path):
    local("--resolution", "160x120", "--include-preprocess", "--json", tmp_path / "pre.json")
    p = json.loads((tmp_path / "pre.json").read_text())["points"][0]
    assert p["metrics"]["preprocess_ms"]["min"] > 0
    assert p["stage_sum_error"] < 0.02


def test_sla_failure_exits_1_with_a_table(tmp_path):
    run = local("--resolution", "64x64", "--sla", "ttft_p90<1ns,rps>=0.001", check=False)
    assert run.returncode == 1, run.stderr
    assert re.search(r"ttft_p90<1ns .* FAIL", run.stdout)
    assert re.search(r"rps>=0.001 .* pass", run.stdout)
    bad = local("--sla", "ttft_p90<<5ms", check=False)
    assert bad.returncode != 0 and "ttft_p90<<5ms" in bad.stderr
    assert "not measured" in local("--sla", "bogus_p50<1s", check=False).stdout


def test_compare_reports_ratios_and_noise(sweep, tmp_path):
    same = bench("compare", sweep[0] / "a.json", sweep[0] / "a.json").stdout
    assert same.count("within noise") == 4 * 5
    local("--resolution", "64x64", "--json", tmp_path / "b.json")
    other = bench("compare", sweep[0] / "a.json", tmp_path / "b.json").stdout
    assert re.search(r"64x64 @ 1\s+ttft_ms\s+.*\[\d+\.\d+, \d+\.\d+\]", other)
    missing = bench("compare", sweep[0] / "a.json", sweep[0] / "report.csv", check=False)
    assert missing.returncode != 0 and "report.csv" in missing.stderr


def test_html_report_renders_its_charts_in_chromium(sweep, artifacts):
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get((sweep[0] / "report.html").as_uri())
        charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert {c.get_attribute("id") for c in charts} == {
            "histogram-0", "histogram-1", "histogram-2", "histogram-3",
            "ttft-vs-concurrency", "throughput-vs-concurrency", "latency-vs-resolution"}
        for chart in charts:
            assert chart.size["width"] > 300 and chart.size["height"] > 200
        assert len(driver.find_elements(By.CSS_SELECTOR, "#histogram-0 rect.bar")) >= 5
        assert len(driver.find_elements(By.CSS_SELECTOR, "#ttft-vs-concurrency circle.point")) == 4
        assert len(driver.find_elements(By.CSS_SELECTOR, "#latency-vs-resolution path.series")) == 4
        assert len(driver.find_elements(By.CSS_SELECTOR, "#summary tr")) == 5
        driver.save_screenshot(str(artifacts / "bench-report.png"))
    finally:
        driver.quit()
    assert (artifacts / "bench-report.png").stat().st_size > 10_000


def test_max_step_tokens_bounds_every_scheduler_step(tmp_path):
    def step_tokens(*args):
        command = [GLIMPSE, "bench", "--model", DEMO_MODEL, "--threads", 2, "--max-tokens", 2, "--ignore-eos",
                   "-n", 1, "-r", 1, "--resolution", "64x64", "--json", tmp_path / "r.json", *args]
        run = subprocess.run(list(map(str, command)),
                             capture_output=True, text=True, timeout=300, env={**os.environ, "GLIMPSE_TRACE_STEPS": "1"})
        assert run.returncode == 0, run.stderr
        return [int(m) for m in re.findall(r"glimpse step: .*?, (\d+) tokens", run.stderr)]

    assert max(step_tokens()) > 16  # the prompt's prefill in one step by default
    chunked = step_tokens("--max-step-tokens", 16)
    assert max(chunked) == 16 and len(chunked) > 3
    assert json.loads((tmp_path / "r.json").read_text())["run"]["settings"]["max_step_tokens"] == 16
    assert "--max-step-tokens" in local("--max-step-tokens", -1, check=False).stderr


def test_sampling_settings_replace_the_model_defaults(tmp_path):
    local("--temperature", 0.8, "--top-p", 0.9, "--json", tmp_path / "s.json")
    settings = json.loads((tmp_path / "s.json").read_text())["run"]["settings"]
    assert settings["temperature"] == 0.8 and settings["top_p"] == 0.9
    local("--json", tmp_path / "g.json")
    greedy = json.loads((tmp_path / "g.json").read_text())["run"]["settings"]
    assert greedy["temperature"] is None and greedy["top_p"] is None  # the model's own
    assert "--top-p" in local("--top-p", 1.5, check=False).stderr
    assert "--temperature" in local("--temperature", -1, check=False).stderr
