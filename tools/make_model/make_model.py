"""Write a ~0.5 B-parameter GLM-4.6V-shaped model with random weights, for timing only.

    /opt/glimpse-venv/bin/python tools/make_model/make_model.py OUT_DIR [--seed N]

The directory is a real Hugging Face checkpoint (Glm46VForConditionalGeneration, transformers
5.x config spelling, bf16 safetensors, processor_config.json, tokenizer from tools/glmtok), so
glimpse and transformers both load it. Shapes follow GLM-4.6V-Flash scaled down: the full
151,552-token vocabulary (embedding and untied lm_head dominate decode traffic, as in the real
model), head_dim 128 with GQA 4, partial rotary 0.5 with the real mrope_section [8, 12, 12], and a
4-block vision tower. The tokenizer is the small glmtok one (3,036 tokens); the vocabulary
beyond it is padding, as GLM-4.6V pads its own.

Weights are seeded random with unit gain over fan-in, so activations stay finite; the text it
generates means nothing. Not committed: about 1.1 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

TOOLS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(TOOLS / "reference"))
import glmtok  # noqa: E402
from text_sources import training_corpus  # noqa: E402

LEARNED_VOCAB = 3000
VOCAB_SIZE = 151552  # GLM-4.6V's embedding rows

TEXT = dict(
    hidden_size=1024,
    intermediate_size=3424,  # GLM-4.6V-Flash's 13696 / 4096 ratio
    num_hidden_layers=16,
    num_attention_heads=8,  # head_dim 128
    num_key_value_heads=2,
    max_position_embeddings=65536,
    rms_norm_eps=1e-5,
    attention_bias=True,
    hidden_act="silu",
)
ROPE = {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5, "mrope_section": [8, 12, 12]}
VISION = dict(
    depth=4,
    hidden_size=512,
    num_heads=4,  # head_dim 128
    intermediate_size=1536,  # the merger's width
    image_size=336,
    patch_size=14,
    temporal_patch_size=2,
    spatial_merge_size=2,
    in_channels=3,
    attention_bias=False,
    rms_norm_eps=1e-5,
    hidden_act="silu",
)
# Image tokens per image: 64..1024 (the real model allows far more; benchmarks use small images).
MIN_PIXELS = 64 * 28 * 28 * 2
MAX_PIXELS = 1024 * 28 * 28 * 2


def config_dict(ids: dict[str, int]) -> dict:
    return {
        "architectures": ["Glm46VForConditionalGeneration"],
        "model_type": "glm46v",
        "text_config": {
            **TEXT,
            "model_type": "glm4v_text",
            "vocab_size": VOCAB_SIZE,
            "rope_parameters": ROPE,
            "pad_token_id": ids["<|endoftext|>"],
        },
        "vision_config": {
            **VISION,
            "model_type": "glm4v_vision",
            "out_hidden_size": TEXT["hidden_size"],
            "rope_parameters": {"rope_type": "axial", "rope_theta": 10000.0},
        },
        "image_token_id": ids["<|image|>"],
        "video_token_id": ids["<|video|>"],
        "image_start_token_id": ids["<|begin_of_image|>"],
        "image_end_token_id": ids["<|end_of_image|>"],
        "video_start_token_id": ids["<|begin_of_video|>"],
        "video_end_token_id": ids["<|end_of_video|>"],
        "tie_word_embeddings": False,
    }


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int) -> None:
    """Unit gain over fan-in for matrices, norm scales near 1, small biases, N(0, 1) embeddings."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
        if param.ndim == 1:
            value = 0.05 * noise if name.endswith("bias") else 1.0 + 0.05 * noise
        elif "embed_tokens" in name or "pos_embed" in name or "position_embedding" in name:
            value = noise
        else:
            value = noise / math.sqrt(param[0].numel())
        param.copy_(value.to(param.dtype))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    ids = glmtok.build_tokenizer(training_corpus(), LEARNED_VOCAB, out)
    if max(ids.values()) >= VOCAB_SIZE:
        raise RuntimeError("tokenizer longer than the embedding table")

    from transformers import Glm46VConfig, Glm46VForConditionalGeneration

    config = Glm46VConfig(**config_dict(ids))
    torch.set_default_dtype(torch.bfloat16)  # build in bf16: half the memory of an fp32 model
    model = Glm46VForConditionalGeneration(config)
    torch.set_default_dtype(torch.float32)
    randomize(model, args.seed)
    model.generation_config.eos_token_id = [ids[t] for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    glmtok.write_processor_config(out, MIN_PIXELS, MAX_PIXELS, legacy=False, family="Glm46V")

    params = sum(p.numel() for p in model.parameters())
    summary = {"parameters": params, "bytes_bf16": 2 * params, "out_dir": str(out)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
