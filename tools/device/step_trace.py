"""Summarises GLIMPSE_TRACE_STEPS lines (stderr of glimpse with that variable set): median prepare /
forward+pick / emit times of the pure decode steps with exactly --sequences sequences, and of the steps
that carry prefill. Standard library only."""

import argparse
import re
import statistics

LINE = re.compile(r"glimpse step: (\d+) sequences \((\d+) decoding\), (\d+) tokens \| prepare "
                  r"([\d.]+) ms \| forward\+pick ([\d.]+) ms \| emit ([\d.]+) ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--sequences", type=int, required=True)
    args = parser.parse_args()
    decode, prefill = [], []
    for line in open(args.trace, encoding="utf-8", errors="replace"):
        m = LINE.search(line)
        if not m:
            continue
        seqs, decoding, tokens = int(m[1]), int(m[2]), int(m[3])
        times = (float(m[4]), float(m[5]), float(m[6]))
        if seqs == decoding == tokens == args.sequences:
            decode.append(times)
        elif tokens > decoding:
            prefill.append((tokens,) + times)
    def med(rows, i):
        return statistics.median(r[i] for r in rows) if rows else float("nan")
    print(f"step trace, {args.sequences} sequences: {len(decode)} pure decode steps: prepare "
          f"{med(decode, 0):.3f} ms, forward+pick {med(decode, 1):.3f} ms, emit {med(decode, 2):.3f} ms; "
          f"{len(prefill)} steps with prefill: median {med(prefill, 0):.0f} tokens, forward+pick "
          f"{med(prefill, 2):.3f} ms")


if __name__ == "__main__":
    main()
