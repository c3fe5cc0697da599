"""The transformers peer's timings on the full random model, measured like
../shared/notes/baseline-h100.md, plus the copy and GEMM ceilings of the same run.

    python3 tools/device/peer/timing.py [--model /root/glm46v-random] [--json F] [--markdown F] [--tiny]

transformers 5.17, bf16, sdpa, greedy, fixed output length (eos_token_id=None, min_new_tokens =
max_new_tokens); inputs preprocessed and on the GPU before the clock starts; torch.cuda.synchronize
before every clock read; one untimed warm-up, then the median of --repeats runs (3 for batches).

  preprocess   processor(text, image) on the CPU (chat template already rendered)
  vision       model.model.get_image_features(pixel_values, grid)
  TTFT         generate(max_new_tokens=1): vision + prefill + first token
  decode       (generate(1 + N) - generate(1)) / N, N = --decode-tokens (default 32)
  batch B      generate over B identical 512x512 prompts, 64 new tokens each: B*64 / wall
  peak         torch.cuda.max_memory_allocated during that workload (weights included)

Ceilings: device-to-device copy of 1 GiB (bytes read + written), bf16 8192^3 torch.matmul on
random data; median of 10 after warm-up, timed with CUDA events.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

RESOLUTIONS = [(512, 512), (1024, 1024), (1920, 1080)]
TINY_RESOLUTIONS = [(224, 224), (448, 448), (560, 336)]
BATCHES = [8, 32]
BATCH_TOKENS = 64


def ceilings(device, tiny: bool) -> dict:
    import torch

    if device.type != "cuda":
        return {"copy_gb_s": None, "gemm_bf16_tflop_s": None}

    def event_median(fn, repeats=10):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return statistics.median(times)

    nbytes = (64 << 20) if tiny else (1 << 30)
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    copy_s = event_median(lambda: dst.copy_(src))
    n = 1024 if tiny else 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    c = torch.empty(n, n, device=device, dtype=torch.bfloat16)
    gemm_s = event_median(lambda: torch.matmul(a, b, out=c))
    del src, dst, a, b, c
    torch.cuda.empty_cache()
    return {
        "copy_bytes": 2 * nbytes,
        "copy_gb_s": 2 * nbytes / copy_s / 1e9,
        "gemm_n": n,
        "gemm_bf16_tflop_s": 2 * n**3 / gemm_s / 1e12,
    }


def generation_config(model, tokens: int):
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False,
        max_new_tokens=tokens,
        min_new_tokens=tokens,
        eos_token_id=None,
        pad_token_id=model.generation_config.pad_token_id,
    )


def peak_gb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def single(model, processor, device, resolution, args) -> dict:
    import torch

    image = common.synthetic_photo(*resolution, seed=7)
    cpu = torch.device("cpu")
    preprocess_ms, _ = common.timed(
        lambda: common.prepare(processor, [image], [args.question], cpu), cpu, args.repeats
    )
    inputs = common.prepare(processor, [image], [args.question], device)
    row = {
        "resolution": f"{resolution[0]}x{resolution[1]}",
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "image_tokens": int(inputs["image_grid_thw"].prod(-1).sum()) // 4,
        "preprocess_ms": preprocess_ms,
    }
    reset_peak(device)
    with torch.no_grad():
        row["vision_ms"], row["vision_runs"] = common.timed(
            lambda: model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]),
            device,
            args.repeats,
        )
        one = generation_config(model, 1)
        row["ttft_ms"], row["ttft_runs"] = common.timed(
            lambda: model.generate(**inputs, generation_config=one), device, args.repeats
        )
        n = args.decode_tokens
        more = generation_config(model, 1 + n)
        total_ms, row["generate_1_plus_n_runs"] = common.timed(
            lambda: model.generate(**inputs, generation_config=more), device, args.repeats
        )
    row["decode_tokens"] = n
    row["decode_ms_per_token"] = (total_ms - row["ttft_ms"]) / n
    row["peak_gb"] = peak_gb(device)
    return row


def batch(model, processor, device, size: int, resolution, args) -> dict:
    import torch

    image = common.synthetic_photo(*resolution, seed=7)
    inputs = common.prepare(processor, [image] * size, [args.question] * size, device)
    config = generation_config(model, args.batch_tokens)
    reset_peak(device)
    with torch.no_grad():
        wall_ms, runs = common.timed(
            lambda: model.generate(**inputs, generation_config=config),
            device,
            args.batch_repeats,
        )
    return {
        "batch": size,
        "resolution": f"{resolution[0]}x{resolution[1]}",
        "new_tokens": args.batch_tokens,
        "wall_ms": wall_ms,
        "runs": runs,
        "output_tok_s": size * args.batch_tokens / (wall_ms / 1e3),
        "peak_gb": peak_gb(device),
    }


def markdown(result: dict) -> str:
    def f(v, digits=1):
        return "" if v is None else f"{v:,.{digits}f}"

    lines = [
        f"# transformers peer: {result['versions'].get('gpu', 'cpu')}, torch {result['versions']['torch']}, "
        f"transformers {result['versions']['transformers']}",
        "",
        f"bf16, sdpa, greedy, fixed output length; median of {result['settings']['repeats']} "
        f"(batches: {result['settings']['batch_repeats']}) after one warm-up; model load "
        f"{f(result.get('load_s'))} s from page cache.",
        "",
        "| workload | TTFT | vision encoder | decode | other |",
        "|---|---|---|---|---|",
    ]
    for row in result["single"]:
        lines.append(
            f"| {row['resolution']} image + question ({row['prompt_tokens']} prompt tokens, "
            f"{row['image_tokens']} image) | {f(row['ttft_ms'])} ms | {f(row['vision_ms'])} ms | "
            f"{f(row['decode_ms_per_token'])} ms/token | preprocess {f(row['preprocess_ms'])} ms; "
            f"peak {f(row['peak_gb'])} GB |"
        )
    for row in result["batch"]:
        lines.append(
            f"| batch {row['batch']}, {row['resolution']}, {row['new_tokens']} tokens | | | | "
            f"{f(row['output_tok_s'], 0)} output tok/s; peak {f(row['peak_gb'])} GB |"
        )
    c = result["ceilings"]
    lines += [
        "",
        f"Ceilings in the same run: device-to-device copy {f(c.get('copy_gb_s'), 0)} GB/s (read + written), "
        f"bf16 {c.get('gemm_n')}³ GEMM {f(c.get('gemm_bf16_tflop_s'), 0)} TFLOP/s.",
    ]
    return "\n".join(lines) + "\n"


def headline(result: dict) -> dict:
    """The numbers tools/device/model_check.sh puts beside glimpse's (first resolution = 512²)."""
    single = {row["resolution"]: row for row in result["single"]}
    first, last = result["single"][0], result["single"][-1]
    big = max(result["batch"], key=lambda r: r["batch"]) if result["batch"] else None
    return {
        "decode_512_ms_per_token": first["decode_ms_per_token"],
        "ttft_512_ms": first["ttft_ms"],
        "ttft_1920_ms": single.get("1920x1080", last)["ttft_ms"],
        "vision_512_ms": first["vision_ms"],
        "batch_tok_s": big["output_tok_s"] if big else None,
        "batch": big["batch"] if big else None,
        "load_s": result.get("load_s"),
        "prompt_tokens_512": first["prompt_tokens"],
    }


