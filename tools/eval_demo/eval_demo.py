"""Exact-match evaluation of the demo model through the `glimpse` binary.

    /opt/glimpse-venv/bin/python tools/eval_demo/eval_demo.py --glimpse build/release/glimpse \\
        [--model models/glimpse-demo] (--seed S --count N | --scenes DIR) \\
        [--reference tools/train_demo/reference_answers_S.jsonl] [--answers OUT.jsonl]

Scenes come from tools/train_demo/scenes.py: either generated here (stream --seed, indices
0..count-1, the same images and questions as `python -m tools.train_demo.scenes`), or read from a
folder holding scenes.jsonl and its images (e.g. tests/demo_scenes). Each question is asked with
`glimpse run --image IMG --prompt Q --no-think --temperature 0 --format json`, as
tools/train_demo/evaluate.py asks transformers (greedy, thinking off, answer stripped), and the
report is the same table: exact match per question type, per type and language, and overall.
With --reference (evaluate.py's --answers output for the same scenes), it also reports how often
glimpse's answer is the same string as transformers'.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tools.train_demo import scenes  # noqa: E402
from tools.train_demo.evaluate import accuracy_table, agreement, format_table  # noqa: E402

MAX_NEW_TOKENS = 40  # as evaluate.py


def load_scenes(folder: Path) -> list[dict]:
    lines = (folder / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    return [{**json.loads(line), "index": i} for i, line in enumerate(lines) if line.strip()]


def ask(glimpse: Path, model: Path, image: Path, question: str, threads: int) -> str:
    command = [str(glimpse), "run", "--model", str(model), "--image", str(image), "--prompt", question,
               "--no-think", "--temperature", "0", "--max-tokens", str(MAX_NEW_TOKENS), "--format", "json",
               "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout)["choices"][0]["message"]["content"].strip()


def evaluate(glimpse: Path, model: Path, folder: Path, items: list[dict], threads: int) -> list[dict]:
    records = []
    for n, item in enumerate(items, 1):
        answer = ask(glimpse, model, folder / item["image"], item["question"], threads)
        records.append({"index": item["index"], "question": item["question"], "expected": item["answer"],
                        "answer": answer, "type": item["type"], "lang": item["lang"]})
        if n % 50 == 0:
            print(f"  {n}/{len(items)}", file=sys.stderr)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--glimpse", type=Path, default=REPO / "build" / "release" / "glimpse")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "glimpse-demo")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenes", type=Path, help="folder with scenes.jsonl and its images")
    source.add_argument("--seed", type=int, help="generate scenes of this stream")
    parser.add_argument("--count", type=int, default=200, help="scenes to generate (with --seed)")
    parser.add_argument("--threads", type=int, default=0, help="glimpse --threads (0: all)")
    parser.add_argument("--reference", type=Path, help="transformers' answers (evaluate.py --answers)")
    parser.add_argument("--answers", type=Path, help="write every answer as JSON lines")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.scenes
        if folder is None:
            folder = Path(tmp)
            scenes.write_scenes(folder, args.seed, args.count)
        records = evaluate(args.glimpse, args.model, folder, load_scenes(folder), args.threads)

    print(format_table(accuracy_table(records)))
    if args.answers:
        args.answers.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    if args.reference:
        same, total = agreement(records, args.reference)
        print(f"agreement with {args.reference}: {same}/{total} = {100 * same / max(total, 1):.2f} %")


if __name__ == "__main__":
    main()
