"""The prompts recorded as golden cases (OpenAI-style messages; images by path under tests/golden/)."""

from __future__ import annotations

from dataclasses import dataclass


def _image(name: str) -> dict:
    return {"type": "image_url", "image_url": {"url": f"images/{name}"}}


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


@dataclass(frozen=True)
class Case:
    id: str
    model: str
    messages: list
    enable_thinking: bool | None = None  # None: the template variable is left undefined


CASES = [
    Case("text_en", "tiny-a", [{"role": "user", "content": "Describe a quiet morning in the harbor, in two sentences."}]),
    Case("text_zh", "tiny-b", [{"role": "user", "content": "请用一句话描述北京的秋天。"}], enable_thinking=False),
    Case(
        "text_emoji",
        "tiny-a",
        [{"role": "user", "content": "What does 🚀 + 🌍 = 👩‍💻🎉 mean? Answer with emoji 👍🏽 only."}],
        enable_thinking=True,
    ),
    Case("image_odd_a", "tiny-a", [{"role": "user", "content": [_image("odd_333x517.png"), _text("What is in this picture?")]}]),
    Case("image_odd_b", "tiny-b", [{"role": "user", "content": [_image("odd_333x517.png"), _text("What is in this picture?")]}]),
    Case("image_tiny", "tiny-b", [{"role": "user", "content": [_text("A very small image:"), _image("tiny_20x24.png")]}]),
    Case("image_wide", "tiny-a", [{"role": "user", "content": [_image("wide_1500x40.png"), _text("Read the banner.")]}]),
    Case(
        "image_rgba",
        "tiny-b",
        [{"role": "user", "content": [_image("rgba_200x150.png"), _text("Is part of this image transparent?")]}],
        enable_thinking=False,
    ),
    Case("image_gray", "tiny-a", [{"role": "user", "content": [_image("gray_121x97.png"), _text("Describe the shapes.")]}]),
    Case("image_palette", "tiny-b", [{"role": "user", "content": [_image("palette_90x64.png"), _text("How many colours?")]}]),
    Case(
        "image_jpeg",
        "tiny-a",
        [{"role": "user", "content": [_image("photo_256x171.jpg"), _text("这张照片里有什么？")]}],
        enable_thinking=True,
    ),
    Case(
        "two_images",
        "tiny-b",
        [
            {
                "role": "user",
                "content": [
                    _text("Compare the first image"),
                    _image("photo_256x171.jpg"),
                    _text("with the second"),
                    _image("gray_121x97.png"),
                    _text("in one line."),
                ],
            }
        ],
    ),
    Case(
        "system_multiturn",
        "tiny-a",
        [
            {"role": "system", "content": "You are a careful assistant. Keep answers short."},
            {"role": "user", "content": [_image("rgba_200x150.png"), _text("What colours do you see?")]},
            {"role": "assistant", "content": "<think>The image has a gradient.</think>\nRed, green and blue gradients."},
            {"role": "user", "content": "And in the top quarter?"},
            {"role": "assistant", "content": "It is transparent."},
            {"role": "user", "content": "Thanks! Summarise our chat in five words."},
        ],
        enable_thinking=False,
    ),
    Case(
        "text_multiturn_b",
        "tiny-b",
        [
            {"role": "system", "content": "Answer in Japanese."},
            {"role": "user", "content": "What is the capital of Japan?"},
            {"role": "assistant", "content": "東京です。"},
            {"role": "user", "content": "And its population, roughly?\n\n  (digits: 14,000,000)"},
        ],
        enable_thinking=True,
    ),
]
