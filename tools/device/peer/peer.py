"""make_full_model.py + reference.py + timing.py with one model load (what model_check.sh runs).

    python3 tools/device/peer/peer.py [--tiny] [--json F] [--markdown F] [--skip-reference] [--skip-timing]

Makes the random model if it is absent, loads it once in transformers (bf16, sdpa, GPU), writes the
reference cases if their manifest is absent, then times the peer workloads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import make_full_model  # noqa: E402
import reference  # noqa: E402
import timing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    reference.add_arguments(parser)  # --model --cases --tiny --device --dtype --questions --force
    timing.add_arguments(parser)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--seed", type=int, default=4096)
    args = parser.parse_args()
    started = time.perf_counter()
    directory = common.model_dir(args)
    if not (directory / "config.json").exists():
        make_full_model.make(directory, args.tiny, args.device, args.seed)
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # the freshly made model's blocks, before loading it back
    else:
        print(f"{directory} exists, kept")
    device = common.pick_device(args.device)
    model, load_s = common.load_model(directory, device, args.dtype)
    print(f"transformers load: {load_s:.1f} s", flush=True)
    processor = common.load_processor(directory)
    if not args.skip_reference:
        reference.run(model, processor, args, device)
    if not args.skip_timing:
        timing.run(model, processor, args, device, load_s)
    print(f"peer.py: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