def run(model, processor, args, device, load_s: float | None = None) -> dict:
    started = time.perf_counter()
    resolutions = TINY_RESOLUTIONS if args.tiny else RESOLUTIONS
    result = {
        "versions": common.versions(),
        "model": str(common.model_dir(args)),
        "settings": {
            "dtype": args.dtype,
            "attention": "sdpa",
            "repeats": args.repeats,
            "batch_repeats": args.batch_repeats,
            "decode_tokens": args.decode_tokens,
            "question": args.question,
        },
        "load_s": load_s,
        "ceilings": ceilings(device, args.tiny),
        "single": [],
        "batch": [],
    }
    for resolution in resolutions:
        result["single"].append(single(model, processor, device, resolution, args))
        row = result["single"][-1]
        print(
            f"  {row['resolution']:<10} {row['prompt_tokens']} tokens: TTFT {row['ttft_ms']:.1f} ms, "
            f"vision {row['vision_ms']:.1f} ms, decode {row['decode_ms_per_token']:.2f} ms/token",
            flush=True,
        )
    for size in args.batches:
        result["batch"].append(batch(model, processor, device, size, resolutions[0], args))
        print(f"  batch {size}: {result['batch'][-1]['output_tok_s']:.0f} tok/s", flush=True)
    result["headline"] = headline(result)
    result["seconds"] = time.perf_counter() - started
    if args.json:
        common.write_json(Path(args.json), result)
    text = markdown(result)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)
    print(f"timing: {result['seconds']:.1f} s")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    parser.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",") if x], default=BATCHES)
    parser.add_argument("--question", default=common.TIMING_QUESTION)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="default /root/glm46v-random (--tiny: /tmp/glm46v-random-tiny)")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", help="default cuda when available")
    parser.add_argument("--dtype", default="bfloat16")
    add_arguments(parser)
    args = parser.parse_args()
    device = common.pick_device(args.device)
    model, load_s = common.load_model(common.model_dir(args), device, args.dtype)
    print(f"transformers load: {load_s:.1f} s")
    run(model, common.load_processor(common.model_dir(args)), args, device, load_s)


if __name__ == "__main__":
    main()
