"""Train the bundled demo model (shapes world) with transformers' Glm4vForConditionalGeneration.

One command, seeded, data generated on the fly by DataLoader workers (docs/demo-model.md):

    PYTHONUNBUFFERED=1 python -m tools.train_demo.train [--stages 1,2] [--init-from DIR] [--model-out DIR] ...

writes the HF model directory (bf16 safetensors, config, generation config, tokenizer, chat
template, processor config), the loss curve PNG, and transformers' greedy answers on the eval
scenes (reference for glimpse), and prints exact match per question type.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from transformers import AttentionInterface, Glm4vConfig, Glm4vForConditionalGeneration, Glm4vModel
from transformers.vision_utils import get_vision_cu_seqlens, get_vision_position_ids

from tools.train_demo import evaluate, packing, recipe, scenes
from tools.train_demo.encode import IGNORE, SceneEncoder


class RopeIndex:
    """transformers' own M-RoPE position computation (Glm4vModel.get_rope_index), run on the CPU in
    the data workers: it loops over rows in Python with device syncs, which made it the largest
    share of a training step on the GPU. It reads only ``config`` and ``get_vision_position_ids``."""

    def __init__(self, config):
        self.config = config

    get_vision_position_ids = Glm4vModel.get_vision_position_ids
    get_rope_index = Glm4vModel.get_rope_index


class PaddedVisionAttention:
    """The vision tower's attention over a whole batch of images in ONE scaled_dot_product_attention
    call instead of transformers' loop over images (two small kernels and a split per image and
    layer, the largest Python cost of a step). Images are gathered into a zero-padded
    [images, heads, L, head_dim] batch, padding keys are masked out, and the result is scattered
    back to the packed order: each query still attends to exactly the keys of its own image, the
    math of the per-image loop. Glm4vVisionAttention hands over the whole packed sequence when the
    attention implementation's name contains "flash" (its varlen branch), hence the name; the layout
    of the current batch (``VisionLayout``) is set before each forward."""

    NAME = "glimpse_flash_padded"
    layout: dict | None = None

    @classmethod
    def forward(cls, module, query, key, value, attention_mask=None, scaling=None, dropout=0.0, **kwargs):
        layout = cls.layout
        gather, valid, scatter = layout["attn_gather"], layout["attn_valid"], layout["attn_scatter"]
        images, length = gather.shape
        heads, total, head_dim = query.shape[1:]
        if total != scatter.shape[0]:
            raise RuntimeError(f"padded vision attention: {total} patches, layout for {scatter.shape[0]}")

        def padded(x):  # [1, heads, total, d] -> [images, heads, L, d]
            return x[0][:, gather.reshape(-1)].reshape(heads, images, length, head_dim).transpose(0, 1)

        out = F.scaled_dot_product_attention(padded(query), padded(key), padded(value),
                                             attn_mask=valid[:, None, None, :], dropout_p=dropout, scale=scaling)
        out = out.transpose(1, 2).reshape(images * length, heads, head_dim)[scatter]  # [total, heads, d]
        return out.unsqueeze(0), None


AttentionInterface.register(PaddedVisionAttention.NAME, PaddedVisionAttention.forward)


def vision_layout(grids: torch.Tensor, rows_per_image: torch.Tensor, merge: int, pad_to: int = 16) -> dict:
    """Everything the vision tower and the feature scatter need about a batch's image shapes,
    computed on the CPU in the data workers so the training step has no host syncs or per-image
    Python loops: transformers' own vision position ids and cu_seqlens (passed to the tower as
    precomputed kwargs), the padded attention layout, and for every row the indices of its image's
    merged features."""
    lengths = grids.prod(-1)
    cu_seqlens = get_vision_cu_seqlens(grids)
    max_seqlen = int(lengths.max())
    length = (max_seqlen + pad_to - 1) // pad_to * pad_to
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
    positions = torch.arange(length)
    valid = positions[None, :] < lengths[:, None]
    gather = torch.where(valid, offsets[:, None] + positions[None, :], offsets[:, None])
    scatter = (torch.arange(len(grids))[:, None] * length + positions[None, :])[valid]
    merged = lengths // (merge * merge)
    merged_offsets = torch.cat([torch.zeros(1, dtype=torch.long), merged.cumsum(0)[:-1]])
    row_features = torch.cat([torch.arange(o, o + n).repeat(int(r))
                              for o, n, r in zip(merged_offsets.tolist(), merged.tolist(), rows_per_image.tolist())])
    return dict(vision_position_ids=get_vision_position_ids(grids, merge), cu_seqlens=cu_seqlens,
                max_seqlen=max_seqlen, attn_gather=gather, attn_valid=valid, attn_scatter=scatter,
                row_feature_index=row_features)


def scene_batch(encoder: SceneEncoder, rope: RopeIndex, items: list, shared_prefix: bool) -> dict:
    """The training batch of ``items`` (scenes.example_with_all_types): one row per question, with
    transformers' M-RoPE positions and the vision layout; with ``shared_prefix``, packed one
    sequence per scene (packing.pack_scenes) instead of the rows."""
    images = [image for image, _, _ in items]
    batch = encoder.training_batch(images, [[(qa.question, qa.answer) for qa in qas] for _, qas, _ in items])
    batch["position_ids"], _ = rope.get_rope_index(
        batch["input_ids"], batch["mm_token_type_ids"], image_grid_thw=batch.pop("row_grid_thw"),
        attention_mask=batch["attention_mask"])
    rows_per_image = batch.pop("rows_per_image")
    batch.update(vision_layout(batch["image_grid_thw"], rows_per_image, rope.config.vision_config.spatial_merge_size))
    if shared_prefix:
        packed = packing.pack_scenes(batch, rows_per_image, encoder.image_end_id, encoder.pad_token_id)
        batch = {k: v for k, v in batch.items() if k not in packing.ROW_FIELDS} | packed
    return batch


# A stage's "questions": what it asks each scene of its stream.
QUESTION_STREAMS = {"one_per_type": scenes.example_with_all_types, "every": scenes.example_with_every_question}


class SceneBatches(IterableDataset):
    """Batch k holds scenes k*B .. k*B+B-1 of the training stream, each with the questions of
    ``questions`` (QUESTION_STREAMS; one row per question, or one packed sequence per scene with
    ``shared_prefix``). Worker w makes batches w, w+W, ... and the DataLoader
    interleaves workers in order, so the batch sequence does not depend on W. Each worker checks its
    first batch's pixels against transformers' image processor."""

    def __init__(self, model_dir: Path, seed: int, images: int, questions: str = "one_per_type",
                 shared_prefix: bool = False):
        self.model_dir, self.seed, self.images, self.shared_prefix = model_dir, seed, images, shared_prefix
        self.example = QUESTION_STREAMS[questions]

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        torch.set_num_threads(1)
        encoder = SceneEncoder(self.model_dir)
        rope = RopeIndex(Glm4vConfig.from_pretrained(str(self.model_dir)))
        mean, std = encoder.normalization()
        for batch_index in itertools.count(worker, workers):
            first = batch_index * self.images
            items = [self.example(self.seed, i) for i in range(first, first + self.images)]
            batch = scene_batch(encoder, rope, items, self.shared_prefix)
            if batch_index == worker:
                reference, grids = encoder.pixels([image for image, _, _ in items])
                ours = encoder.normalize_patches(batch["patches"], mean, std)
                if not torch.equal(grids, batch["image_grid_thw"]) or (ours - reference).abs().max() > 1e-5:
                    raise RuntimeError("uint8 patch path differs from transformers' image processor")
            yield batch


def image_features(model, batch: dict, mean: torch.Tensor, std: torch.Tensor, encoder: SceneEncoder) -> torch.Tensor:
    """The merged features of the batch's images, in image order: the vision tower on the whole
    batch with the precomputed layout kwargs."""
    PaddedVisionAttention.layout = batch
    pixel_values = encoder.normalize_patches(batch["patches"], mean, std)
    return model.model.visual(pixel_values, grid_thw=batch["image_grid_thw"],
                              position_ids=batch["vision_position_ids"], cu_seqlens=batch["cu_seqlens"],
                              max_seqlen=batch["max_seqlen"]).pooler_output


def training_loss(model, batch: dict, mean: torch.Tensor, std: torch.Tensor, encoder: SceneEncoder):
    """Glm4vForConditionalGeneration's loss with each image encoded once for all its rows: the
    vision tower runs on the whole batch with precomputed layout kwargs, the image features are
    scattered into the rows' <|image|> embeddings exactly as the model's forward does, and text
    positions come precomputed from RopeIndex."""
    features = image_features(model, batch, mean, std, encoder)
    embeds = model.get_input_embeddings()(batch["input_ids"])
    image_slots = (batch["input_ids"] == model.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(image_slots, features[batch["row_feature_index"]].to(embeds.dtype))
    return model(inputs_embeds=embeds, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"],
                 labels=batch["labels"], use_cache=False)


class ScoredOutput(NamedTuple):
    loss: torch.Tensor
    logits: torch.Tensor  # at the batch's scored_index only


def shared_prefix_loss(model, batch: dict, mean: torch.Tensor, std: torch.Tensor, encoder: SceneEncoder) -> ScoredOutput:
    """training_loss on the packed layout (packing.pack_scenes): the decoder runs once over each
    scene's prefix and all its questions, and lm_head only where an answer token is predicted;
    the cross-entropy is ForCausalLMLoss's (float logits, mean over the scored tokens)."""
    features = image_features(model, batch, mean, std, encoder)
    ids = batch["packed_ids"]
    embeds = model.get_input_embeddings()(ids)
    image_slots = (ids == model.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(image_slots, features.to(embeds.dtype))  # one copy of each image, in order
    hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=packing.segment_mask(batch["segments"]),
                                        position_ids=batch["packed_positions"], use_cache=False).last_hidden_state
    logits = model.lm_head(hidden.flatten(0, 1)[batch["scored_index"]])
    return ScoredOutput(F.cross_entropy(logits.float(), batch["scored_target"]), logits)


