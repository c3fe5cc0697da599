"""Train the bundled demo model (shapes world) with transformers' Glm4vForConditionalGeneration.

One command per stage, seeded, data generated on the fly by DataLoader workers (the shipped model's
two stages are in docs/demo-model.md):

    PYTHONUNBUFFERED=1 python -m tools.train_demo.train [--steps N] [--init-from DIR] [--model-out DIR] ...

writes the HF model directory (bf16 safetensors, config, generation config, tokenizer, chat
template, processor config), the loss curve PNG, and transformers' greedy answers on the eval
scenes (reference for glimpse), and prints exact match per question type.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from transformers import Glm4vConfig, Glm4vForConditionalGeneration, Glm4vModel

from tools.train_demo import evaluate, recipe, scenes
from tools.train_demo.encode import IGNORE, SceneEncoder


class RopeIndex:
    """transformers' own M-RoPE position computation (Glm4vModel.get_rope_index), run on the CPU in
    the data workers: it loops over rows in Python with device syncs, which made it the largest
    share of a training step on the GPU. It reads only ``config`` and ``get_vision_position_ids``."""

    def __init__(self, config):
        self.config = config

    get_vision_position_ids = Glm4vModel.get_vision_position_ids
    get_rope_index = Glm4vModel.get_rope_index


class SceneBatches(IterableDataset):
    """Batch k holds scenes k*B .. k*B+B-1 of the training stream, each with Q questions of distinct
    types (one row per question). Worker w makes batches w, w+W, ... and the DataLoader interleaves
    workers in order, so the batch sequence does not depend on W."""

    def __init__(self, model_dir: Path, seed: int, images: int, questions: int):
        self.model_dir, self.seed, self.images, self.questions = model_dir, seed, images, questions

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        torch.set_num_threads(1)
        encoder = SceneEncoder(self.model_dir)
        rope = RopeIndex(Glm4vConfig.from_pretrained(str(self.model_dir)))
        for batch_index in itertools.count(worker, workers):
            first = batch_index * self.images
            items = [scenes.example_with_questions(self.seed, i, self.questions)
                     for i in range(first, first + self.images)]
            batch = encoder.training_batch([image for image, _, _ in items],
                                           [[(qa.question, qa.answer) for qa in qas] for _, qas, _ in items])
            batch["position_ids"], _ = rope.get_rope_index(
                batch["input_ids"], batch["mm_token_type_ids"], image_grid_thw=batch.pop("row_grid_thw"),
                attention_mask=batch["attention_mask"])
            # bf16 autocast casts the patch-embedding input to bf16 anyway; halves the transfer
            batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
            yield batch


def training_loss(model, batch: dict, questions: int):
    """Glm4vForConditionalGeneration's loss with each image encoded once for its ``questions`` rows:
    the image features are scattered into the rows' <|image|> embeddings exactly as the model's
    forward does, and positions come precomputed from RopeIndex."""
    per_image = model.model.get_image_features(batch["pixel_values"], batch["image_grid_thw"]).pooler_output
    row_features = torch.cat([features for features in per_image for _ in range(questions)])
    embeds = model.get_input_embeddings()(batch["input_ids"])
    image_slots = (batch["input_ids"] == model.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(image_slots, row_features.to(embeds.dtype))
    return model(inputs_embeds=embeds, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"],
                 labels=batch["labels"], use_cache=False)


# The step rate is measured between these steps (the first ones run slower while kernels warm up);
# both lie inside the warmup, so the schedule before the total is known does not depend on it.
CALIBRATION_START, CALIBRATION_STEPS = 100, 300


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


def plot_loss(losses: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(losses) + 1)
    window = max(1, min(50, len(losses) // 10))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, losses, color="#9bb7e0", linewidth=0.6, label="per step")
    ax.plot(steps[window - 1:], smooth, color="#1f4e9c", linewidth=1.5, label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("answer-token cross-entropy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def save_model(model, out_dir: Path, special_ids: dict[str, int]) -> None:
    model.to(torch.bfloat16).save_pretrained(str(out_dir))
    recipe.write_generation_config(out_dir, special_ids)  # replaces the default one save_pretrained wrote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-out", type=Path, default=recipe.MODEL_DIR)
    parser.add_argument("--loss-png", type=Path, default=recipe.REPO / "docs" / "demo-loss.png")
    parser.add_argument("--reference", type=Path, help="where to write transformers' eval answers "
                        "(default tools/train_demo/reference_answers_seed<eval-seed>.jsonl)")
    parser.add_argument("--steps", type=int, default=0,
                        help="optimizer steps; 0 = as many as fit --time-budget-s at the rate measured over "
                             f"steps {CALIBRATION_START}-{CALIBRATION_STEPS} (the log prints it, to rerun exactly)")
    parser.add_argument("--images", type=int, default=24, help="scenes per step")
    parser.add_argument("--questions", type=int, default=5, help="questions (rows) per scene, distinct types")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--init-from", type=Path, help="continue from this model directory's weights "
                        "(same recipe) instead of a fresh initialisation")
    parser.add_argument("--post-norm-init", type=float, default=0.1,
                        help="initial weight of the decoder's post-attention/post-MLP RMSNorms (transformers: 1). "
                             "GLM's sandwich norms make each branch output unit-scale, which at init drowns the "
                             "0.02-scale embeddings in the residual stream; with 1 the run diverged to NaN")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1, help="training scene stream and initialisation")
    parser.add_argument("--eval-seed", type=int, default=777)
    parser.add_argument("--eval-count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--time-budget-s", type=float, default=420, help="training wall time (also a hard stop)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    reference = args.reference or Path(__file__).parent / f"reference_answers_seed{args.eval_seed}.jsonl"

    started = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    args.model_out.mkdir(parents=True, exist_ok=True)
    special_ids = recipe.build_tokenizer_dir(args.model_out)
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
    if args.post_norm_init is not None and not args.init_from:
        for layer in model.model.language_model.layers:
            layer.post_self_attn_layernorm.weight.data.fill_(args.post_norm_init)
            layer.post_mlp_layernorm.weight.data.fill_(args.post_norm_init)
    params = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    print(f"parameters: {params:,} (vision {vision:,}); vocab {config.text_config.vocab_size}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95), fused=args.device == "cuda")
    loader = DataLoader(SceneBatches(args.model_out, args.seed, args.images, args.questions), batch_size=None,
                        num_workers=args.workers, pin_memory=args.device == "cuda",
                        prefetch_factor=4 if args.workers else None, persistent_workers=False)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16)

    losses: list[float] = []
    model.train()
    train_start = time.time()
    if not args.steps and args.warmup < CALIBRATION_STEPS:
        raise SystemExit(f"--warmup must be at least {CALIBRATION_STEPS}")
    print(f"setup {train_start - started:.1f} s; training steps of {args.images} scenes "
          f"x {args.questions} questions", flush=True)
    steps = args.steps or None  # None until calibrated
    data_wait = 0.0  # time blocked on the DataLoader: shows whether data or GPU limits the rate
    fetch_start = time.time()
    for step, batch in enumerate(loader):
        now = time.time()
        data_wait += now - fetch_start
        if step == CALIBRATION_START:
            calibration_start_time = now
        if steps is None and step == CALIBRATION_STEPS:
            rate = (CALIBRATION_STEPS - CALIBRATION_START) / (now - calibration_start_time)
            steps = CALIBRATION_STEPS + int(0.97 * rate * (args.time_budget_s - (now - train_start)))
            print(f"{rate:.2f} steps/s: training {steps} steps", flush=True)
        if steps is not None and step >= steps:
            break
        if now - train_start > args.time_budget_s:
            print(f"time budget reached at step {step}", flush=True)
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, steps or 10**9, args.lr, args.warmup)
        batch = {k: v.to(args.device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            out = training_loss(model, batch, args.questions)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(out.loss.item())
        if step % 100 == 0 or step + 1 == steps:
            elapsed = time.time() - train_start
            print(f"step {step:5d}  loss {np.mean(losses[-100:]):.4f}  "
                  f"answer exact (teacher forced) {answer_exact_match(out.logits, batch['labels']):.3f}  "
                  f"lr {optimizer.param_groups[0]['lr']:.2e}  {elapsed:.0f} s  {(step + 1) / elapsed:.1f} steps/s  "
                  f"data wait {100 * data_wait / elapsed:.0f} %", flush=True)
        fetch_start = time.time()
    trained_steps = len(losses)
    train_seconds = time.time() - train_start
    del loader
    print(f"trained {trained_steps} steps in {train_seconds:.0f} s", flush=True)

    save_model(model, args.model_out, special_ids)
    plot_loss(losses, args.loss_png,
              f"glimpse-demo: {trained_steps} steps x {args.images} scenes x {args.questions} questions, "
              f"{train_seconds / 60:.1f} min")

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    eval_start = time.time()
    records = evaluate.run(evaluate.load_model(args.model_out, args.device), SceneEncoder(args.model_out),
                           args.eval_seed, args.eval_count)
    table = evaluate.accuracy_table(records)
    reference.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    print(f"eval: seed {args.eval_seed}, {args.eval_count} scenes, fp32 greedy ({time.time() - eval_start:.0f} s)")
    print(evaluate.format_table(table))
    print(json.dumps({"steps": trained_steps, "images": args.images, "questions": args.questions, "train_seconds": round(train_seconds),
                      "total_seconds": round(time.time() - started), "parameters": params,
                      "final_loss": float(np.mean(losses[-100:])),
                      "eval": {k: v["accuracy"] for k, v in table.items()}}), flush=True)


if __name__ == "__main__":
    main()
