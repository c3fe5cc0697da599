"""Write a GLM-4.6V-Flash-shaped checkpoint with random bf16 weights (the peer's and glimpse's model).

    python3 tools/device/peer/make_full_model.py [--out /root/glm46v-random] [--tiny] [--device cuda]

Shapes: transformers' Glm4vConfig defaults = GLM-4.1V/4.6V-Flash (704 tensors, 10,292,777,472
parameters, checked). Weights are drawn on the GPU from a seeded generator: every matrix, conv and
embedding N(0, 0.02) (lm_head N(0, 0.02·√(4096/hidden)), the same at full size), biases N(0, 0.02), norm scales 1 + N(0, 0.02); saved in bf16 by
save_pretrained (sharded safetensors, 5 GB shards). Tokenizer, chat template and generation config
come from tests/golden/models/tiny-b (3,036 tokens, so the 151,552-row embedding is padded far past
the tokenizer, like the real model's), the special token ids in config.json are tiny-b's, and
preprocessor_config.json carries the real model's pixel limits (12,544 .. 9,633,792).

Writes into OUT.partial and renames it to OUT at the end; an existing OUT is kept as is.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def config_body(tiny: bool) -> dict:
    text = dict(common.TINY_TEXT if tiny else common.FULL_TEXT)
    vision = dict(common.TINY_VISION if tiny else common.FULL_VISION)
    source = json.loads((common.TOKENIZER_SOURCE / "config.json").read_text())
    rope = {
        "rope_type": "default",
        "rope_theta": text.pop("rope_theta"),
        "partial_rotary_factor": 0.5,
        "mrope_section": text.pop("mrope_section"),
    }
    return {
        "architectures": ["Glm4vForConditionalGeneration"],
        "model_type": "glm4v",
        "text_config": {
            **text,
            "model_type": "glm4v_text",
            "hidden_act": "silu",
            "attention_dropout": 0.0,
            "rope_parameters": rope,
            "pad_token_id": source["text_config"]["pad_token_id"],
        },
        "vision_config": {
            **vision,
            "model_type": "glm4v_vision",
            "hidden_act": "silu",
            "in_channels": 3,
            "out_hidden_size": text["hidden_size"],
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
            "rope_parameters": {"rope_type": "axial", "rope_theta": 10000.0},
        },
        **{key: source[key] for key in source if key.endswith("_token_id")},
        "tie_word_embeddings": False,
    }


def init_weights(model, seed: int, device) -> None:
    import torch

    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.empty(param.shape, dtype=torch.float32, device=device)
            # lm_head: logits of std ~1.28 whatever the width (0.02 at the real hidden size 4096)
            std = 0.02 * math.sqrt(4096 / param.shape[1]) if name.startswith("lm_head") else 0.02
            noise.normal_(0.0, std, generator=generator)
            if param.ndim == 1 and not name.endswith("bias"):
                noise += 1.0  # norm scales near one
            param.copy_(noise)
            del noise


def make(out: Path, tiny: bool, device_name: str | None, seed: int) -> None:
    import torch
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    device = common.pick_device(device_name)
    started = time.perf_counter()
    config = Glm4vConfig(**config_body(tiny))
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        model = Glm4vForConditionalGeneration(config)
    torch.set_default_dtype(torch.float32)
    model = model.to(torch.bfloat16)
    parameters = sum(p.numel() for p in model.parameters())
    tensors = len(list(model.parameters()))
    if not tiny and parameters != common.FULL_PARAMETERS:
        raise SystemExit(f"{parameters} parameters, expected {common.FULL_PARAMETERS}")
    init_weights(model, seed, device)
    common.sync(device)
    built = time.perf_counter()

    tokenizer_length = len(json.loads((common.TOKENIZER_SOURCE / "tokenizer.json").read_text())["model"]["vocab"])
    tokenizer_length += len(json.loads((common.TOKENIZER_SOURCE / "tokenizer.json").read_text())["added_tokens"])
    if config.text_config.vocab_size < tokenizer_length:
        raise SystemExit(f"vocab {config.text_config.vocab_size} < tokenizer length {tokenizer_length}")

    generation = json.loads((common.TOKENIZER_SOURCE / "generation_config.json").read_text())
    model.generation_config.eos_token_id = generation["eos_token_id"]
    model.generation_config.pad_token_id = generation["pad_token_id"]
    model.generation_config.do_sample = False

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    model.save_pretrained(partial, max_shard_size="5GB")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copyfile(common.TOKENIZER_SOURCE / name, partial / name)
    processor = json.loads((common.TOKENIZER_SOURCE / "preprocessor_config.json").read_text())
    processor["size"] = common.TINY_PIXELS if tiny else common.FULL_PIXELS
    (partial / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n")
    saved = time.perf_counter()
    nbytes = sum(f.stat().st_size for f in partial.iterdir())
    partial.rename(out)
    print(
        f"wrote {out}: {tensors} tensors, {parameters:,} parameters, {nbytes / 1e9:.2f} GB "
        f"(tokenizer {tokenizer_length} entries, vocab {config.text_config.vocab_size}); "
        f"build+init {built - started:.1f} s, save {saved - built:.1f} s on {device}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="default /root/glm46v-random (--tiny: /tmp/glm46v-random-tiny)")
    parser.add_argument("--tiny", action="store_true", help="a small config, for trying the scripts on a CPU")
    parser.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=4096)
    args = parser.parse_args()
    out = args.out or (common.TINY_MODEL_DIR if args.tiny else common.FULL_MODEL_DIR)
    if (out / "config.json").exists():
        print(f"{out} exists, kept")
        return
    make(out, args.tiny, args.device, args.seed)


if __name__ == "__main__":
    main()