def teacher_forced_exact(out, batch: dict) -> float:
    if "scored_index" in batch:
        return packing.rows_exact(out.logits, batch).item()
    return answer_exact_match(out.logits, batch["labels"])


def use_padded_vision_attention(model, on: bool) -> None:
    model.model.visual.config._attn_implementation = PaddedVisionAttention.NAME if on else "sdpa"


@torch.no_grad()
def check_padded_attention(model, batch: dict, mean, std, encoder) -> float:
    """Largest difference (fp32) between the tower's output with the padded attention and with
    transformers' per-image SDPA loop, on one training batch."""
    pixel_values = encoder.normalize_patches(batch["patches"], mean, std)
    use_padded_vision_attention(model, False)
    reference = model.model.visual(pixel_values, grid_thw=batch["image_grid_thw"]).pooler_output
    use_padded_vision_attention(model, True)
    PaddedVisionAttention.layout = batch
    padded = model.model.visual(pixel_values, grid_thw=batch["image_grid_thw"],
                                position_ids=batch["vision_position_ids"], cu_seqlens=batch["cu_seqlens"],
                                max_seqlen=batch["max_seqlen"]).pooler_output
    return (padded - reference).abs().max().item() / reference.abs().max().item()


CHECK_SCENES = 16  # scenes of the stream's first batch in the shared-prefix check (the whole batch in fp32 is costly)
# Far above fp32 rounding (~1e-6 here), far below what a wrong mask, position or label gives (>1e-2).
SHARED_PREFIX_TOLERANCE = 1e-4


