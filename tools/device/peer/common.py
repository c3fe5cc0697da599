"""Shared pieces of the transformers peer scripts (make_full_model.py, reference.py, timing.py).

The full model has GLM-4.6V-Flash's shapes (transformers' Glm4vConfig defaults, 704 tensors,
10,292,777,472 parameters; tests/model/loader_weights_test.cc checks the same count for glimpse)
with random bf16 weights, and borrows the tokenizer and chat template of the golden model tiny-b
(tests/golden/models/tiny-b: 3,036 tokens, GLM special tokens at 3000-3035) with the real model's
image processor limits. `--tiny` everywhere swaps in a small config so the scripts can be tried on
a CPU in seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TOKENIZER_SOURCE = REPO / "tests/golden/models/tiny-b"
FULL_MODEL_DIR = Path("/root/glm46v-random")
TINY_MODEL_DIR = Path("/tmp/glm46v-random-tiny")
FULL_CASES_DIR = Path("/root/peer-cases")
TINY_CASES_DIR = Path("/tmp/peer-cases-tiny")
FULL_PARAMETERS = 10_292_777_472

# GLM-4.6V-Flash text decoder (hidden 4096, 40 layers, 32 q / 2 kv heads of 128, FFN 13696, vocab
# 151552, partial rotary 0.5 with mrope_section [8, 12, 12], rope_theta 500000, eps 1e-5).
FULL_TEXT = dict(
    vocab_size=151552,
    hidden_size=4096,
    intermediate_size=13696,
    num_hidden_layers=40,
    num_attention_heads=32,
    num_key_value_heads=2,
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    mrope_section=[8, 12, 12],
)
FULL_VISION = dict(
    depth=24,
    hidden_size=1536,
    num_heads=12,
    intermediate_size=13696,
    image_size=336,  # 24x24 learned position table
    attention_bias=False,
    rms_norm_eps=1e-5,
)
TINY_TEXT = dict(
    vocab_size=4096,  # > the 3,036 tokenizer entries, padded like the real model
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,  # head_dim 32, rotary 16
    num_key_value_heads=2,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    mrope_section=[2, 3, 3],
)
TINY_VISION = dict(
    depth=2,
    hidden_size=64,
    num_heads=4,
    intermediate_size=128,
    image_size=112,
    attention_bias=False,
    rms_norm_eps=1e-5,
)

# GLM-4.1V / GLM-4.6V-Flash preprocessor limits (smart_resize compares 2*h*w against them):
# 512x512 -> 18x18 merged tokens, 1920x1080 -> 39x69.
FULL_PIXELS = {"shortest_edge": 12544, "longest_edge": 9633792}
TINY_PIXELS = {"shortest_edge": 12544, "longest_edge": 2 * 28 * 28 * 64}  # at most 64 image tokens

# The timing question: 16 tokens with tiny-b's tokenizer, so a 512x512 image prompt has 324 image
# tokens + 23 others = 347 tokens, as in the baseline (../shared/notes/baseline-h100.md).
TIMING_QUESTION = "Describe this image in detail, please."


def model_dir(args) -> Path:
    if getattr(args, "model", None):
        return Path(args.model)
    return TINY_MODEL_DIR if args.tiny else FULL_MODEL_DIR


def cases_dir(args) -> Path:
    if getattr(args, "cases", None):
        return Path(args.cases)
    return TINY_CASES_DIR if args.tiny else FULL_CASES_DIR


def pick_device(requested: str | None):
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall milliseconds of fn() over `repeats` runs after `warmup` untimed runs; the device
    is synchronized before the clock starts and before it is read."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), times


def load_processor(directory: Path):
    """The model's processor as transformers loads it (Glm4vImageProcessor; torchvision backend where
    torchvision is installed). Without torchvision: the PIL image processor and no video processor."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(directory)
    except (ImportError, ValueError, OSError):
        pass
    from transformers import AutoTokenizer, Glm4vProcessor
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    class ImageOnlyProcessor(Glm4vProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    return ImageOnlyProcessor(
        image_processor=Glm4vImageProcessorPil.from_pretrained(directory),
        tokenizer=AutoTokenizer.from_pretrained(directory),
        video_processor=None,
        chat_template=(directory / "chat_template.jinja").read_text(),
    )


def load_model(directory: Path, device, dtype_name: str = "bfloat16"):
    """Glm4vForConditionalGeneration in bf16 with sdpa attention on `device`; returns (model, seconds)."""
    import torch
    from transformers import Glm4vForConditionalGeneration

    dtype = getattr(torch, dtype_name)
    sync(device)
    start = time.perf_counter()
    try:  # device_map loads straight onto the GPU, but needs accelerate
        import accelerate  # noqa: F401

        placement = {"device_map": str(device)}
    except ImportError:
        placement = {}
    model = Glm4vForConditionalGeneration.from_pretrained(
        directory, dtype=dtype, attn_implementation="sdpa", **placement
    )
    model = model.to(device)
    sync(device)
    seconds = time.perf_counter() - start
    return model.eval(), seconds


def messages_for(question: str) -> list:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


def prepare(processor, images: list, questions: list[str], device):
    """Processor outputs for a batch of one-image prompts, moved to `device`."""
    texts = [
        processor.apply_chat_template(messages_for(q), tokenize=False, add_generation_prompt=True)
        for q in questions
    ]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=len(texts) > 1)
    return inputs.to(device)


def synthetic_photo(width: int, height: int, seed: int):
    """A photo-like RGB image: smooth colour fields, soft blobs, a few hard-edged shapes, sensor
    noise. Seeded, so every run writes the same PNG."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):  # sky-to-ground gradient per channel plus low-frequency waves
        img[..., c] = rng.uniform(60, 200) + rng.uniform(-60, 60) * y
        for _ in range(4):
            fx, fy, phase = rng.uniform(0.5, 4), rng.uniform(0.5, 4), rng.uniform(0, 6.3)
            img[..., c] += rng.uniform(5, 25) * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    for _ in range(12):  # soft blobs
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        img += weight[..., None] * rng.uniform(-80, 80, 3)
    img += rng.normal(0, 4, img.shape)
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(6):  # hard edges: rectangles and ellipses
        x0, y0 = int(rng.uniform(0, 0.8) * width), int(rng.uniform(0, 0.8) * height)
        x1 = x0 + int(rng.uniform(0.05, 0.2) * width)
        y1 = y0 + int(rng.uniform(0.05, 0.2) * height)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.rectangle if rng.uniform() < 0.5 else draw.ellipse)([x0, y0, x1, y1], fill=colour)
    return image


def versions() -> dict:
    import platform

    import numpy
    import PIL
    import torch
    import transformers

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def write_json(path: Path, value) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)
