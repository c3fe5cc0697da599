"""Writes the tokenizer parity fixtures of tests/io/tokenizer_fixture_test.cc (and the fuzz seeds).

    /opt/glimpse-venv/bin/python tests/io/tokenizer_fixtures/make_fixtures.py

Each fixture is a small byte-level BPE tokenizer.json trained here with the `tokenizers` library,
plus the library's ids for a few hundred strings, so the C++ tokenizer is checked on the
tokenizer.json features the GLM golden tokenizer does not use:

  qwen2/    NFC normalizer, Qwen2's Split regex, added tokens with lstrip/rstrip/single_word and
            normalized=true (matched after NFC).
  gpt2/     no normalizer, ByteLevel(add_prefix_space=true, use_regex=true) alone, merges written
            in the legacy "left right" string spelling.
  variants.json  one base tokenizer (GLM regex) re-run with other pre-tokenizers/normalizers:
            every Split behavior with and without invert, literal patterns, empty-matching and
            anchored regexes, \\w/\\s classes, per-piece prefix spaces, NFD/NFKC/NFKD.

It also writes the seed corpus of fuzz/tokenizer_fuzz.cc (fuzz/corpus/tokenizer_fuzz/): texts,
id lists and small tokenizer.json files, each behind the mode byte the fuzz target expects.

Deterministic: training data and strings come from seeded generators in tools/reference/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools" / "reference"))
sys.path.insert(0, str(ROOT / "tools"))

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402

from text_sources import training_corpus  # noqa: E402
from tokenizer_strings import tokenizer_test_strings  # noqa: E402

GLM_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)
VOCAB = 700

# Strings aimed at the added-token options and normalization, on top of the shared test strings.
OPTION_STRINGS = [
    "a [MASK] b",
    "a[MASK]b",
    "  [MASK]  ",
    "\t[MASK]\n[MASK]\u2000x",
    "<mask>",
    "<mask> word",
    "word<mask>",
    "x <mask>y",
    "é <mask>, <mask>- \u25cc\u0330<mask>",
    "_<mask>_",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|><|im_start|>",
    "cafe\u0301 and café",
    "e\u0301",
    "\u212b \u00c5 A\u030a",
    "\ufb01 ligature \u2460 \uff21",
    "<tool_call>{}</tool_call>",
    "Ω\u2126",
    "\u180e\u0085\u200b\ufeff",
    "line one\nline two\r\n\r\nend",
    "   ",
    "x",
]


def _strings(count: int) -> list[str]:
    every = tokenizer_test_strings()
    step = max(1, len(every) // count)
    return list(dict.fromkeys(every[::step][:count] + OPTION_STRINGS))


def _train(normalizer, pre_tokenizer, vocab_size: int = VOCAB) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(training_corpus(seed=7, sentences=1500), trainer=trainer)
    return tokenizer


def _entries(tokenizer: Tokenizer, strings: list[str]) -> list[dict]:
    out = []
    for text in strings:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        out.append(
            {
                "text": text,
                "ids": ids,
                "decoded": tokenizer.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
            }
        )
    return out


def _write(path: Path, body) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")


def _save(tokenizer: Tokenizer, path: Path, legacy_merges: bool = False) -> None:
    body = json.loads(tokenizer.to_str())
    if legacy_merges:
        body["model"]["merges"] = [f"{a} {b}" for a, b in body["model"]["merges"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n")
    # The saved file, not the in-memory object, is what the C++ side reads: expect its behaviour.
    return Tokenizer.from_file(str(path))


def make_qwen2(strings: list[str]) -> None:
    tokenizer = _train(
        normalizers.NFC(),
        pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        ),
    )
    tokenizer.add_special_tokens(
        [
            AddedToken("<|endoftext|>", special=True, normalized=False),
            AddedToken("<|im_start|>", special=True, normalized=False),
            AddedToken("<|im_end|>", special=True, normalized=False),
            AddedToken("[MASK]", special=True, lstrip=True, rstrip=True, normalized=False),
        ]
    )
    tokenizer.add_tokens(
        [
            AddedToken("<tool_call>", special=False, normalized=False),
            AddedToken("</tool_call>", special=False, normalized=False),
            AddedToken("<mask>", special=False, single_word=True, normalized=True),
            AddedToken("e\u0301", special=False, normalized=True),  # matched as é after NFC
            AddedToken("\u2126", special=False, normalized=False),  # OHM SIGN, NFC turns it into Ω
        ]
    )
    loaded = _save(tokenizer, HERE / "qwen2" / "tokenizer.json")
    _write(HERE / "qwen2" / "expected.json", {"entries": _entries(loaded, strings)})


def make_gpt2(strings: list[str]) -> None:
    tokenizer = _train(None, pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True))
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    loaded = _save(tokenizer, HERE / "gpt2" / "tokenizer.json", legacy_merges=True)
    _write(HERE / "gpt2" / "expected.json", {"entries": _entries(loaded, strings)})


def _split(pattern: str, behavior: str, invert: bool = False, literal: bool = False):
    return pre_tokenizers.Split(pattern if literal else Regex(pattern), behavior=behavior, invert=invert)


def _byte_level(add_prefix_space: bool = False, use_regex: bool = False):
    return pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=use_regex)


def make_variants(strings: list[str]) -> None:
    base = _train(None, pre_tokenizers.Sequence([_split(GLM_REGEX, "isolated"), _byte_level()]))
    base.add_special_tokens([AddedToken("<|user|>", special=True, normalized=False)])
    base_path = HERE / "variants" / "tokenizer.json"
    _save(base, base_path)
    variants = []
    for behavior in ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]:
        for invert in [False, True]:
            variants.append((f"split_{behavior}_invert_{invert}", None, [_split(r"\s+|\p{P}", behavior, invert)]))
    variants += [
        ("literal_space_merged_with_next", None, [_split(" ", "merged_with_next", literal=True)]),
        ("literal_regex_chars", None, [_split("a.", "isolated", literal=True)]),
        ("empty_matches", None, [_split(r"\s*", "isolated")]),
        ("empty_matches_removed", None, [_split(r"x*", "removed")]),
        ("anchors_multiline", None, [_split(r"^\p{L}+|\p{L}+$", "isolated")]),
        ("word_and_space_classes", None, [_split(r"\w+|\s+|[^\w\s]+", "isolated")]),
        ("not_space_class", None, [_split(r"\S+", "merged_with_previous")]),
        ("two_splits_then_prefix_space", None,
         [_split(r"\n", "removed"), _split(GLM_REGEX, "isolated"), _byte_level(add_prefix_space=True)]),
        ("byte_level_regex_prefix_space", None, [_byte_level(add_prefix_space=True, use_regex=True)]),
        ("byte_level_regex_no_prefix", None, [_byte_level(add_prefix_space=False, use_regex=True)]),
        ("nfd", normalizers.NFD(), [_split(GLM_REGEX, "isolated")]),
        ("nfkc", normalizers.NFKC(), [_split(GLM_REGEX, "isolated")]),
        ("nfkd_sequence", normalizers.Sequence([normalizers.NFKD(), normalizers.NFC()]), [_split(GLM_REGEX, "isolated")]),
    ]
    out = []
    for name, normalizer, steps in variants:
        if steps[-1].__class__.__name__ != "ByteLevel":
            steps = steps + [_byte_level()]
        tokenizer = Tokenizer.from_file(str(base_path))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(steps)
        config = json.loads(tokenizer.to_str())
        out.append(
            {
                "name": name,
                "normalizer": config["normalizer"],
                "pre_tokenizer": config["pre_tokenizer"],
                "entries": [{"text": e["text"], "ids": e["ids"]} for e in _entries(tokenizer, strings)],
            }
        )
    _write(HERE / "variants" / "expected.json", {"variants": out})


def make_fuzz_seeds() -> None:
    seeds = ROOT / "fuzz" / "corpus" / "tokenizer_fuzz"
    seeds.mkdir(parents=True, exist_ok=True)
    texts = tokenizer_test_strings()[::150] + OPTION_STRINGS[:6]
    for i, text in enumerate(texts):
        (seeds / f"encode_{i:02d}").write_bytes(b"\x00" + text.encode())
    # Invalid UTF-8: a lone continuation byte, a truncated 3-byte sequence, a surrogate, overlong.
    for i, raw in enumerate([b"ab\x80cd", b"x\xe4\xbd", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]):
        (seeds / f"encode_invalid_{i}").write_bytes(b"\x00" + raw)
    small = _train(
        normalizers.NFC(),
        pre_tokenizers.Sequence([_split(GLM_REGEX, "isolated"), _byte_level()]),
        vocab_size=300,
    )
    small.add_special_tokens([AddedToken("<|user|>", special=True, normalized=False)])
    small.add_tokens([AddedToken("<mask>", single_word=True, lstrip=True, rstrip=True, normalized=True)])
    body = json.loads(small.to_str())
    (seeds / "json_small").write_bytes(b"\x02" + json.dumps(body, ensure_ascii=False).encode())
    body["model"]["merges"] = [f"{a} {b}" for a, b in body["model"]["merges"]]
    body["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    body["normalizer"] = None
    (seeds / "json_small_gpt2").write_bytes(b"\x02" + json.dumps(body, ensure_ascii=False).encode())
    # tiny-a ids (what the fuzz target decodes with) that cut characters: byte tokens of UTF-8
    # lead and continuation bytes, and a special token.
    golden = Tokenizer.from_file(str(ROOT / "tests" / "golden" / "models" / "tiny-a" / "tokenizer.json"))
    ids = [golden.token_to_id(c) for c in ["Ã", "©", "ä", "½", "ł", "<|user|>", "Ġ"]]
    (seeds / "decode_split_chars").write_bytes(b"\x01" + b"".join(i.to_bytes(2, "little") for i in ids if i is not None))
    (seeds / "decode_range").write_bytes(b"\x01" + b"".join(i.to_bytes(2, "little") for i in range(0, 3100, 37)))


def main() -> None:
    make_qwen2(_strings(400))
    make_gpt2(_strings(250))
    make_variants(_strings(120))
    make_fuzz_seeds()


if __name__ == "__main__":
    main()
