"""Load: 64 concurrent streaming requests with images on the bundled model all complete, give the
same greedy text as the same requests run one at a time (a difference is accepted only right
after a near-tie of the sequential run's top-2 logprobs), /metrics adds up, and no KV block leaks."""
import base64
import json
from concurrent.futures import ThreadPoolExecutor

from conftest import DEMO_MODEL, ROOT, Server
from sse import events

SCENES = ROOT / "tests" / "demo_scenes"
CONCURRENCY = 64


def requests_for_scenes():
    lines = [json.loads(l) for l in (SCENES / "scenes.jsonl").read_text().splitlines() if l.strip()]
    out = []
    for scene in lines[:CONCURRENCY]:
        data = base64.b64encode((SCENES / scene["image"]).read_bytes()).decode()
        out.append({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
            {"type": "text", "text": scene["question"]}]}],
            "temperature": 0, "max_tokens": 16})
    assert len(out) == CONCURRENCY
    return out


def agrees(alone, batched_text):
    """Equal text, or a divergence that starts right after a near-tie in the sequential run."""
    text = alone["choices"][0]["message"]["content"]
    if text == batched_text:
        return True
    prefix = ""
    for entry in alone["choices"][0]["logprobs"]["content"]:
        top = entry["top_logprobs"]
        if not batched_text.startswith(prefix + entry["token"]):
            return len(top) >= 2 and top[0]["logprob"] - top[1]["logprob"] < 1e-3
        prefix += entry["token"]
    return False


def test_64_concurrent_streams_match_sequential():
    s = Server("--max-running", CONCURRENCY, "--http-threads", 128, model=DEMO_MODEL)
    try:
        bodies = requests_for_scenes()
        sequential = [s.post("/v1/chat/completions", {**b, "logprobs": True, "top_logprobs": 2}).json()
                      for b in bodies]

        def stream(body):
            r = s.post("/v1/chat/completions", {**body, "stream": True, "stream_options": {"include_usage": True}},
                       stream=True)
            assert r.status_code == 200, r.text
            chunks = list(events(r))
            text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
            return text, chunks[-1]["usage"]["completion_tokens"]

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            results = list(pool.map(stream, bodies))

        mismatches = [i for i, (alone, (text, _)) in enumerate(zip(sequential, results)) if not agrees(alone, text)]
        assert not mismatches, f"requests {mismatches} differ from their sequential runs"
        generated = sum(r["usage"]["completion_tokens"] for r in sequential) + sum(n for _, n in results)
        assert s.metric("glimpse_generated_tokens_total") == generated
        assert s.metric("glimpse_requests_total", '{path="/v1/chat/completions",status="200"}') == 2 * CONCURRENCY
        assert s.metric("glimpse_time_to_first_token_seconds_count") == 2 * CONCURRENCY
        assert s.metric("glimpse_requests_running") == 0
        assert s.metric("glimpse_kv_cache_blocks_used") == 0
        assert s.metric("glimpse_image_cache_hits_total") >= CONCURRENCY  # the second round reuses embeddings
    finally:
        assert s.stop() == 0
