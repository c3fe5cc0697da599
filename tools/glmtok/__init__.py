"""Build a small GLM-4-style tokenizer directory (HF layout) from a text corpus.

The result loads with ``transformers.AutoTokenizer`` / ``AutoProcessor`` exactly like
GLM-4.6V's tokenizer does: byte-level BPE, the GLM-4 (cl100k-style) pre-tokenizer regex,
and the GLM special tokens appended after the learned vocabulary in GLM-4.5's order.

API (everything else in this package is private):

    build_tokenizer(corpus, vocab_size, out_dir) -> dict[str, int]
        Train byte-level BPE on ``corpus`` (an iterable of strings) with up to ``vocab_size``
        learned tokens (the 256 byte symbols included; fewer when the corpus runs out of pairs
        seen at least twice), append ``GLM_ADDED_TOKENS`` right after them and write
        tokenizer.json, tokenizer_config.json and chat_template.jinja into ``out_dir``.
        Returns {added token text: id}. The learned count is ids["<|endoftext|>"] and the
        tokenizer length is that + len(GLM_ADDED_TOKENS); a model's vocab_size must be at least that.

    write_chat_template(out_dir) -> Path
        (Re)write chat_template.jinja, the GLM-4.6V-style template (see CHAT_TEMPLATE).

    write_processor_config(out_dir, min_pixels, max_pixels, legacy=False, family="Glm46V") -> Path
        Write the image processor settings: processor_config.json (transformers 5.x layout)
        or, with legacy=True, preprocessor_config.json (transformers 4.x layout). ``family``
        names the processor classes: "Glm46V" (Glm46VProcessor) or "Glm4v" (Glm4vProcessor).
        The pixel limits are compared against 2*h*w (temporal patch 2), so one image yields
        at most max_pixels / (2*28*28) merged tokens.

Training is deterministic for a given corpus order (checked by tools/reference).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

# GLM-4 / cl100k pre-tokenization: contractions, letter runs with one leading non-letter,
# digit groups of at most three, punctuation runs, newline runs, and whitespace.
GLM_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# (text, special) in the order GLM-4.5/4.6V number them. Reasoning and tool-call markers are
# added but not "special", so skip_special_tokens keeps them, as in the released tokenizer.
GLM_ADDED_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),
    ("[MASK]", True),
    ("[gMASK]", True),
    ("[sMASK]", True),
    ("<sop>", True),
    ("<eop>", True),
    ("<|system|>", True),
    ("<|user|>", True),
    ("<|assistant|>", True),
    ("<|observation|>", True),
    ("<|begin_of_image|>", True),
    ("<|end_of_image|>", True),
    ("<|begin_of_video|>", True),
    ("<|end_of_video|>", True),
    ("<|begin_of_audio|>", True),
    ("<|end_of_audio|>", True),
    ("<|begin_of_transcription|>", True),
    ("<|end_of_transcription|>", True),
    ("<|code_prefix|>", True),
    ("<|code_middle|>", True),
    ("<|code_suffix|>", True),
    ("<think>", False),
    ("</think>", False),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<arg_key>", False),
    ("</arg_key>", False),
    ("<arg_value>", False),
    ("</arg_value>", False),
    ("/nothink", True),
    ("<|begin_of_box|>", True),
    ("<|end_of_box|>", True),
    ("<|image|>", True),
    ("<|video|>", True),
]

# GLM-4.6V-style conversation format, written for this project. Images and videos become
# <|begin_of_image|><|image|><|end_of_image|> placeholders that the processor later expands
# to one <|image|> per merged patch. Past assistant turns keep only their final answer.
CHAT_TEMPLATE = """[gMASK]<sop>
{%- macro visible_text(content) -%}
{%- if content is string -%}{{ content }}
{%- elif content is none -%}
{%- else -%}
{%- for part in content -%}
{%- if part.type == 'text' -%}{{ part.text }}
{%- elif part.type == 'image' or part.type == 'image_url' -%}<|begin_of_image|><|image|><|end_of_image|>
{%- elif part.type == 'video' -%}<|begin_of_video|><|video|><|end_of_video|>
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
{%- if message.role == 'system' -%}
<|system|>
{{ visible_text(message.content) }}
{%- elif message.role == 'user' -%}
<|user|>
{{ visible_text(message.content) }}
{%- elif message.role == 'assistant' -%}
{%- set answer = visible_text(message.content) -%}
{%- if '</think>' in answer -%}{%- set answer = answer.split('</think>')[-1].lstrip('\\n') -%}{%- endif -%}
<|assistant|>
<think></think>
{{ answer.strip() }}
{%- elif message.role == 'tool' or message.role == 'observation' -%}
<|observation|>
{{ visible_text(message.content) }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
<|assistant|>
{%- if enable_thinking is defined and not enable_thinking -%}{{ '\n<think></think>' }}{%- endif -%}
{%- endif -%}
"""

_IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP statistics, as GLM-4.6V uses
_IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]


def _train_bpe(corpus: Iterable[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GLM_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


def build_tokenizer(corpus: Iterable[str], vocab_size: int, out_dir: str | Path) -> dict[str, int]:
    """Train, add GLM special tokens, write the tokenizer files; return {added token: id}."""
    if vocab_size < 256 + 1:
        raise ValueError(f"vocab_size {vocab_size} must exceed the 256 byte symbols")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_bpe(corpus, vocab_size)
    learned = tokenizer.get_vocab_size()
    for text, special in GLM_ADDED_TOKENS:
        token = AddedToken(text, single_word=False, lstrip=False, rstrip=False, normalized=False, special=special)
        if special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])
    ids = {text: tokenizer.token_to_id(text) for text, _ in GLM_ADDED_TOKENS}
    expected = list(range(learned, learned + len(GLM_ADDED_TOKENS)))
    if list(ids.values()) != expected:
        raise RuntimeError(f"added tokens did not get consecutive ids after the {learned} learned ones")
    tokenizer.save(str(out / "tokenizer.json"))
    _write_tokenizer_config(out, ids)
    write_chat_template(out)
    return ids


def _write_tokenizer_config(out: Path, ids: dict[str, int]) -> None:
    specials = dict(GLM_ADDED_TOKENS)
    decoder = {
        str(token_id): {
            "content": text,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": specials[text],
        }
        for text, token_id in ids.items()
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": decoder,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": False,
        "do_lower_case": False,
        "model_max_length": 131072,
        "padding_side": "left",
        "remove_space": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def write_chat_template(out_dir: str | Path) -> Path:
    """Write chat_template.jinja (transformers reads it for both tokenizer and processor)."""
    path = Path(out_dir) / "chat_template.jinja"
    path.write_text(CHAT_TEMPLATE)
    return path


def write_processor_config(
    out_dir: str | Path, min_pixels: int, max_pixels: int, legacy: bool = False, family: str = "Glm46V"
) -> Path:
    """Write the image processor settings in the 5.x (processor_config.json) or 4.x layout."""
    if family not in ("Glm46V", "Glm4v"):
        raise ValueError(f"family must be Glm46V or Glm4v, not {family!r}")
    image_processor = {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": _IMAGE_MEAN,
        "image_std": _IMAGE_STD,
        "merge_size": 2,
        "patch_size": 14,
        "resample": 3,  # bicubic
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": min_pixels, "longest_edge": max_pixels},
        "temporal_patch_size": 2,
    }
    out = Path(out_dir)
    if legacy:
        path = out / "preprocessor_config.json"
        body = {
            **image_processor,
            "image_processor_type": f"{family}ImageProcessor",
            "processor_class": f"{family}Processor",
        }
    else:
        path = out / "processor_config.json"
        body = {
            "image_processor": {**image_processor, "image_processor_type": f"{family}ImageProcessor"},
            "processor_class": f"{family}Processor",
        }
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
