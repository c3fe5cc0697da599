"""Single-thread throughput of the transformers (Rust `tokenizers`) tokenizer on ~10 MB of English.

    python tools/reference/bench_tokenizer.py MODEL_DIR [--megabytes 10]

Prints one JSON line: bytes, tokens, seconds and MB/s for (a) one call over the list of
paragraphs (best of 3) and (b) one call over the whole text as one string (a single run, it is
slow). The prose is the seeded synthetic English of text_sources.english_prose, so the C++
tokenizer can time the same input.
"""

from __future__ import annotations

import os

# Both must be set before tokenizers is imported: one thread, no rayon pool.
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_sources import english_prose  # noqa: E402


def _best_of(runs: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--megabytes", type=float, default=10.0)
    args = parser.parse_args()

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    text = english_prose(int(args.megabytes * 1e6))
    paragraphs = text.split("\n\n")
    n_bytes = len(text.encode())
    tokenizer(paragraphs[:200], add_special_tokens=False)  # warm-up

    batch_s, batch = _best_of(3, lambda: tokenizer(paragraphs, add_special_tokens=False)["input_ids"])
    whole_s, whole = _best_of(1, lambda: tokenizer(text, add_special_tokens=False)["input_ids"])
    report = {
        "bytes": n_bytes,
        "paragraphs": len(paragraphs),
        "tokens_paragraphs": sum(len(ids) for ids in batch),
        "tokens_whole": len(whole),
        "paragraph_list_s": round(batch_s, 3),
        "paragraph_list_MBps": round(n_bytes / batch_s / 1e6, 2),
        "whole_string_s": round(whole_s, 3),
        "whole_string_MBps": round(n_bytes / whole_s / 1e6, 2),
    }
    print("tokenizer_bench " + json.dumps(report))


if __name__ == "__main__":
    main()
