"""transformers' greedy answers for a folder of demo scenes, the reference glimpse must reproduce.

    /opt/glimpse-venv/bin/python tools/eval_demo/reference_answers.py \\
        --scenes tests/demo_scenes --out tests/engine/demo_reference_answers.jsonl

Reads DIR/scenes.jsonl and its images, answers every question with the demo model in fp32 on the
CPU exactly as tools/train_demo/evaluate.py does (greedy, thinking off, 40 new tokens, special
tokens skipped, stripped), and writes one JSON line per scene: {"index", "question", "expected",
"answer", "type", "lang"}. tests/engine/demo_accuracy_test.cc compares glimpse with this file;
rerun it whenever the model or the scenes change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from tools.train_demo.encode import SceneEncoder  # noqa: E402
from tools.train_demo.evaluate import accuracy_table, answer, format_table, load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=Path, required=True, help="folder with scenes.jsonl and its images")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "glimpse-demo")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from PIL import Image

    items = [json.loads(line) for line in (args.scenes / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    model = load_model(args.model, "cpu")
    encoder = SceneEncoder(args.model)
    records = []
    for i, item in enumerate(items):
        image = np.asarray(Image.open(args.scenes / item["image"]).convert("RGB"))
        predicted = answer(model, encoder, [image], [item["question"]])[0]
        records.append({"index": i, "question": item["question"], "expected": item["answer"],
                        "answer": predicted, "type": item["type"], "lang": item["lang"]})
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(format_table(accuracy_table(records)))


if __name__ == "__main__":
    main()
