"""The OpenAI-compatible API of the real server on loopback (tiny-a golden model)."""
import base64
import json
import signal
import socket
import threading
import time

import requests

from conftest import GOLDEN, Server
from sse import events


def chat(text, **extra):
    return {"messages": [{"role": "user", "content": text}], "temperature": 0, "max_tokens": 8, **extra}


def image_message(path, text="Describe the image."):
    data = base64.b64encode(path.read_bytes()).decode()
    kind = "jpeg" if path.suffix == ".jpg" else "png"
    return {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/{kind};base64,{data}"}},
        {"type": "text", "text": text}]}


def an_image():
    return sorted((GOLDEN / "images").glob("*.png"))[0]


def test_health_ready_models(server):
    assert server.get("/health").json() == {"status": "ok"}
    assert server.get("/ready").status_code == 200
    models = server.get("/v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "tiny-a"
    assert models["data"][0]["max_model_len"] > 0


def test_chat_completion_non_stream(server):
    r = server.post("/v1/chat/completions", chat("Hello there", logprobs=True, top_logprobs=3))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["completion_tokens"] == len(choice["logprobs"]["content"]) <= 8
    assert usage["prompt_tokens"] == len(body["prompt_token_ids"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    entry = choice["logprobs"]["content"][0]
    assert {"token", "token_id", "logprob", "top_logprobs"} <= entry.keys()
    assert len(entry["top_logprobs"]) == 3
    timings = body["timings"]
    assert timings["ttft"] > 0 and timings["preprocess"] > 0 and timings["queue"] >= 0
    assert timings["total"] >= timings["ttft"] >= timings["preprocess"]


def test_stream_equals_non_stream(server):
    request = chat("Tell me about shapes", max_tokens=12, ignore_eos=True)
    whole = server.post("/v1/chat/completions", request).json()
    r = server.post("/v1/chat/completions", {**request, "stream": True, "stream_options": {"include_usage": True}},
                    stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    chunks = list(events(r))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 12
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_image_via_data_uri(server):
    body = {"messages": [image_message(an_image())], "temperature": 0, "max_tokens": 4}
    r = server.post("/v1/chat/completions", body)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["image_tokens"] > 0


def test_completions_tokenize_detokenize(server):
    r = server.post("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 5, "temperature": 0})
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "text_completion"
    assert r.json()["usage"]["completion_tokens"] <= 5
    tokens = server.post("/tokenize", {"prompt": "hello world"}).json()
    assert tokens["count"] == len(tokens["tokens"]) > 0
    assert server.post("/detokenize", {"tokens": tokens["tokens"]}).json()["prompt"] == "hello world"
    with_messages = server.post("/tokenize", {"messages": [{"role": "user", "content": "hi"}]}).json()
    assert with_messages["count"] > 2


def expect_error(r, status, param=None, code=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    return err


def test_errors(server):
    url = server.url + "/v1/chat/completions"
    expect_error(requests.post(url, data="{not json", headers={"Content-Type": "application/json"}), 400,
                 code="invalid_json")
    expect_error(server.post("/v1/chat/completions", chat("x", temperature="hot")), 422, param="temperature")
    expect_error(server.post("/v1/chat/completions", {"messages": []}), 400, param="messages")
    expect_error(server.post("/v1/chat/completions", chat("x", model="gpt-9")), 404, param="model",
                 code="model_not_found")
    bad = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@not-base64@@@"}}]}]}
    expect_error(server.post("/v1/chat/completions", bad), 400)
    remote = {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}
    expect_error(server.post("/v1/chat/completions", remote), 400)
    long_text = "word " * 40000
    expect_error(server.post("/v1/chat/completions", chat(long_text)), 400, code="context_length_exceeded")
    expect_error(server.get("/v1/nope"), 404)


def test_limits_auth_and_queue(tmp_path):
    s = Server("--api-key", "sekrit", "--max-body", 200000, "--max-image-pixels", 1000, "--max-images", 1,
               "--max-running", 1, "--max-waiting", 1)
    try:
        auth = {"Authorization": "Bearer sekrit"}
        expect_error(s.post("/v1/chat/completions", chat("hi")), 401, code="invalid_api_key")
        expect_error(s.post("/v1/chat/completions", chat("hi"), headers={"Authorization": "Bearer nope"}), 401)
        assert s.post("/v1/chat/completions", chat("hi"), headers=auth).status_code == 200
        assert s.get("/health").status_code == 200  # health stays open
        big = chat("x" * 300000)
        expect_error(s.post("/v1/chat/completions", big, headers=auth), 413)
        expect_error(s.post("/v1/chat/completions", {"messages": [image_message(an_image())]}, headers=auth), 413)
        two = image_message(an_image())
        two["content"].insert(0, two["content"][0])
        err = s.post("/v1/chat/completions", {"messages": [two]}, headers=auth)
        assert err.status_code in (400, 413), err.text
        # One running + one waiting: a burst of slow requests gets 429 for the rest.
        statuses = []
        def fire():
            statuses.append(s.post("/v1/chat/completions", chat("go", max_tokens=200, ignore_eos=True),
                                   headers=auth).status_code)
        threads = [threading.Thread(target=fire) for _ in range(6)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert 429 in statuses and 200 in statuses, statuses
    finally:
        s.stop()


def test_disconnect_mid_stream_frees_blocks(server):
    body = chat("stream forever", max_tokens=100000, ignore_eos=True, stream=True)
    r = server.post("/v1/chat/completions", body, stream=True)
    got = 0
    for _ in events(r):
        got += 1
        if got >= 3:
            break
    r.close()  # the client goes away
    deadline = time.time() + 10
    while time.time() < deadline:
        if server.metric("glimpse_requests_running") == 0 and server.metric("glimpse_kv_cache_blocks_used") == 0:
            break
        time.sleep(0.05)
    assert server.metric("glimpse_requests_running") == 0
    assert server.metric("glimpse_kv_cache_blocks_used") == 0


def test_metrics_add_up():
    s = Server()
    try:
        completions = 0
        for i in range(3):
            completions += s.post("/v1/chat/completions", chat(f"count {i}", max_tokens=5, ignore_eos=True)).json()[
                "usage"]["completion_tokens"]
        text = s.get("/metrics").text
        assert "# TYPE glimpse_time_to_first_token_seconds histogram" in text
        assert s.metric("glimpse_generated_tokens_total") == completions == 15
        assert s.metric("glimpse_time_to_first_token_seconds_count") == 3
        assert s.metric("glimpse_requests_total", '{path="/v1/chat/completions",status="200"}') == 3
    finally:
        s.stop()


def test_sigterm_drains_in_flight_stream():
    s = Server("--shutdown-timeout", 30)
    r = s.post("/v1/chat/completions", chat("drain me", max_tokens=40, ignore_eos=True, stream=True), stream=True)
    it = events(r)
    next(it)
    s.proc.send_signal(signal.SIGTERM)
    rest = list(it)  # the stream still completes
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "length" for c in rest)
    assert s.proc.wait(timeout=30) == 0
    # The port is closed afterwards.
    host, port = s.url[len("http://"):].split(":")
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0
