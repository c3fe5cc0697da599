"""Exact-match accuracy of the demo model through glimpse (CPU), per question type.

python -m tools.train_demo.eval_glimpse --seed 4040 --count 500 \
    [--glimpse build/release/glimpse] [--model models/glimpse-demo] [--threads N] \
    [--compare tools/train_demo/reference_answers_seed777.jsonl] [--answers OUT.jsonl]

Writes the scenes (PNG + scenes.jsonl, tools.train_demo.scenes) to a temporary folder, asks
`glimpse run` each question greedily with thinking disabled, and prints the table. With
--compare (transformers' answers for the same seed, from train.py or evaluate.py) it also prints
the agreement between glimpse and transformers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.train_demo import scenes
from tools.train_demo.evaluate import accuracy_table, agreement, format_table
from tools.train_demo.recipe import MODEL_DIR, REPO


def ask(glimpse: Path, model: Path, image: Path, question: str, threads: int | None) -> str:
    command = [str(glimpse), "run", "--model", str(model), "--image", str(image), "--prompt", question,
               "--no-think", "--temperature", "0", "--format", "json"]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)["choices"][0]["message"]["content"].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description="demo-model accuracy through glimpse")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--glimpse", type=Path, default=REPO / "build" / "release" / "glimpse")
    parser.add_argument("--model", type=Path, default=MODEL_DIR)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--answers", type=Path, help="write every answer as JSON lines")
    parser.add_argument("--compare", type=Path, help="transformers' answers for the same seed (JSON lines)")
    args = parser.parse_args()

    records = []
    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        jsonl = scenes.write_scenes(Path(folder), args.seed, args.count)
        for index, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines()):
            item = json.loads(line)
            answer = ask(args.glimpse, args.model, Path(folder) / item["image"], item["question"], args.threads)
            records.append({"index": index, "question": item["question"], "expected": item["answer"],
                            "answer": answer, "type": item["type"], "lang": item["lang"]})
            if (index + 1) % 50 == 0:
                print(f"{index + 1}/{args.count} scenes, {time.time() - started:.0f} s", file=sys.stderr)
    print(f"glimpse, seed {args.seed}, {args.count} scenes ({time.time() - started:.0f} s)")
    print(format_table(accuracy_table(records)))
    if args.answers:
        args.answers.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    if args.compare:
        same, total = agreement(records, args.compare)
        print(f"agreement with {args.compare}: {same}/{total} = {100 * same / total:.2f} %")


if __name__ == "__main__":
    main()
