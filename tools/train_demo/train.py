"""Train the bundled demo model (shapes world) with transformers' Glm4vForConditionalGeneration.

One command, seeded, data generated on the fly by DataLoader workers:

    PYTHONUNBUFFERED=1 python -m tools.train_demo.train [--steps N] [--model-out DIR] ...

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

from tools.train_demo import evaluate, recipe, scenes
from tools.train_demo.encode import IGNORE, SceneEncoder


class SceneBatches(IterableDataset):
    """Batch k holds scenes k*B .. k*B+B-1 of the training stream; worker w makes batches w, w+W, ...
    and the DataLoader interleaves workers in order, so the batch sequence does not depend on W."""

    def __init__(self, model_dir: Path, seed: int, batch_size: int):
        self.model_dir, self.seed, self.batch_size = model_dir, seed, batch_size

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        torch.set_num_threads(1)
        encoder = SceneEncoder(self.model_dir)
        for batch_index in itertools.count(worker, workers):
            first = batch_index * self.batch_size
            items = [scenes.example(self.seed, i) for i in range(first, first + self.batch_size)]
            batch = encoder.training_batch([image for image, _, _ in items], [qa.question for _, qa, _ in items],
                                           [qa.answer for _, qa, _ in items])
            # bf16 autocast casts the patch-embedding input to bf16 anyway; halves the transfer
            batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
            yield batch


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
    window = 50
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
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1, help="training scene stream and initialisation")
    parser.add_argument("--eval-seed", type=int, default=777)
    parser.add_argument("--eval-count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--time-budget-s", type=float, default=1e9, help="stop training early past this")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    reference = args.reference or Path(__file__).parent / f"reference_answers_seed{args.eval_seed}.jsonl"

    started = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    from transformers import Glm4vForConditionalGeneration

    args.model_out.mkdir(parents=True, exist_ok=True)
    special_ids = recipe.build_tokenizer_dir(args.model_out)
    config = recipe.model_config(special_ids)
    model = Glm4vForConditionalGeneration(config).to(args.device)
    params = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    print(f"parameters: {params:,} (vision {vision:,}); vocab {config.text_config.vocab_size}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95), fused=args.device == "cuda")
    loader = DataLoader(SceneBatches(args.model_out, args.seed, args.batch_size), batch_size=None,
                        num_workers=args.workers, pin_memory=args.device == "cuda",
                        prefetch_factor=4 if args.workers else None, persistent_workers=False)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16)

    losses: list[float] = []
    model.train()
    train_start = time.time()
    print(f"setup {train_start - started:.1f} s; training {args.steps} steps of {args.batch_size}", flush=True)
    step = 0
    for step, batch in enumerate(loader):
        if step >= args.steps:
            break
        if time.time() - train_start > args.time_budget_s:
            print(f"time budget reached at step {step}", flush=True)
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        batch = {k: v.to(args.device, non_blocking=True) for k, v in batch.items()}
        with autocast:
            out = model(**batch, use_cache=False)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(out.loss.item())
        if step % 100 == 0 or step == args.steps - 1:
            elapsed = time.time() - train_start
            print(f"step {step:5d}  loss {np.mean(losses[-100:]):.4f}  "
                  f"answer exact (teacher forced) {answer_exact_match(out.logits, batch['labels']):.3f}  "
                  f"lr {optimizer.param_groups[0]['lr']:.2e}  {elapsed:.0f} s  {(step + 1) / elapsed:.1f} steps/s",
                  flush=True)
    trained_steps = len(losses)
    train_seconds = time.time() - train_start
    del loader
    print(f"trained {trained_steps} steps in {train_seconds:.0f} s", flush=True)

    save_model(model, args.model_out, special_ids)
    plot_loss(losses, args.loss_png,
              f"glimpse-demo: {trained_steps} steps x {args.batch_size} scenes, {train_seconds / 60:.1f} min")

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    eval_start = time.time()
    records = evaluate.run(evaluate.load_model(args.model_out, args.device), SceneEncoder(args.model_out),
                           args.eval_seed, args.eval_count)
    table = evaluate.accuracy_table(records)
    reference.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    print(f"eval: seed {args.eval_seed}, {args.eval_count} scenes, fp32 greedy ({time.time() - eval_start:.0f} s)")
    print(evaluate.format_table(table))
    print(json.dumps({"steps": trained_steps, "batch_size": args.batch_size, "train_seconds": round(train_seconds),
                      "total_seconds": round(time.time() - started), "parameters": params,
                      "final_loss": float(np.mean(losses[-100:])),
                      "eval": {k: v["accuracy"] for k, v in table.items()}}), flush=True)


if __name__ == "__main__":
    main()