@contextlib.contextmanager
def exact_fp32():
    """No TF32 in matmuls or cuDNN convolutions (the patch embedding) while inside."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def check_shared_prefix(model, encoder: SceneEncoder, items: list, mean, std, device) -> dict[str, float]:
    """Relative differences between shared_prefix_loss and training_loss on the same scenes, in the
    precision the model is in (fp32, TF32 off, for the check): of the loss; of the whole gradient
    (L2 norm of the difference over the norm); of the worst parameter (its largest difference over
    its largest gradient entry)."""
    rope = RopeIndex(model.config)
    params = [p for p in model.parameters() if p.requires_grad]

    def loss_and_grads(loss_fn, shared_prefix: bool):
        batch = {k: v.to(device) if torch.is_tensor(v) else v
                 for k, v in scene_batch(encoder, rope, items, shared_prefix).items()}
        loss = loss_fn(model, batch, mean, std, encoder).loss
        return loss.detach(), torch.autograd.grad(loss, params, allow_unused=True)

    reference, reference_grads = loss_and_grads(training_loss, False)
    loss, grads = loss_and_grads(shared_prefix_loss, True)
    if [g is None for g in grads] != [g is None for g in reference_grads]:
        raise RuntimeError("shared-prefix loss reaches other parameters than the row loss")
    pairs = [(g, r) for g, r in zip(grads, reference_grads) if r is not None]
    difference = torch.sqrt(sum(((g - r) ** 2).sum() for g, r in pairs))
    norm = torch.sqrt(sum((r ** 2).sum() for _, r in pairs))
    worst = max(((g - r).abs().max() / r.abs().max().clamp_min(1e-30)).item() for g, r in pairs)
    return dict(loss=reference.item(), loss_rel=(abs(loss - reference) / abs(reference)).item(),
                grad_rel=(difference / norm).item(), worst_param_rel=worst)


# The step rate is measured between these steps (the first ones run slower while kernels warm up);
# both lie inside the warmup, so the schedule before the total is known does not depend on it.
CALIBRATION_START, CALIBRATION_STEPS = 200, 300
CHECK_EVERY = 50  # steps between host-side loss checks (and rollback snapshots)


def learning_rate(step: int, steps: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def answer_exact_match(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose every answer token is the teacher-forced argmax."""
    predicted = logits[:, :-1].argmax(-1)
    targets = labels[:, 1:]
    scored = targets != IGNORE
    row_ok = ((predicted == targets) | ~scored).all(dim=1)
    return row_ok.float().mean().item()


