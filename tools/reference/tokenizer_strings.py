"""At least 2,000 tokenizer test strings, hand-picked edge cases plus seeded random families.

Families: English, Chinese, Japanese, code, emoji, whitespace runs, digits, long words,
special tokens and look-alikes, and mixed scripts. Random characters come only from long
established Unicode blocks, so regex engines built on different Unicode versions agree.
"""

from __future__ import annotations

import random
import unicodedata

from glmtok import GLM_ADDED_TOKENS
from text_sources import CHINESE_PHRASES, CODE_LINES, EMOJI, ENGLISH_PASSAGES, ENGLISH_WORDS, JAPANESE_PHRASES

HAND_PICKED = [
    "",
    " ",
    "  ",
    "\n",
    "\n\n",
    "\r\n",
    "\t",
    " \t \n ",
    "a",
    "A",
    "I'M HERE",
    "you'RE, he'S, we'LL, they'D, I'VE, isn'T",
    "'s",
    "'",
    "''",
    "don't stop",
    "rock 'n' roll",
    "1",
    "12",
    "123",
    "1234",
    "1234567890",
    "3.14159",
    "1,000,000",
    "-42",
    "0x1F600",
    "٣٤٥ and ۱۲۳",
    "x² + y³",
    "Ⅻ o'clock",
    "a  b",
    "a   \n\n  b",
    "hello   ",
    "   leading",
    "tab\tseparated\tvalues",
    "no\u00a0break",
    "ideographic\u3000space",
    "zero\u200bwidth",
    "café",
    "cafe\u0301",
    "naïve résumé",
    "Straße",
    "İstanbul",
    "ǅemal",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 300,
    "!!!???...",
    "----====____",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.org",
    "C:\\Users\\glimpse\\file.txt",
    "/usr/local/bin/glimpse --port=8080",
    "<|user|>",
    "<|user|>hi<|assistant|>",
    "[gMASK]<sop><|system|>\nYou are helpful.",
    "<|user|",
    "|user|>",
    "<|User|>",
    "< |user|>",
    "<|user |>",
    "<think>",
    "<think>reasoning</think>answer",
    "<thinking>",
    "</think >",
    "[gMASK",
    "gMASK]",
    "[gmask]",
    "<sop >",
    "<|endoftext|><|endoftext|>",
    "<<|image|>>",
    "<|begin_of_image|><|image|><|image|><|end_of_image|>",
    "/nothink",
    "text /nothink",
    "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>",
    "안녕하세요",
    "สวัสดีครับ",
    "नमस्ते दुनिया",
    "مرحبا بالعالم",
    "שלום עולם",
    "Γειά σου Κόσμε",
    "Привет, мир!",
    "👩‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇺🇸🇬🇧🇨🇳",
    "\u2028line separator",
    "emoji at end 🙂",
]

# Long established blocks only (Latin-1 .. CJK), each as (first, last) code point.
SCRIPT_BLOCKS = [
    (0x0021, 0x007E),
    (0x00A1, 0x00FF),
    (0x0100, 0x017F),
    (0x0391, 0x03C9),
    (0x0410, 0x044F),
    (0x05D0, 0x05EA),
    (0x0621, 0x064A),
    (0x0905, 0x0939),
    (0x0E01, 0x0E30),
    (0x3041, 0x3096),
    (0x30A1, 0x30FA),
    (0x4E00, 0x9FA5),
    (0xAC00, 0xD7A3),
    (0x2200, 0x22FF),
]

WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\t\t", "    "]


def _english(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(ENGLISH_PASSAGES)
    words = [rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(1, 14))]
    if rng.random() < 0.5:
        words[0] = words[0].capitalize()
    if rng.random() < 0.2:
        words = [w.upper() for w in words]
    return " ".join(words) + rng.choice(["", ".", "?", "!", ",", " ", "'s", "'ll"])


def _chinese(rng: random.Random) -> str:
    return "".join(rng.choice(CHINESE_PHRASES) for _ in range(rng.randint(1, 12))) + rng.choice(["", "。", "，", "？"])


def _japanese(rng: random.Random) -> str:
    return "".join(rng.choice(JAPANESE_PHRASES) for _ in range(rng.randint(1, 9))) + rng.choice(["", "。", "、"])


def _code(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(CODE_LINES)
    name = "_".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(1, 3)))
    indent = " " * rng.choice([0, 2, 4, 8]) if rng.random() < 0.8 else "\t"
    op = rng.choice(["=", "+=", "==", "->", "::", "=>", "<=", "!=", "&&", "||", "<<", ">>"])
    return f"{indent}{name} {op} {rng.choice(['self.', 'std::', '&', '*', ''])}{name}({rng.randint(0, 999)});"


def _emoji(rng: random.Random) -> str:
    parts = [rng.choice(EMOJI) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.5:
        parts.insert(rng.randint(0, len(parts)), rng.choice(ENGLISH_WORDS))
    return rng.choice(["", " "]).join(parts)


def _whitespace(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 6)):
        pieces.append(rng.choice(WHITESPACE) * rng.randint(1, 4))
        if rng.random() < 0.7:
            pieces.append(rng.choice(ENGLISH_WORDS + CHINESE_PHRASES))
    return "".join(pieces)


def _digits(rng: random.Random) -> str:
    number = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 24)))
    style = rng.random()
    if style < 0.25:
        return number
    if style < 0.5:
        return f"{number}.{rng.randint(0, 99999)}"
    if style < 0.75:
        return f"{rng.choice(ENGLISH_WORDS)} {number} {rng.choice(ENGLISH_WORDS)}{rng.randint(0, 99)}"
    return ",".join(number[i : i + 3] for i in range(0, len(number), 3))


def _long_word(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(3, 8)))
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(20, 80)))


def _special(rng: random.Random) -> str:
    token = rng.choice(GLM_ADDED_TOKENS)[0]
    mutation = rng.random()
    if mutation < 0.4:
        marker = token
    elif mutation < 0.55:
        marker = token[:-1]
    elif mutation < 0.7:
        marker = token[1:]
    elif mutation < 0.85:
        cut = rng.randint(1, len(token) - 1)
        marker = token[:cut] + " " + token[cut:]
    else:
        marker = token.upper()
    left = _english(rng) if rng.random() < 0.6 else ""
    right = _chinese(rng) if rng.random() < 0.4 else ""
    return f"{left}{marker}{right}"


def _mixed_scripts(rng: random.Random) -> str:
    out = []
    while len(out) < rng.randint(3, 30):
        first, last = rng.choice(SCRIPT_BLOCKS)
        char = chr(rng.randint(first, last))
        if unicodedata.category(char) != "Cn":
            out.append(char)
        if rng.random() < 0.15:
            out.append(" ")
    return "".join(out)


FAMILIES = [
    (_english, 480),
    (_chinese, 260),
    (_japanese, 160),
    (_code, 220),
    (_emoji, 160),
    (_whitespace, 200),
    (_digits, 240),
    (_long_word, 120),
    (_special, 280),
    (_mixed_scripts, 160),
]


def tokenizer_test_strings(seed: int = 2024) -> list[str]:
    """HAND_PICKED followed by each random family in order; duplicates removed, order kept."""
    rng = random.Random(seed)
    strings = list(HAND_PICKED)
    for family, count in FAMILIES:
        strings.extend(family(rng) for _ in range(count))
    return list(dict.fromkeys(strings))
