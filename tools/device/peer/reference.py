"""transformers reference cases on the full random model, for glimpse's full-size parity check.

    python3 tools/device/peer/reference.py [--model /root/glm46v-random] [--cases /root/peer-cases] [--tiny]

transformers 5.17, bf16 weights and activations, sdpa attention, on the GPU. 20 English questions of
different lengths x 3 synthetic photo-like images (512x512, 1024x768, 1920x1080, PNG) = 60 cases.
Per case `CASES/<id>/`:

  input_ids.npy       int64 [seq]     the processor's ids (image tokens expanded)
  position_ids.npy    int64 [3, seq]  get_rope_index
  image_grid_thw.npy  int64 [1, 3]
  pixel_values.npy    f32 [t*h*w, 1176]  (a hard link to images/<res>/pixel_values.npy)
  logits.npy          f32 [vocab]     first generated step (prefill, last position), raw logits
  tokens.npy          int64 [16]      greedy tokens (argmax of the raw logits, no EOS stop)
  margins.npy         f32 [16]        top-1 minus top-2 raw logit at each step
  greedy.json         {"tokens", "margins", "top2": [[id1, logit1, id2, logit2] per step]}

plus `images/<res>/{image.png, pixel_values.npy, image_grid_thw.npy, vision_embeds.npy}`
(vision_embeds: get_image_features, f32 [tokens, 4096]) and `manifest.json` (cases, versions,
settings). Kept if CASES/manifest.json exists (--force regenerates).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

STEPS = 16
RESOLUTIONS = [(512, 512), (1024, 768), (1920, 1080)]
TINY_RESOLUTIONS = [(224, 224), (300, 180)]

QUESTIONS = [
    "What is this?",
    "Describe the image.",
    "What colors do you see?",
    "Is this photo taken indoors or outdoors?",
    "Describe this image in detail, please.",
    "How many distinct shapes can you find in the picture?",
    "What is the dominant color in the upper half of the image?",
    "Write a short caption for this picture that could go in a magazine.",
    "Is there anything in this image that looks like text or a sign? If so, read it.",
    "Describe the lighting in this scene. Where does the light seem to come from?",
    "List every object you can identify, from left to right, with its approximate color.",
    "Imagine this image is the cover of a novel. What would the title be, and why?",
    "Compare the left side of the image with the right side. What differs between them?",
    "Explain what mood this picture conveys, and point to the visual details that create it.",
    "If you had to crop this image to a square that keeps the most interesting part, where would you crop?",
    "Give a detailed description of this image for someone who cannot see it, covering the layout, "
    "the colors and any shapes.",
    "Suppose this is a photograph from a camera with a dirty lens. Which parts of the picture would "
    "show the problem first, and what would they look like?",
    "Describe the image as a painter would: the palette, the composition, the brush strokes you "
    "would use, and the order in which you would paint the parts of it.",
    "I am designing a website and want to use this image as a background. Which colors from it "
    "should I pick for the text and the buttons so that they are readable, and which should I avoid?",
    "Please look carefully at the whole picture. First summarize it in one sentence. Then describe "
    "the top, the middle and the bottom in turn. Finally, say which single detail you find most "
    "surprising and explain in two or three sentences why it stands out to you.",
]


def case_id(resolution: tuple[int, int], index: int) -> str:
    return f"r{resolution[0]}x{resolution[1]}_q{index:02d}"


def greedy(model, inputs, steps: int):
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=steps,
        min_new_tokens=steps,
        eos_token_id=None,
        pad_token_id=model.generation_config.pad_token_id,
        output_logits=True,
        return_dict_in_generate=True,
    )
    out = model.generate(**inputs, generation_config=config)
    tokens = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    if len(tokens) != steps:
        raise RuntimeError(f"generate stopped after {len(tokens)} tokens")
    first = out.logits[0][0].float()
    margins, top2 = [], []
    for token, logits in zip(tokens, out.logits):
        values, ids = torch.topk(logits[0].float(), 2)
        if int(ids[0]) != token and float(values[0] - values[1]) > 0:
            raise RuntimeError("generate picked a token other than the raw-logit argmax")
        margins.append(float(values[0] - values[1]))
        top2.append([int(ids[0]), float(values[0]), int(ids[1]), float(values[1])])
    return first, tokens, margins, top2


def run(model, processor, args, device) -> dict:
    import numpy as np
    import torch

    out = common.cases_dir(args)
    if (out / "manifest.json").exists() and not args.force:
        print(f"{out}/manifest.json exists, kept (--force regenerates)")
        return {"kept": str(out)}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    resolutions = TINY_RESOLUTIONS if args.tiny else RESOLUTIONS
    questions = QUESTIONS[: args.questions] if args.questions else QUESTIONS
    cases, images = [], {}
    started = time.perf_counter()
    for r_index, resolution in enumerate(resolutions):
        label = f"{resolution[0]}x{resolution[1]}"
        image_dir = out / "images" / label
        image_dir.mkdir(parents=True)
        image = common.synthetic_photo(*resolution, seed=100 + r_index)
        image.save(image_dir / "image.png")
        shared = None
        for q_index, question in enumerate(questions):
            inputs = common.prepare(processor, [image], [question], device)
            with torch.no_grad():
                if shared is None:  # the image's own arrays, once per resolution
                    pixels = inputs["pixel_values"].float().cpu().numpy()
                    grid = inputs["image_grid_thw"].cpu().numpy().astype(np.int64)
                    features = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
                    embeds = torch.cat(features.pooler_output).float().cpu().numpy()
                    np.save(image_dir / "pixel_values.npy", pixels.astype(np.float32))
                    np.save(image_dir / "image_grid_thw.npy", grid)
                    np.save(image_dir / "vision_embeds.npy", embeds)
                    shared = grid
                    images[label] = {
                        "png": f"images/{label}/image.png",
                        "grid_thw": grid[0].tolist(),
                        "image_tokens": int(embeds.shape[0]),
                        "pixel_rows": int(pixels.shape[0]),
                    }
                elif not np.array_equal(shared, inputs["image_grid_thw"].cpu().numpy()):
                    raise RuntimeError(f"{label}: the grid changed between questions")
                position_ids, _ = model.model.get_rope_index(
                    inputs["input_ids"],
                    mm_token_type_ids=inputs["mm_token_type_ids"],
                    image_grid_thw=inputs["image_grid_thw"],
                )
                first, tokens, margins, top2 = greedy(model, inputs, STEPS)
            cid = case_id(resolution, q_index)
            case_dir = out / cid
            case_dir.mkdir()
            ids = inputs["input_ids"][0].cpu().numpy().astype(np.int64)
            np.save(case_dir / "input_ids.npy", ids)
            np.save(case_dir / "position_ids.npy", position_ids[:, 0, :].cpu().numpy().astype(np.int64))
            np.save(case_dir / "logits.npy", first.cpu().numpy().astype(np.float32))
            np.save(case_dir / "tokens.npy", np.array(tokens, np.int64))
            np.save(case_dir / "margins.npy", np.array(margins, np.float32))
            for name in ("pixel_values.npy", "image_grid_thw.npy"):
                os.link(image_dir / name, case_dir / name)
            common.write_json(case_dir / "greedy.json", {"tokens": tokens, "margins": margins, "top2": top2})
            cases.append(
                {
                    "id": cid,
                    "resolution": label,
                    "question": question,
                    "prompt_tokens": int(ids.shape[0]),
                    "min_margin": min(margins),
                    "steps_margin_ge_0.1": sum(m >= 0.1 for m in margins),
                }
            )
            print(f"  {cid:<20} seq={ids.shape[0]:<5} margins ≥0.1: {cases[-1]['steps_margin_ge_0.1']}/{STEPS}", flush=True)
    all_margins = [m for c in cases for m in np.load(out / c["id"] / "margins.npy").tolist()]
    manifest = {
        "generator": "tools/device/peer/reference.py",
        "versions": common.versions(),
        "model": str(common.model_dir(args)),
        "compute": f"transformers, {args.dtype}, sdpa, {device}",
        "steps": STEPS,
        "margin_median": float(np.median(all_margins)),
        "margin_below_0.1": float(np.mean(np.array(all_margins) < 0.1)),
        "images": images,
        "cases": cases,
        "seconds": time.perf_counter() - started,
    }
    common.write_json(out / "manifest.json", manifest)
    print(
        f"reference: {len(cases)} cases in {manifest['seconds']:.1f} s; margin median "
        f"{manifest['margin_median']:.3f}, below 0.1 in {manifest['margin_below_0.1']:.1%} of steps -> {out}"
    )
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="default /root/glm46v-random (--tiny: /tmp/glm46v-random-tiny)")
    parser.add_argument("--cases", help="default /root/peer-cases (--tiny: /tmp/peer-cases-tiny)")
    parser.add_argument("--tiny", action="store_true", help="the tiny model, small images")
    parser.add_argument("--device", help="default cuda when available")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--questions", type=int, default=0, help="only the first N questions (0: all 20)")
    parser.add_argument("--force", action="store_true", help="regenerate even if the manifest exists")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    if (common.cases_dir(args) / "manifest.json").exists() and not args.force:
        print(f"{common.cases_dir(args)}/manifest.json exists, kept (--force regenerates)")
        return
    device = common.pick_device(args.device)
    model, seconds = common.load_model(common.model_dir(args), device, args.dtype)
    print(f"transformers load: {seconds:.1f} s")
    run(model, common.load_processor(common.model_dir(args)), args, device)


if __name__ == "__main__":
    main()
