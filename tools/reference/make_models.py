"""Two tiny GLM-4.6V-architecture checkpoints in real Hugging Face layout, random weights.

tiny-a: Glm46VForConditionalGeneration, transformers 5.x spelling (rope_parameters,
        processor_config.json), vocab exactly the tokenizer length.
tiny-b: Glm4vForConditionalGeneration (as GLM-4.6V-Flash ships), transformers 4.x spelling
        (rope_scaling/rope_theta/partial_rotary_factor on text_config, torch_dtype,
        preprocessor_config.json), vocab padded past the tokenizer like the real model.

They deliberately differ in head_dim, GQA ratio, mrope_section, rope_theta, depth, vision
heads/depth/position-table size and vision qkv bias. Both keep partial_rotary_factor 0.5,
q/k/v bias in the text attention, patch 14, temporal patch 2 and merge 2.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import glmtok  # noqa: E402
from text_sources import training_corpus  # noqa: E402

TOKENIZER_LEARNED_VOCAB = 3000
PATCH_PIXELS = 28 * 28  # one merged image token covers 2x2 patches of 14x14
# smart_resize compares t*h*w (t = temporal_patch_size = 2) against the pixel limits.
TEMPORAL = 2


@dataclass(frozen=True)
class ModelSpec:
    name: str
    architecture: str  # Glm46VForConditionalGeneration or Glm4vForConditionalGeneration
    legacy_layout: bool  # transformers 4.x config/processor spelling
    text: dict
    vision: dict
    min_image_tokens: int
    max_image_tokens: int
    seed: int
    vocab_padding: int  # round the embedding table up to a multiple of this (1 = exact)


SPECS = [
    ModelSpec(
        name="tiny-a",
        architecture="Glm46VForConditionalGeneration",
        legacy_layout=False,
        text=dict(
            hidden_size=128,
            intermediate_size=320,
            num_hidden_layers=3,
            num_attention_heads=4,  # head_dim 32, rotary dim 16
            num_key_value_heads=2,  # GQA 2
            max_position_embeddings=4096,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            mrope_section=[2, 3, 3],
        ),
        vision=dict(
            depth=2,
            hidden_size=64,
            num_heads=4,  # head_dim 16
            intermediate_size=160,
            image_size=112,  # 8x8 learned position table
            attention_bias=False,
            rms_norm_eps=1e-5,
        ),
        min_image_tokens=8,
        max_image_tokens=40,
        seed=11,
        vocab_padding=1,
    ),
    ModelSpec(
        name="tiny-b",
        architecture="Glm4vForConditionalGeneration",
        legacy_layout=True,
        text=dict(
            hidden_size=96,
            intermediate_size=224,
            num_hidden_layers=2,
            num_attention_heads=4,  # head_dim 24, rotary dim 12
            num_key_value_heads=1,  # GQA 4
            max_position_embeddings=8192,
            rms_norm_eps=1e-6,
            rope_theta=500000.0,
            mrope_section=[2, 2, 2],
        ),
        vision=dict(
            depth=3,
            hidden_size=48,
            num_heads=2,  # head_dim 24
            intermediate_size=112,
            image_size=84,  # 6x6 learned position table
            attention_bias=True,
            rms_norm_eps=1e-6,
        ),
        min_image_tokens=8,
        max_image_tokens=30,
        seed=23,
        vocab_padding=64,
    ),
]


def min_pixels(spec: ModelSpec) -> int:
    return spec.min_image_tokens * PATCH_PIXELS * TEMPORAL


def max_pixels(spec: ModelSpec) -> int:
    return spec.max_image_tokens * PATCH_PIXELS * TEMPORAL


def build_shared_tokenizer(out_dir: Path) -> dict[str, int]:
    ids = glmtok.build_tokenizer(training_corpus(), TOKENIZER_LEARNED_VOCAB, out_dir)
    if ids["<|endoftext|>"] != TOKENIZER_LEARNED_VOCAB:
        raise RuntimeError(f"BPE learned {ids['<|endoftext|>']} tokens, not {TOKENIZER_LEARNED_VOCAB}; grow the corpus")
    return ids


def _config_dict(spec: ModelSpec, special_ids: dict[str, int], vocab_size: int) -> dict:
    """The checkpoint's config.json content in transformers 5.x spelling."""
    text = dict(spec.text)
    rope = {
        "rope_type": "default",
        "rope_theta": text.pop("rope_theta"),
        "partial_rotary_factor": 0.5,
        "mrope_section": text.pop("mrope_section"),
    }
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    if sum(rope["mrope_section"]) * 2 != int(head_dim * 0.5):
        raise ValueError(f"{spec.name}: mrope_section must cover rotary_dim/2 = {head_dim // 4}")
    vision = dict(spec.vision)
    return {
        "architectures": [spec.architecture],
        "model_type": "glm46v" if spec.architecture.startswith("Glm46V") else "glm4v",
        "text_config": {
            **text,
            "model_type": "glm4v_text",
            "vocab_size": vocab_size,
            "hidden_act": "silu",
            "attention_dropout": 0.0,
            "rope_parameters": rope,
            "pad_token_id": special_ids["<|endoftext|>"],
        },
        "vision_config": {
            **vision,
            "model_type": "glm4v_vision",
            "hidden_act": "silu",
            "in_channels": 3,
            "out_hidden_size": spec.text["hidden_size"],
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
            "rope_parameters": {"rope_type": "axial", "rope_theta": 10000.0},
        },
        "image_token_id": special_ids["<|image|>"],
        "video_token_id": special_ids["<|video|>"],
        "image_start_token_id": special_ids["<|begin_of_image|>"],
        "image_end_token_id": special_ids["<|end_of_image|>"],
        "video_start_token_id": special_ids["<|begin_of_video|>"],
        "video_end_token_id": special_ids["<|end_of_video|>"],
        "tie_word_embeddings": False,
    }