def plot_loss(losses: list[float], path: Path, title: str, boundaries: list[int] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    window = max(1, min(50, len(losses) // 10))
    finite = np.isfinite(losses)  # steps undone by a rollback are NaN: gaps, left out of the mean
    kernel = np.ones(window)
    smooth = np.convolve(np.where(finite, losses, 0), kernel, "valid") / np.maximum(
        np.convolve(finite.astype(float), kernel, "valid"), 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, losses, color="#9bb7e0", linewidth=0.6, label="per step")
    ax.plot(steps[window - 1:], smooth, color="#1f4e9c", linewidth=1.5, label=f"mean of {window}")
    for boundary in boundaries:  # where a stage began
        ax.axvline(boundary + 0.5, color="#888888", linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("answer-token cross-entropy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def save_model(model, out_dir: Path, special_ids: dict[str, int]) -> None:
    model.to(torch.bfloat16)
    # A model loaded in fp32 (--init-from) keeps "float32" in its sub-configs otherwise.
    for sub in (model.config.text_config, model.config.vision_config):
        sub.dtype = torch.bfloat16
    model.save_pretrained(str(out_dir))
    recipe.write_generation_config(out_dir, special_ids)  # replaces the default one save_pretrained wrote


def train_stage(model, stage: int, settings: dict, args, log) -> dict:
    """Run one stage of the recipe on ``model`` (in place): fresh AdamW, linear warmup then cosine,
    scenes of stream ``args.seed + stage - 1`` at the stage's image size. Returns its losses and
    counters."""
    special_ids = recipe.build_tokenizer_dir(args.model_out, stage)  # the workers read this image size
    images, lr, warmup = settings["images"], settings["lr"], settings["warmup"]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=lr, betas=(0.9, 0.95), fused=args.device == "cuda")
    shared_prefix = settings["shared_prefix"]
    loss_fn = shared_prefix_loss if shared_prefix else training_loss
    loader = DataLoader(SceneBatches(args.model_out, args.seed + stage - 1, images, settings["questions"], shared_prefix), batch_size=None,
                        num_workers=args.workers, pin_memory=args.device == "cuda",
                        prefetch_factor=4 if args.workers else None, persistent_workers=False)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16)
    encoder = SceneEncoder(args.model_out)
    mean, std = (t.to(args.device) for t in encoder.normalization())
    on_device = lambda b: {k: v.to(args.device, non_blocking=True) if torch.is_tensor(v) else v  # noqa: E731
                           for k, v in b.items()}

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    losses: list[float] = []
    window: list[torch.Tensor] = []  # this check window's losses, still on the device
    snapshot = None  # (parameters, optimizer state) at the last good check
    lr_scale, rollbacks, skipped, best_window = 1.0, 0, 0, float("inf")
    skipped_updates = torch.zeros((), device=args.device)
    model.train()
    use_padded_vision_attention(model, True)
    train_start = time.time()
    if not settings["steps"] and warmup < CALIBRATION_STEPS:
        raise SystemExit(f"stage {stage}: warmup must be at least {CALIBRATION_STEPS}")
    budget = settings["time_budget_s"]
    min_pixels, max_pixels = recipe.pixel_limits(stage)
    layout = "one packed sequence per scene" if shared_prefix else "one row per question"
    log(f"stage {stage}: steps of {images} scenes x questions {settings['questions']!r} ({layout}), images "
        f"{min_pixels // 2}..{max_pixels // 2} pixels, lr {lr:g}, warmup {warmup}, "
        + (f"{settings['steps']} steps" if settings["steps"] else f"{budget:g} s"))
    steps = settings["steps"] or None  # None until calibrated
    data_wait = 0.0  # time blocked on the DataLoader: shows whether data or GPU limits the rate
    fetch_start = time.time()
    for step, batch in enumerate(loader):
        now = time.time()
        data_wait += now - fetch_start
        if step == 0:
            batch = on_device(batch)
            torch.backends.cuda.matmul.allow_tf32 = False
            deviation = check_padded_attention(model, batch, mean, std, encoder)
            torch.backends.cuda.matmul.allow_tf32 = True
            log(f"padded vision attention vs transformers' per-image loop (fp32): relative max difference {deviation:.2e}")
            if deviation > 1e-2:
                raise SystemExit("padded vision attention does not match")
            if shared_prefix:
                example = QUESTION_STREAMS[settings["questions"]]
                items = [example(args.seed + stage - 1, i) for i in range(CHECK_SCENES)]
                with exact_fp32():
                    check = check_shared_prefix(model, encoder, items, mean, std, args.device)
                log(f"shared-prefix loss vs the row loss on {CHECK_SCENES} scenes (fp32): loss {check['loss']:.6f}, "
                    f"relative difference {check['loss_rel']:.1e}; gradient {check['grad_rel']:.1e} (L2), "
                    f"worst parameter {check['worst_param_rel']:.1e}")
                if max(check["loss_rel"], check["grad_rel"]) > SHARED_PREFIX_TOLERANCE:
                    raise SystemExit("the shared-prefix loss does not match the row loss")
        if step == CALIBRATION_START:
            sync()
            calibration_start_time = time.time()
        if steps is None and step == CALIBRATION_STEPS:
            sync()
            rate = (CALIBRATION_STEPS - CALIBRATION_START) / (time.time() - calibration_start_time)
            steps = CALIBRATION_STEPS + int(0.97 * rate * (budget - (now - train_start)))
            log(f"{rate:.2f} steps/s: training {steps} steps")
        if steps is not None and step >= steps:
            break
        if now - train_start > budget:
            log(f"time budget reached at step {step}")
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_scale * learning_rate(step, steps or 10**9, lr, warmup)
        batch = on_device(batch)
        with autocast:
            out = loss_fn(model, batch, mean, std, encoder)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if args.device == "cuda":  # fused AdamW skips the whole update when found_inf is 1, without a host sync
            optimizer.found_inf = (~torch.isfinite(grad_norm)).float()  # 0-dim, like the step counters
            skipped_updates += optimizer.found_inf
        optimizer.step()
        window.append(out.loss.detach())
        if len(window) == CHECK_EVERY or (steps is not None and step + 1 == steps):
            # One host sync per window: a non-finite or exploded loss rolls back to the last good
            # weights and halves the learning rate for the rest of the stage.
            values = torch.stack(window).float().cpu().numpy()
            window = []
            good = np.isfinite(values)
            skipped = int(skipped_updates.item())  # steps whose update found_inf skipped
            params_ok = all(bool(torch.isfinite(p).all()) for p in model.parameters())
            mean_loss = float(values[good].mean()) if good.any() else float("nan")
            if params_ok and 2 * good.sum() > len(values) and mean_loss < 3 * best_window:
                best_window = min(best_window, mean_loss)
                losses.extend(values.tolist())
                snapshot = ([p.detach().clone() for p in model.parameters()],
                            {k: {n: t.clone() if torch.is_tensor(t) else t for n, t in st.items()}
                             for k, st in optimizer.state.items()})
            elif snapshot is not None:
                losses.extend([float("nan")] * len(values))
                rollbacks += 1
                lr_scale *= 0.5
                with torch.no_grad():
                    for p, saved in zip(model.parameters(), snapshot[0]):
                        p.copy_(saved)
                for k, st in snapshot[1].items():
                    for n, t in st.items():
                        if torch.is_tensor(t):
                            optimizer.state[k][n].copy_(t)
                        else:
                            optimizer.state[k][n] = t
                log(f"step {step}: loss {mean_loss:.4f} (best window {best_window:.4f}), "
                    f"{int((~good).sum())} non-finite steps, weights finite {params_ok}: rolled back "
                    f"{len(values)} steps, learning rate x{lr_scale}")
            else:
                raise SystemExit(f"step {step}: loss {mean_loss} before the first good window")
        if step % 100 == 0 or (steps is not None and step + 1 == steps):
            elapsed = time.time() - train_start
            recent = [x for x in losses[-100:] if math.isfinite(x)]
            log(f"step {step:5d}  loss {np.mean(recent) if recent else float('nan'):.4f}  "
                f"answer exact (teacher forced) {teacher_forced_exact(out, batch):.3f}  "
                f"lr {optimizer.param_groups[0]['lr']:.2e}  {elapsed:.0f} s  {(step + 1) / elapsed:.1f} steps/s  "
                f"data wait {100 * data_wait / elapsed:.0f} %  skipped {skipped}")
        fetch_start = time.time()
    sync()
    if window:  # the time budget stopped the stage inside a check window
        losses.extend(torch.stack(window).float().cpu().tolist())
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()) and snapshot is not None:
            with torch.no_grad():
                for p, saved in zip(model.parameters(), snapshot[0]):
                    p.copy_(saved)
            log("non-finite weights at the end: restored the last good window")
    seconds = time.time() - train_start
    del loader
    log(f"stage {stage}: trained {len(losses)} steps in {seconds:.0f} s")
    return dict(stage=stage, special_ids=special_ids, losses=losses, steps=len(losses), images=images,
                rollbacks=rollbacks, skipped=int(skipped_updates.item()), seconds=seconds)


def stage_settings(stage: int, args) -> dict:
    """The recipe's settings for a stage, with any command-line overrides."""
    settings = dict(recipe.STAGES[stage])
    for key in ("images", "lr", "warmup", "steps", "time_budget_s"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.time_budget_s is not None and args.steps is None:
        settings["steps"] = 0  # a budget given on the command line is fitted by calibration
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-out", type=Path, default=recipe.MODEL_DIR)
    parser.add_argument("--loss-png", type=Path, default=recipe.REPO / "docs" / "demo-loss.png")
    parser.add_argument("--losses-out", type=Path, default=Path(__file__).parent / "runs" / "losses.json",
                        help="per-step training losses (JSON list; NaN for steps undone by a rollback)")
    parser.add_argument("--reference", type=Path, help="where to write transformers' eval answers "
                        "(default tools/train_demo/reference_answers_seed<eval-seed>.jsonl)")
    parser.add_argument("--stages", default=",".join(map(str, recipe.STAGES)),
                        help="recipe stages to run, in order (recipe.STAGES); a later stage alone needs --init-from")
    parser.add_argument("--init-from", type=Path, help="start from this model directory's weights (made by this "
                        "recipe, e.g. the output of the stages before) instead of a fresh initialisation")
    overrides = parser.add_argument_group("overrides of the recipe's per-stage settings (applied to every stage run)")
    overrides.add_argument("--steps", type=int,
                           help=f"optimizer steps; 0 = as many as fit the time budget at the rate measured over "
                                f"steps {CALIBRATION_START}-{CALIBRATION_STEPS} (the log prints it, to rerun exactly)")
    overrides.add_argument("--time-budget-s", type=float, help="training wall time of a stage (also a hard stop)")
    overrides.add_argument("--images", type=int, help="scenes per step (each asks every question type it can)")
    overrides.add_argument("--lr", type=float)
    overrides.add_argument("--warmup", type=int)
    parser.add_argument("--post-norm-init", type=float, default=0.1,
                        help="initial weight of the decoder's post-attention/post-MLP RMSNorms (transformers: 1). "
                             "GLM's sandwich norms make each branch output unit-scale, which at init drowns the "
                             "0.02-scale embeddings in the residual stream; with 1 the run diverged to NaN")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1, help="initialisation and stage 1's scene stream "
                        "(stage k draws stream seed + k - 1)")
    parser.add_argument("--eval-seed", type=int, default=9001)
    parser.add_argument("--eval-count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    stages = [int(s) for s in args.stages.split(",")]
    if any(s not in recipe.STAGES for s in stages):
        raise SystemExit(f"--stages: known stages are {sorted(recipe.STAGES)}")
    if stages[0] != min(recipe.STAGES) and not args.init_from:
        raise SystemExit(f"stage {stages[0]} continues from earlier stages: give --init-from")
    reference = args.reference or Path(__file__).parent / f"reference_answers_seed{args.eval_seed}.jsonl"
    log = lambda message: print(message, flush=True)  # noqa: E731

    started = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True  # training only; the eval below turns it off
    torch.backends.cudnn.allow_tf32 = True
    # torch 2.11's default SDPA backend on H100 for masked attention is cuDNN, whose backward returns
    # NaN grad_q when seq_len % 128 == 64 (576 = 24 x 24 patches, the largest image) and a row's
    # logsumexp is very negative (pytorch/pytorch#196678): the first run of this recipe lost ~1 in 100
    # steps to it. The memory-efficient and math kernels are clean.
    torch.backends.cuda.enable_cudnn_sdp(False)

    args.model_out.mkdir(parents=True, exist_ok=True)
    special_ids = recipe.build_tokenizer_dir(args.model_out, stages[0])
    config = recipe.model_config(special_ids)
    config.save_pretrained(str(args.model_out))  # the data workers read it
    if args.init_from:
        model = Glm4vForConditionalGeneration.from_pretrained(str(args.init_from), dtype=torch.float32)
        shape_of = lambda c: {k: v for k, v in c.to_dict()["text_config"].items() if k != "dtype"}  # noqa: E731
        if shape_of(model.config) != shape_of(config):
            raise SystemExit(f"{args.init_from} was not made by this recipe")
        model = model.to(args.device)
    else:
        model = Glm4vForConditionalGeneration(config).to(args.device)
        for layer in model.model.language_model.layers:
            layer.post_self_attn_layernorm.weight.data.fill_(args.post_norm_init)
            layer.post_mlp_layernorm.weight.data.fill_(args.post_norm_init)
    params = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    log(f"parameters: {params:,} (vision {vision:,}); vocab {config.text_config.vocab_size}; "
        f"setup {time.time() - started:.1f} s")

    runs = [train_stage(model, stage, stage_settings(stage, args), args, log) for stage in stages]
    losses = [x for run in runs for x in run["losses"]]
    train_seconds = sum(run["seconds"] for run in runs)

    use_padded_vision_attention(model, False)
    save_model(model, args.model_out, runs[-1]["special_ids"])
    args.losses_out.parent.mkdir(parents=True, exist_ok=True)
    args.losses_out.write_text(json.dumps([round(x, 5) for x in losses]) + "\n")
    plot_loss(losses, args.loss_png,
              "glimpse-demo: " + "; ".join(f"stage {r['stage']}: {r['steps']} steps x {r['images']} scenes"
                                           for r in runs) + f"; {train_seconds / 60:.1f} min",
              boundaries=list(itertools.accumulate(r["steps"] for r in runs))[:-1])

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    eval_start = time.time()
    records = evaluate.run(evaluate.load_model(args.model_out, args.device), SceneEncoder(args.model_out),
                           args.eval_seed, args.eval_count)
    table = evaluate.accuracy_table(records)
    reference.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    log(f"eval: seed {args.eval_seed}, {args.eval_count} scenes, fp32 greedy ({time.time() - eval_start:.0f} s)")
    log(evaluate.format_table(table))
    log(json.dumps({"stages": [{k: v for k, v in r.items() if k not in ("losses", "special_ids")} for r in runs],
                    "train_seconds": round(train_seconds), "total_seconds": round(time.time() - started),
                    "parameters": params, "final_loss": float(np.nanmean(losses[-100:])),
                    "eval": {k: v["accuracy"] for k, v in table.items()}}))


if __name__ == "__main__":
    main()
