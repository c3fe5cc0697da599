"""The final table of tools/device/model_check.sh: workload | transformers | glimpse | target | met?

    python3 tools/device/model_summary.py --run RUN_DIR [--peer peer.json] [--model DIR] --out summary.md

RUN_DIR holds what model_check.sh wrote there: stages.txt and gpu_memory.txt (nvidia-smi samples),
bench_single.json / bench_batch.json (`glimpse bench --json`), parity.json (full_size_parity),
environment.txt. Missing pieces become "not run". Without peer.json the transformers column falls
back to ../shared/notes/baseline-h100.md's numbers (2026-11-24), marked as such.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

# ../shared/notes/baseline-h100.md (transformers 5.17, H100, bf16, sdpa): used only without peer.json.
BASELINE = {
    "decode_512_ms_per_token": 38.1,
    "ttft_512_ms": 110.0,
    "ttft_1920_ms": 220.8,
    "vision_512_ms": 22.6,
    "batch_tok_s": 510.0,
    "load_s": None,
}


def load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def bench_point(report, label: str, concurrency: int):
    if not report:
        return None
    for point in report.get("points", []):
        if point.get("label") == label and point.get("concurrency") == concurrency:
            return point
    return None


def metric(point, name: str, stat: str = "p50"):
    if not point:
        return None
    value = point.get("metrics", {}).get(name, {})
    return value.get(stat) if value.get("count") else None


def stage_peaks(run: Path) -> dict[str, float]:
    """Peak nvidia-smi memory.used (MiB) within each stage's time window."""
    try:
        stages = [line.split(maxsplit=1) for line in (run / "stages.txt").read_text().splitlines()]
        samples = []
        for line in (run / "gpu_memory.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                samples.append((float(parts[0]), int(parts[1])))
    except OSError:
        return {}
    peaks = {}
    for i, (start, name) in enumerate(stages):
        end = float(stages[i + 1][0]) if i + 1 < len(stages) else float("inf")
        inside = [mib for t, mib in samples if float(start) <= t < end]
        if inside:
            peaks[name] = max(inside)
    return peaks


def decode_bytes(model: Path | None) -> int | None:
    """Bytes one decode step must read: every text-decoder weight and lm_head, not the embedding
    table (one row per token) nor the vision tower."""
    if not model or not model.is_dir():
        return None
    total = 0
    for file in sorted(model.glob("*.safetensors")):
        with open(file, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        for name, info in header.items():
            if name == "__metadata__" or "visual" in name or "embed_tokens" in name:
                continue
            begin, end = info["data_offsets"]
            total += end - begin
    return total or None


def fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "not run"
    return f"{value:,.{digits}f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--peer", type=Path)
    parser.add_argument("--model", type=Path, default=Path("/root/glm46v-random"))
    parser.add_argument("--phase", default="all")
    parser.add_argument("--status", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    peer = load_json(args.peer) if args.peer else None
    head = peer["headline"] if peer else BASELINE
    peer_source = (
        f"transformers measured in this session ({peer['versions'].get('gpu', '?')})"
        if peer
        else "transformers from ../shared/notes/baseline-h100.md (2026-11-24), not measured in this call"
    )
    single = load_json(args.run / "bench_single.json")
    batch = load_json(args.run / "bench_batch.json")
    parity = load_json(args.run / "parity.json")
    p512 = bench_point(single, "512x512", 1)
    p1920 = bench_point(single, "1920x1080", 1)
    p32 = bench_point(batch, "512x512", 32)
    p8 = bench_point(batch, "512x512", 8)
    load_s = single["run"]["load_ms"] / 1e3 if single and single["run"].get("load_ms") else None

    rows = [
        # workload, transformers, glimpse, target text, met(glimpse)
        ("decode, batch 1, after a 512² image prompt", head.get("decode_512_ms_per_token"),
         metric(p512, "tpot_ms"), " ms/token", "≤ 7.5 ms/token", lambda v: v <= 7.5),
        ("TTFT, 512² image + 16-token question", head.get("ttft_512_ms"), metric(p512, "ttft_ms"),
         " ms", "≤ 25 ms", lambda v: v <= 25),
        ("TTFT, 1920×1080 image", head.get("ttft_1920_ms"), metric(p1920, "ttft_ms"), " ms", "≤ 60 ms",
         lambda v: v <= 60),
        ("vision encoder alone, 512²", head.get("vision_512_ms"), metric(p512, "vision_ms"), " ms",
         "≤ 5 ms", lambda v: v <= 5),
        ("32 concurrent 512² requests, 64 tokens each", head.get("batch_tok_s"),
         p32.get("tokens_per_s") if p32 else None, " tok/s", "≥ 3,000 tok/s", lambda v: v >= 3000),
        ("load of the 20 GB model, page cache → GPU", head.get("load_s"), load_s, " s", "≤ 15 s",
         lambda v: v <= 15),
    ]
    lines = [
        f"# glimpse vs transformers: phase {args.phase}",
        "",
        f"status: {args.status.strip() or '-'}",
        f"peer: {peer_source}",
        "",
        "| workload | transformers | glimpse | target | met? |",
        "|---|---|---|---|---|",
    ]
    met_count = measured = 0
    for name, theirs, ours, unit, target, ok in rows:
        digits = 0 if "tok/s" in unit else (2 if "token" in unit else 1)
        verdict = "—" if ours is None else ("yes" if ok(ours) else "**no**")
        measured += ours is not None
        met_count += ours is not None and ok(ours)
        lines.append(f"| {name} | {fmt(theirs, unit, digits)} | {fmt(ours, unit, digits)} | {target} | {verdict} |")
    lines.append(f"\n{met_count}/{measured} measured targets met.")

    ceilings = peer.get("ceilings", {}) if peer else {}
    nbytes = decode_bytes(args.model)
    copy = ceilings.get("copy_gb_s")
    text = [
        f"Ceilings (torch, same machine): device-to-device copy {fmt(copy, ' GB/s', 0)} (read + written), "
        f"bf16 {ceilings.get('gemm_n', 8192)}³ GEMM {fmt(ceilings.get('gemm_bf16_tflop_s'), ' TFLOP/s', 0)}."
    ]
    if nbytes and copy:
        text.append(
            f"Decode floor at batch 1: {nbytes / 1e9:.2f} GB of decoder + lm_head weights / {copy:.0f} GB/s = "
            f"{nbytes / (copy * 1e9) * 1e3:.2f} ms/token."
        )
    lines += ["", " ".join(text)]

    extra = []
    if p8:
        extra.append(f"8 concurrent: glimpse {fmt(p8.get('tokens_per_s'), ' tok/s', 0)}")
    if peer:
        for b in peer.get("batch", []):
            extra.append(f"transformers batch {b['batch']}: {b['output_tok_s']:.0f} tok/s (peak {fmt(b['peak_gb'], ' GB')})")
    if p1920:
        extra.append(f"glimpse decode after 1920×1080: {fmt(metric(p1920, 'tpot_ms'), ' ms/token', 2)}")
    for name, report in (("single", single), ("batch", batch)):
        if report and report["run"].get("peak_gpu_mib"):
            extra.append(
                f"glimpse allocator peak ({name} bench): {report['run']['peak_gpu_mib'] / 1024:.1f} GiB, reserved "
                f"{(report['run'].get('reserved_gpu_mib') or 0) / 1024:.1f} GiB"
            )
    if extra:
        lines += ["", "; ".join(extra) + "."]

    peaks = stage_peaks(args.run)
    if peaks:
        lines += ["", "GPU memory used (nvidia-smi, peak per stage, MiB): " + ", ".join(f"{k} {v:,}" for k, v in peaks.items())]

    if parity:
        lines += [
            "",
            f"Full-size parity ({parity['dtype']} on {parity['device']}): **{'PASS' if parity['pass'] else 'FAIL'}** — "
            f"{len(parity['cases'])} cases, first-step logits rel. L2 worst {parity['worst_logits_rel_l2']:.2e} (≤ 3e-2), "
            f"top-1 agreement {parity['agreed']}/{parity['checked']} = {100 * parity['agreement']:.1f} % (≥ 95 %), "
            f"vision rel. L2 " + ", ".join(f"{k} {v:.2e}" for k, v in parity["vision_rel_l2"].items()) + f"; load {parity['load_s']:.1f} s.",
        ]
    for name, point in (("512² single", p512), ("1920×1080 single", p1920), ("512² ×32", p32)):
        if point:
            lines.append(
                f"- glimpse {name}: TTFT p50 {fmt(metric(point, 'ttft_ms'), ' ms')} (vision {fmt(metric(point, 'vision_ms'), ' ms')}, "
                f"prefill {fmt(metric(point, 'prefill_ms'), ' ms')}, queue {fmt(metric(point, 'queue_ms'), ' ms')}), "
                f"TPOT p50 {fmt(metric(point, 'tpot_ms'), ' ms', 2)}, {fmt(point.get('tokens_per_s'), ' tok/s', 0)}"
            )
    if peer:
        lines += ["", "## transformers peer (tools/device/peer/timing.py)", ""]
        for row in peer.get("single", []):
            lines.append(
                f"- {row['resolution']} ({row['prompt_tokens']} prompt tokens): TTFT {row['ttft_ms']:.1f} ms, vision "
                f"{row['vision_ms']:.1f} ms, decode {row['decode_ms_per_token']:.2f} ms/token, preprocess "
                f"{row['preprocess_ms']:.1f} ms, peak {fmt(row['peak_gb'], ' GB')}"
            )
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
