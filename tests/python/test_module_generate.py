"""glimpse.Model over the bundled demo model: every image input type, result fields, streaming,
chat, errors and GIL release. Needs the module built (PYTHONPATH=<build>/python)."""
import base64
import os
import threading
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
# The module of scripts/test.sh's release build, unless PYTHONPATH names another build first.
sys.path.append(str(Path(os.environ.get("GLIMPSE_BUILD_DIR", ROOT / "build" / "release")) / "python"))
import glimpse  # noqa: E402

SCENE = ROOT / "tests" / "demo_scenes" / "000.png"
QUESTION = "图中有几个形状？"


@pytest.fixture(scope="module")
def model():
    return glimpse.Model(threads=2)


@pytest.fixture(scope="module")
def reference(model):
    return model.generate(image=str(SCENE), text=QUESTION, max_tokens=8, temperature=0)


def test_result_fields(reference):
    r = reference
    assert str(r) == r.text and r.text
    assert r.token_ids and all(isinstance(t, int) for t in r.token_ids)
    assert r.finish_reason in ("stop", "length")
    assert r.usage["completion_tokens"] == len(r.token_ids)
    assert r.usage["image_tokens"] > 0
    assert r.usage["total_tokens"] == r.usage["prompt_tokens"] + len(r.token_ids)
    t = r.timings
    for stage in ("preprocess", "vision", "prefill", "ttft", "total"):
        assert t[stage] > 0, stage
    assert t["ttft"] <= t["total"]
    assert t["preprocess"] + t["vision"] + t["prefill"] <= t["ttft"] + 1e-6


@pytest.mark.parametrize("kind", ["path", "pathlib", "bytes", "pil", "numpy", "prepared", "list"])
def test_every_image_input_gives_the_same_answer(model, reference, kind):
    pil = Image.open(SCENE)
    image = {
        "path": str(SCENE),
        "pathlib": SCENE,
        "bytes": SCENE.read_bytes(),
        "pil": pil,
        "numpy": np.asarray(pil.convert("RGB")),
        "prepared": model.prepare(SCENE),
        "list": [SCENE],
    }[kind]
    r = model.generate(image=image, text=QUESTION, max_tokens=8, temperature=0)
    assert r.token_ids == reference.token_ids
    assert r.usage == reference.usage


def test_two_images_take_both_token_counts(model):
    one = model.prepare(SCENE)
    r = model.generate(image=[one, one], text=QUESTION, max_tokens=2, temperature=0)
    assert r.usage["image_tokens"] == 2 * one.num_tokens


def test_prepared_image_skips_decode_and_resize(model):
    prepared = model.prepare(SCENE)
    assert prepared.num_tokens > 0 and len(prepared.content_hash) == 64
    timed = [model.generate(image=prepared, text=QUESTION, max_tokens=1).timings["preprocess"]
             for _ in range(3)]
    raw = [model.generate(image=str(SCENE), text=QUESTION, max_tokens=1).timings["preprocess"]
           for _ in range(3)]
    assert min(timed) < min(raw)


def test_sampling_parameters(model):
    a = model.generate(image=SCENE, text=QUESTION, max_tokens=6, temperature=1.5, seed=7)
    b = model.generate(image=SCENE, text=QUESTION, max_tokens=6, temperature=1.5, seed=7)
    assert a.token_ids == b.token_ids
    assert model.generate(text="hi", max_tokens=3, temperature=0).usage["completion_tokens"] <= 3
    limited = model.generate(image=SCENE, text=QUESTION, max_tokens=1, temperature=0, top_p=0.5)
    assert len(limited.token_ids) == 1 and limited.finish_reason in ("length", "stop")


def test_system_and_thinking_change_the_prompt(model, reference):
    with_system = model.generate(image=SCENE, text=QUESTION, max_tokens=1, system="Be brief.")
    assert with_system.usage["prompt_tokens"] > reference.usage["prompt_tokens"]
    no_think = model.generate(image=SCENE, text=QUESTION, max_tokens=1, enable_thinking=False)
    assert no_think.usage["prompt_tokens"] != reference.usage["prompt_tokens"]