def _legacy_spelling(config: dict) -> dict:
    """Rewrite a 5.x config.json into the 4.x form the released GLM-4.1V/4.6V-Flash files use."""
    legacy = copy.deepcopy(config)
    text = legacy["text_config"]
    rope = text.pop("rope_parameters")
    text["rope_theta"] = rope["rope_theta"]
    text["partial_rotary_factor"] = rope["partial_rotary_factor"]
    text["rope_scaling"] = {"type": "default", "rope_type": "default", "mrope_section": rope["mrope_section"]}
    text["torch_dtype"] = "bfloat16"
    legacy["vision_config"].pop("rope_parameters")
    legacy.pop("dtype", None)
    legacy["torch_dtype"] = "bfloat16"
    legacy["transformers_version"] = "4.57.1"
    return legacy


def _init_weights(model: torch.nn.Module, seed: int, logit_gain: float = 4.0) -> None:
    """Scale-preserving random init so activations and logits are neither flat nor exploding."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            if param.ndim == 1 and name.endswith("bias"):
                value = 0.2 * noise
            elif param.ndim == 1:  # RMSNorm/LayerNorm scales: near one but not exactly
                value = 1.0 + 0.2 * noise
            elif "embed_tokens" in name or "position_embedding" in name:
                value = noise
            elif name.startswith("lm_head"):
                value = noise * (logit_gain / math.sqrt(param.shape[1]))
            else:  # Linear / Conv weights: unit gain over fan-in
                value = noise / math.sqrt(param[0].numel())
            param.copy_(value)


def model_class(architecture: str):
    import transformers

    return getattr(transformers, architecture)


def _config_class(architecture: str):
    import transformers

    return transformers.Glm46VConfig if architecture.startswith("Glm46V") else transformers.Glm4vConfig


def _comparable(config) -> dict:
    """Config as a plain dict, minus fields that only spell the same setting differently."""
    body = json.loads(json.dumps(config.to_dict(), sort_keys=True))
    for key in ("transformers_version", "_name_or_path", "architectures"):
        body.pop(key, None)
    for part in (body, body["text_config"], body["vision_config"]):
        part.pop("dtype", None)
        part.pop("torch_dtype", None)
    text = body["text_config"]
    rope = text["rope_parameters"]
    # 4.x files keep partial_rotary_factor beside rope_scaling and name rope_type "type" too.
    if text.get("partial_rotary_factor", rope["partial_rotary_factor"]) == rope["partial_rotary_factor"]:
        text.pop("partial_rotary_factor", None)
    if rope.get("type", rope["rope_type"]) == rope["rope_type"]:
        rope.pop("type", None)
    return body


def make_model(spec: ModelSpec, tokenizer_dir: Path, special_ids: dict[str, int], out_dir: Path) -> Path:
    """Write one checkpoint directory; returns it. Raises if transformers reads it back differently."""
    tokenizer_length = TOKENIZER_LEARNED_VOCAB + len(glmtok.GLM_ADDED_TOKENS)
    vocab_size = math.ceil(tokenizer_length / spec.vocab_padding) * spec.vocab_padding
    config_body = _config_dict(spec, special_ids, vocab_size)
    config = _config_class(spec.architecture)(**copy.deepcopy(config_body))
    torch.manual_seed(spec.seed)
    model = model_class(spec.architecture)(config)
    _init_weights(model, spec.seed)
    model = model.to(torch.bfloat16)
    model.generation_config.eos_token_id = [special_ids[t] for t in ("<|endoftext|>", "<|user|>", "<|observation|>")]
    model.generation_config.pad_token_id = special_ids["<|endoftext|>"]
    model.generation_config.do_sample = False

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copyfile(tokenizer_dir / name, out_dir / name)
    if spec.legacy_layout:
        saved = json.loads((out_dir / "config.json").read_text())
        (out_dir / "config.json").write_text(json.dumps(_legacy_spelling(saved), indent=2, sort_keys=True) + "\n")
    family = "Glm46V" if spec.architecture.startswith("Glm46V") else "Glm4v"
    glmtok.write_processor_config(out_dir, min_pixels(spec), max_pixels(spec), spec.legacy_layout, family)
    _check_reload(spec, out_dir, config)
    return out_dir


def _check_reload(spec: ModelSpec, out_dir: Path, intended) -> None:
    from transformers import AutoConfig

    reloaded = AutoConfig.from_pretrained(out_dir)
    if _comparable(reloaded) != _comparable(intended):
        raise RuntimeError(f"{spec.name}: transformers reads config.json differently from what was intended")
    processor = image_processor_class(spec).from_pretrained(out_dir)
    if processor.size != {"shortest_edge": min_pixels(spec), "longest_edge": max_pixels(spec)}:
        raise RuntimeError(f"{spec.name}: image processor size read back as {processor.size}")


def image_processor_class(spec: ModelSpec):
    """The PIL image processor (torchvision is absent locally; the device must match bit for bit)."""
    if spec.architecture.startswith("Glm46V"):
        from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil

        return Glm46VImageProcessorPil
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    return Glm4vImageProcessorPil


def processor_class(spec: ModelSpec):
    from transformers import Glm4vProcessor, Glm46VProcessor

    return Glm46VProcessor if spec.architecture.startswith("Glm46V") else Glm4vProcessor
