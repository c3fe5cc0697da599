"""Write the golden reference fixtures (tests/golden layout) into OUT_DIR.

    python tools/reference/generate.py OUT_DIR

Builds the shared tokenizer, the tiny-a / tiny-b checkpoints and the test images, then runs
every case in cases.py through transformers on CPU in float32 (weights upcast from the
bf16 checkpoint, eager attention, one thread, deterministic algorithms) and records the
rendered prompt, processor outputs, M-RoPE positions, vision tower output, prefill logits and
a 16-token greedy continuation. Finally it records the tokenizer corpus and manifest.json.
Nothing time- or machine-dependent is written, so two runs give byte-identical folders.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import make_models  # noqa: E402
from cases import CASES, Case  # noqa: E402
from images import write_images  # noqa: E402
from tokenizer_strings import tokenizer_test_strings  # noqa: E402

NEW_TOKENS = 16
TOP_K = 5
MIN_CORPUS_ENTRIES = 2000


def _write_json(path: Path, value, compact: bool = False) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if compact else _pretty(value)
    path.write_text(text + "\n", encoding="utf-8")


def _pretty(value, indent: str = "") -> str:
    """Indented JSON whose innermost containers stay on one line (short, diff-friendly files)."""
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values()):
        inner = indent + "  "
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _pretty(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def _load_processor(spec: make_models.ModelSpec, model_dir: Path):
    """The model's processor with the PIL image backend and no video processor (no torchvision)."""
    from transformers import AutoTokenizer

    class ImageOnlyProcessor(make_models.processor_class(spec)):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    return ImageOnlyProcessor(
        image_processor=make_models.image_processor_class(spec).from_pretrained(model_dir),
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        video_processor=None,
        chat_template=(model_dir / "chat_template.jinja").read_text(),
    )


def _load_model(spec: make_models.ModelSpec, model_dir: Path):
    model = make_models.model_class(spec.architecture).from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    return model.eval()


def _template_messages(messages: list) -> list:
    """image_url parts become {"type": "image"}, the form transformers' processors template."""
    converted = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            content = [{"type": "image"} if part["type"] == "image_url" else part for part in content]
        converted.append({**message, "content": content})
    return converted


def _image_paths(messages: list) -> list[str]:
    return [
        part["image_url"]["url"]
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def _greedy(model, inputs, tokenizer) -> tuple[dict, torch.Tensor]:
    """16 greedy tokens with raw-logit top-5 log-probs; no end-of-sequence token stops it."""
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=NEW_TOKENS,
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
        output_logits=True,
        return_dict_in_generate=True,
    )
    out = model.generate(**inputs, generation_config=config)
    tokens = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
    if len(tokens) != NEW_TOKENS:
        raise RuntimeError(f"generate stopped after {len(tokens)} tokens")
    steps = []
    for token, logits in zip(tokens, out.logits):
        logprobs = torch.log_softmax(logits[0].float(), dim=-1)
        if int(torch.argmax(logprobs)) != token:
            raise RuntimeError("generate picked a token other than the raw-logit argmax")
        top = torch.topk(logprobs, TOP_K)
        steps.append(
            {
                "token": token,
                "logprob": float(logprobs[token]),
                "top5": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
            }
        )
    return {"tokens": tokens, "text": tokenizer.decode(tokens), "steps": steps}, out.logits[0][0]


def _top_margin(logits: torch.Tensor) -> float:
    top2 = torch.topk(logits, 2).values
    return float(top2[0] - top2[1])


