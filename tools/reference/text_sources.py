"""Deterministic text for the reference fixtures: tokenizer training data, benchmark prose.

Everything is built from the word lists below with a seeded ``random.Random``, so the device
and a developer machine produce identical strings (no system files, no downloads).
"""

from __future__ import annotations

import random

ENGLISH_PASSAGES = [
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a lamp and a thermos of tea.",
    "Rain had fallen for three days, and the river was brown and fast under the old stone bridge.",
    "She opened the notebook, found the page with the map, and traced the route with her finger.",
    "It's not that we can't finish the report; we'd rather check the numbers twice before Friday.",
    "A good engine reads its weights once, keeps them on the device, and never copies more than it must.",
    "The committee met on Tuesday, argued about the budget for two hours, and agreed to meet again.",
    "He'll bring the bread, they'll bring the cheese, and I'm bringing the strawberries from the market.",
    "In 1969, 600 million people watched the landing; in 2024 the footage was restored frame by frame.",
    "Photographs of the harbor show fishing boats, gulls, nets drying in the sun, and a red crane.",
    "Please describe the image: what objects do you see, what colors dominate, and where is the light coming from?",
    "The quick brown fox jumps over the lazy dog while the cat watches from the windowsill.",
    "Vision-language models turn pictures into sequences of tokens that a text decoder can attend to.",
]

ENGLISH_WORDS = (
    "the a an of to and in on at for with from by about over under between through after before "
    "cat dog bird house garden river bridge city street window door table chair book letter map "
    "engine model token image picture color light shadow morning evening night winter summer "
    "red green blue yellow white black small large quiet bright old new strange simple careful "
    "walks runs reads writes builds opens closes carries finds sees hears watches describes measures "
    "slowly quickly carefully quietly suddenly together again always never often "
    "teacher student engineer doctor farmer painter child mother father friend neighbor stranger "
    "question answer reason problem solution number system process memory network signal pattern "
    "mountain valley forest ocean island desert field road train station airport market kitchen "
    "understanding international responsibility representation transformation configuration "
    "approximately independently unfortunately communication implementation"
).split()

CHINESE_PHRASES = (
    "你好 世界 今天 天气 很好 我们 一起 去 公园 散步 这个 图片 里面 有 一只 猫 和 一条 狗 "
    "请 描述 这张 图片 的 内容 颜色 形状 位置 模型 推理 速度 非常 快 中文 分词 测试 "
    "北京 上海 广州 深圳 城市 河流 山脉 天空 云 太阳 月亮 星星 学生 老师 学校 图书馆 "
    "人工智能 机器学习 深度学习 语言模型 视觉 编码器 解码器 注意力 机制 数据 训练 评估"
).split()

JAPANESE_PHRASES = (
    "こんにちは 世界 今日は いい 天気 です ね 私は 学生 です この 画像 には 猫 が います "
    "東京 大阪 京都 富士山 桜 ラーメン コンピューター プログラム テスト カタカナ ひらがな 漢字 "
    "説明 して ください 写真 色 形 場所 ありがとう ございます"
).split()

CODE_LINES = [
    "def forward(self, hidden_states, position_ids=None):",
    "    return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "std::vector<float> logits(vocab_size, 0.0f);",
    'if __name__ == "__main__":\n    main()',
    "const auto [tokens, ids] = tokenizer.encode(text);",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "x = torch.zeros((3, 224, 224), dtype=torch.float32)",
    "#include <cstdint>\n#include <string_view>",
    "fn main() { println!(\"{}\", 42); }",
    "  \t// TODO: handle the empty case\n",
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]}",
]

EMOJI = ["🙂", "😀", "🚀", "🌍", "🐱", "🐶", "🎉", "👍", "👍🏽", "❤️", "🇯🇵", "🇫🇷", "👩‍💻", "👨‍👩‍👧", "✨", "🔥", "🍣", "☕"]


def _english_sentence(rng: random.Random) -> str:
    words = [rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(5, 16))]
    words[0] = words[0].capitalize()
    sentence = " ".join(words)
    if rng.random() < 0.3:
        sentence += f" {rng.randint(0, 99999)}"
    return sentence + rng.choice([".", ".", ".", "?", "!", ";", ","])


def _joined(rng: random.Random, phrases: list[str], lo: int, hi: int, sep: str = "") -> str:
    return sep.join(rng.choice(phrases) for _ in range(rng.randint(lo, hi)))


def training_corpus(seed: int = 1234, sentences: int = 6000) -> list[str]:
    """Mixed EN/ZH/JA/code/emoji lines used to train the tiny tokenizer's merges."""
    rng = random.Random(seed)
    lines = list(ENGLISH_PASSAGES) * 20 + list(CODE_LINES) * 30
    for _ in range(sentences):
        kind = rng.random()
        if kind < 0.6:
            lines.append(_english_sentence(rng))
        elif kind < 0.8:
            lines.append(_joined(rng, CHINESE_PHRASES, 4, 14) + rng.choice(["。", "！", "？", "，"]))
        elif kind < 0.9:
            lines.append(_joined(rng, JAPANESE_PHRASES, 3, 10) + "。")
        else:
            lines.append(rng.choice(CODE_LINES) + " " + _joined(rng, EMOJI, 1, 3))
    return lines


def english_prose(n_bytes: int, seed: int = 99) -> str:
    """Synthetic English paragraphs of about ``n_bytes`` UTF-8 bytes (tokenizer throughput)."""
    rng = random.Random(seed)
    paragraphs = []
    size = 0
    while size < n_bytes:
        paragraph = " ".join(
            rng.choice(ENGLISH_PASSAGES) if rng.random() < 0.2 else _english_sentence(rng)
            for _ in range(rng.randint(3, 9))
        )
        paragraphs.append(paragraph)
        size += len(paragraph.encode()) + 2
    return "\n\n".join(paragraphs)
