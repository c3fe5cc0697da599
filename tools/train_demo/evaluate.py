"""Greedy answers of the demo model under transformers, scored per question type.

python -m tools.train_demo.evaluate --model models/glimpse-demo --seed 777 --count 500 \
    [--device cuda] [--answers OUT.jsonl] [--compare REFERENCE.jsonl]

Scenes come from tools.train_demo.scenes (stream ``seed``, indices 0..count-1), so the same seed
gives the same images and questions as `python -m tools.train_demo.scenes --seed S --count N`.
Weights load as float32 (the saved bf16 values upcast, which is what glimpse computes with).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from tools.train_demo import scenes
from tools.train_demo.encode import SceneEncoder


def load_model(model_dir: Path, device: str):
    from transformers import Glm4vForConditionalGeneration

    model = Glm4vForConditionalGeneration.from_pretrained(str(model_dir), dtype=torch.float32)
    return model.to(device).eval()


@torch.no_grad()
def answer(model, encoder: SceneEncoder, images, questions, max_new_tokens: int = 40) -> list[str]:
    batch = {k: v.to(model.device) for k, v in encoder.generation_batch(images, questions).items()}
    out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens)
    new_tokens = out[:, batch["input_ids"].shape[1]:]
    return [text.strip() for text in encoder.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def run(model, encoder: SceneEncoder, seed: int, count: int, batch_size: int = 50) -> list[dict]:
    records = []
    for start in range(0, count, batch_size):
        items = [scenes.example(seed, i) for i in range(start, min(count, start + batch_size))]
        predictions = answer(model, encoder, [image for image, _, _ in items], [qa.question for _, qa, _ in items])
        for offset, ((_, qa, _), predicted) in enumerate(zip(items, predictions)):
            records.append({"index": start + offset, "question": qa.question, "expected": qa.answer,
                            "answer": predicted, "type": qa.type, "lang": qa.lang})
    return records


def accuracy_table(records: list[dict]) -> dict[str, dict]:
    """{question type (and 'all'): {"n": count, "correct": count, "accuracy": fraction}}."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        for key in (r["type"], f"{r['type']}/{r['lang']}", "all"):
            tally[key][0] += 1
            tally[key][1] += r["answer"] == r["expected"]
    return {k: {"n": n, "correct": c, "accuracy": c / n} for k, (n, c) in sorted(tally.items())}


def format_table(table: dict[str, dict]) -> str:
    return "\n".join(f"{k:22s} {v['correct']:4d}/{v['n']:<4d} {100 * v['accuracy']:6.2f} %" for k, v in table.items())


def agreement(records: list[dict], reference_path: Path) -> tuple[int, int]:
    reference = {r["index"]: r["answer"] for r in map(json.loads, reference_path.read_text().splitlines())}
    same = sum(reference[r["index"]] == r["answer"] for r in records if r["index"] in reference)
    return same, sum(r["index"] in reference for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description="transformers exact-match eval of the demo model")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--answers", type=Path, help="write every answer as JSON lines")
    parser.add_argument("--compare", type=Path, help="reference answers (JSON lines) to measure agreement with")
    args = parser.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False  # plain fp32, comparable with a CPU run
    torch.backends.cudnn.allow_tf32 = False
    encoder = SceneEncoder(args.model)
    records = run(load_model(args.model, args.device), encoder, args.seed, args.count)
    print(format_table(accuracy_table(records)))
    if args.answers:
        args.answers.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    if args.compare:
        same, total = agreement(records, args.compare)
        print(f"agreement with {args.compare}: {same}/{total} = {100 * same / total:.2f} %")


if __name__ == "__main__":
    main()