def run_case(case: Case, model, processor, out: Path) -> tuple[dict, list[float]]:
    case_dir = out / "cases" / case.id
    case_dir.mkdir(parents=True)
    _write_json(case_dir / "messages.json", case.messages)
    kwargs = {} if case.enable_thinking is None else {"enable_thinking": case.enable_thinking}
    rendered = processor.apply_chat_template(
        _template_messages(case.messages), tokenize=False, add_generation_prompt=True, **kwargs
    )
    (case_dir / "rendered.txt").write_text(rendered, encoding="utf-8")

    from PIL import Image

    image_paths = _image_paths(case.messages)
    images = [Image.open(out / path) for path in image_paths]
    inputs = processor(text=[rendered], images=images or None, return_tensors="pt")

    arrays = {"input_ids": inputs["input_ids"][0].numpy().astype(np.int64)}
    with torch.no_grad():
        position_ids, _ = model.model.get_rope_index(
            inputs["input_ids"],
            mm_token_type_ids=inputs["mm_token_type_ids"],
            image_grid_thw=inputs.get("image_grid_thw"),
        )
        arrays["position_ids"] = position_ids[:, 0, :].numpy().astype(np.int64)
        if images:
            arrays["image_grid_thw"] = inputs["image_grid_thw"].numpy().astype(np.int64)
            arrays["pixel_values"] = inputs["pixel_values"].numpy().astype(np.float32)
            features = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
            arrays["vision_embeds"] = torch.cat(features.pooler_output).numpy().astype(np.float32)
        logits = model(**inputs).logits[0, -1].float()
        arrays["logits"] = logits.numpy()
        greedy, first_step_logits = _greedy(model, inputs, processor.tokenizer)
    if not torch.allclose(first_step_logits.float(), logits, atol=1e-4, rtol=0):
        raise RuntimeError(f"{case.id}: generate's first logits differ from the prefill forward")

    files = {"rendered": f"cases/{case.id}/rendered.txt"}
    for name, array in arrays.items():
        np.save(case_dir / f"{name}.npy", array, allow_pickle=False)
        files[name] = f"cases/{case.id}/{name}.npy"
    _write_json(case_dir / "greedy.json", greedy)
    files["greedy"] = f"cases/{case.id}/greedy.json"
    entry = {
        "id": case.id,
        "model": case.model,
        "messages": f"cases/{case.id}/messages.json",
        "images": image_paths,
        "enable_thinking": case.enable_thinking,
        "add_generation_prompt": True,
        "files": files,
        "shapes": {name: list(array.shape) for name, array in arrays.items()},
    }
    margins = [_top_margin(logits)] + [step["top5"][0][1] - step["top5"][1][1] for step in greedy["steps"]]
    return entry, margins


def write_tokenizer_corpus(out: Path, model_name: str) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out / "models" / model_name)
    entries = []
    for text in tokenizer_test_strings():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        entries.append(
            {
                "text": text,
                "ids": ids,
                "decoded": tokenizer.decode(ids),
                "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
            }
        )
    if len(entries) < MIN_CORPUS_ENTRIES:
        raise RuntimeError(f"only {len(entries)} distinct tokenizer strings; add to tokenizer_strings.FAMILIES")
    corpus = {"tokenizer": f"models/{model_name}", "entries": entries}
    _write_json(out / "tokenizer_corpus.json", corpus, compact=True)
    return len(entries)


def _versions() -> dict:
    import PIL
    import safetensors
    import tokenizers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }


def generate(out: Path) -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as scratch:
        special_ids = make_models.build_shared_tokenizer(Path(scratch))
        for spec in make_models.SPECS:
            make_models.make_model(spec, Path(scratch), special_ids, out / "models" / spec.name)
    write_images(out / "images")

    specs = {spec.name: spec for spec in make_models.SPECS}
    loaded = {}
    cases, margins = [], []
    for case in CASES:
        spec = specs[case.model]
        if case.model not in loaded:
            model_dir = out / "models" / case.model
            loaded[case.model] = (_load_model(spec, model_dir), _load_processor(spec, model_dir))
        model, processor = loaded[case.model]
        entry, case_margins = run_case(case, model, processor, out)
        cases.append(entry)
        margins.extend(case_margins)
        print(f"  {case.id:<18} seq={entry['shapes']['input_ids'][0]:<4} min top1-top2 margin {min(case_margins):.3f}")

    corpus_size = write_tokenizer_corpus(out, "tiny-a")
    small = sum(m < 0.1 for m in margins) / len(margins)
    print(f"top1-top2 logit margin: median {float(np.median(margins)):.3f}, below 0.1 in {small:.1%} of steps")
    if small > 0.25:
        raise RuntimeError("logits are too flat; raise the lm_head gain in make_models")

    manifest = {
        "generator": {
            "command": "python tools/reference/generate.py OUT_DIR (tools/reference/run.sh on the device)",
            "versions": _versions(),
            "compute": "CPU, float32 (weights upcast from the bf16 checkpoint), eager attention, 1 thread",
            "image_processor": {name: make_models.image_processor_class(s).__name__ for name, s in specs.items()},
            "greedy": f"{NEW_TOKENS} tokens, argmax of raw logits, no end-of-sequence stop; top{TOP_K} log_softmax",
        },
        "models": {spec.name: f"models/{spec.name}" for spec in make_models.SPECS},
        "shared_tokenizer": True,
        "special_token_ids": special_ids,
        "tokenizer_corpus": "tokenizer_corpus.json",
        "tokenizer_corpus_size": corpus_size,
        "cases": cases,
    }
    _write_json(out / "manifest.json", manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        raise SystemExit(f"{args.out_dir} is not empty")
    started = time.perf_counter()
    try:
        generate(args.out_dir)
    except BaseException:
        shutil.rmtree(args.out_dir, ignore_errors=True)  # never leave a half-written fixture set
        raise
    print(f"wrote {args.out_dir} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