def test_stream_yields_the_text_in_pieces(model, reference):
    pieces = list(model.stream(image=SCENE, text=QUESTION, max_tokens=8, temperature=0))
    assert "".join(pieces) == reference.text
    assert model.last_result.token_ids == reference.token_ids


def test_stream_closed_early_stops_the_engine(model):
    stream = model.stream(image=SCENE, text="Describe the image in detail.", max_tokens=64,
                          temperature=1.0, seed=1)
    next(stream)
    stream.close()  # must return promptly and leave the model usable
    assert model.generate(text="hi", max_tokens=1).token_ids


def test_chat_with_openai_messages(model, reference):
    url = "data:image/png;base64," + base64.b64encode(SCENE.read_bytes()).decode()
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                             {"type": "text", "text": QUESTION}]}]
    assert model.chat(messages, max_tokens=8, temperature=0).token_ids == reference.token_ids
    local = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": SCENE.name}},
                                          {"type": "text", "text": QUESTION}]}]
    r = model.chat(local, max_tokens=8, temperature=0, base_dir=SCENE.parent)
    assert r.token_ids == reference.token_ids
    assert "".join(model.stream(messages=messages, max_tokens=8, temperature=0)) == reference.text


def test_errors_raise_with_the_engine_message(model):
    with pytest.raises(glimpse.Error, match="not a JPEG, PNG or WebP"):
        model.generate(image=b"not an image", text="x")
    with pytest.raises(glimpse.Error, match="image 0"):
        model.generate(image=SCENE.read_bytes()[:200], text="x")
    with pytest.raises(glimpse.Error, match="HxWx3 uint8"):
        model.generate(image=np.zeros((4, 4), np.uint8), text="x")
    with pytest.raises(glimpse.Error, match="temperature"):
        model.generate(text="x", temperature=-1)
    with pytest.raises(glimpse.Error, match="max_tokens"):
        model.generate(text="x", max_tokens=0)
    with pytest.raises(glimpse.Error, match="(?i)context|too long|exceed"):
        model.generate(text="形状 " * model.context_limit, max_tokens=1)
    with pytest.raises(FileNotFoundError):
        model.generate(image="/no/such/image.png", text="x")
    with pytest.raises(TypeError):
        model.generate(image=3.5, text="x")
    with pytest.raises(glimpse.Error, match="messages"):
        model.chat([{"content": "no role"}])
    assert model.generate(text="still alive", max_tokens=1).token_ids


def test_missing_model_and_cuda_device():
    with pytest.raises(glimpse.Error):
        glimpse.Model(path="/no/such/model")
    if not glimpse.built_with_cuda:
        with pytest.raises(glimpse.Error, match="built without CUDA"):
            glimpse.Model(device="cuda")
    with pytest.raises(ValueError):
        glimpse.Model(device="tpu")
    with pytest.raises(ValueError):
        glimpse.Model(dtype="int8")


def test_matrices_converted_to_bf16_at_load_still_answer():
    model = glimpse.Model(dtype="bf16")
    assert model.generate(text="hi", max_tokens=2).token_ids


def test_gil_is_released_while_the_engine_works(model):
    ticks = 0
    done = threading.Event()

    def generate():
        model.generate(image=SCENE, text=QUESTION, max_tokens=8, temperature=0)
        done.set()

    worker = threading.Thread(target=generate)
    worker.start()
    while not done.is_set():  # only advances while the engine does not hold the GIL
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks > 20


def test_two_threads_generate_concurrently(model, reference):
    results = [None, None]
    inside = threading.Barrier(2)

    def work(i):
        inside.wait()
        results[i] = model.generate(image=SCENE, text=QUESTION, max_tokens=8, temperature=0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.token_ids for r in results] == [reference.token_ids] * 2
