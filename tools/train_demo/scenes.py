""""Shapes world": seeded scene, question and answer generator for the demo model.

Spec (docs/demo-model.md restates it): canvas W, H uniform in [224, 640]; white or light-gray
background; with probability 0.3 Gaussian pixel noise (sigma 6); 1-4 filled shapes (circle,
square, triangle) in six colours, each (colour, type) pair at most once; box side uniform in
[0.15, 0.30] x min(W, H); boxes inside the canvas and >= 6 px apart. A centre x < W/3 is
"left", > 2W/3 "right", else "center"; scenes with a centre within 0.03 W of a boundary, or
with two centres closer than 0.05 W horizontally (left-to-right order would be ambiguous), are
redrawn.

Shapes are rasterised with numpy (pixel centres tested against the exact shape) rather than
PIL's drawing routines, so a seed gives bit-identical images on every machine.

CLI: python -m tools.train_demo.scenes --seed S --count N --out DIR [--no-noise]
writes DIR/000.png ... and DIR/scenes.jsonl.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 70, 180),
    "orange": (240, 130, 30),
}
TYPES = ("circle", "square", "triangle")
BACKGROUNDS = ((255, 255, 255), (224, 224, 224))

ZH_COLOR = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色"}
ZH_TYPE = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}
ZH_PLACE = {"left": "左边", "center": "中间", "right": "右边"}
EN_PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles"}

QUESTION_TYPES = ("count_shapes", "count_type", "color", "exists", "where", "describe")
LANGS = ("en", "zh")

MIN_SIDE_PX, MAX_SIDE_PX = 224, 640
NOISE_PROBABILITY, NOISE_SIGMA = 0.3, 6.0
MIN_GAP_PX = 6
PLACE_MARGIN = 0.03  # fraction of W a centre must keep from the W/3 and 2W/3 boundaries
ORDER_MARGIN = 0.05  # fraction of W between any two centres, so "left to right" is well defined
PLACEMENT_TRIES = 50


@dataclass(frozen=True)
class Shape:
    color: str
    kind: str
    x0: int
    y0: int
    side: int

    @property
    def center_x(self) -> float:
        return self.x0 + self.side / 2

    def place(self, width: int) -> str:
        if self.center_x < width / 3:
            return "left"
        if self.center_x > 2 * width / 3:
            return "right"
        return "center"


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    background: tuple[int, int, int]
    noisy: bool
    shapes: tuple[Shape, ...]  # sorted left to right


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    type: str
    lang: str


def _boxes_apart(a: Shape, b: Shape) -> bool:
    gap_x = max(a.x0 - (b.x0 + b.side), b.x0 - (a.x0 + a.side))
    gap_y = max(a.y0 - (b.y0 + b.side), b.y0 - (a.y0 + a.side))
    return max(gap_x, gap_y) >= MIN_GAP_PX


def _unambiguous(shapes: list[Shape], width: int) -> bool:
    for shape in shapes:
        for boundary in (width / 3, 2 * width / 3):
            if abs(shape.center_x - boundary) < PLACE_MARGIN * width:
                return False
    xs = sorted(shape.center_x for shape in shapes)
    return all(b - a >= ORDER_MARGIN * width for a, b in zip(xs, xs[1:]))


def _try_place(rng: np.random.Generator, width: int, height: int, pairs: list[tuple[str, str]]) -> list[Shape] | None:
    placed: list[Shape] = []
    for color, kind in pairs:
        side = int(round(rng.uniform(0.15, 0.30) * min(width, height)))
        for _ in range(PLACEMENT_TRIES):
            candidate = Shape(color, kind, int(rng.integers(0, width - side + 1)),
                              int(rng.integers(0, height - side + 1)), side)
            if all(_boxes_apart(candidate, other) for other in placed):
                placed.append(candidate)
                break
        else:
            return None
    return placed


def sample_scene(rng: np.random.Generator, noise_probability: float = NOISE_PROBABILITY) -> Scene:
    width = int(rng.integers(MIN_SIDE_PX, MAX_SIDE_PX + 1))
    height = int(rng.integers(MIN_SIDE_PX, MAX_SIDE_PX + 1))
    background = BACKGROUNDS[int(rng.integers(0, 2))]
    noisy = bool(rng.random() < noise_probability)
    all_pairs = [(color, kind) for color in COLORS for kind in TYPES]
    count = int(rng.integers(1, 5))  # drawn once, so redraws do not favour fewer shapes
    while True:
        pairs = [all_pairs[i] for i in rng.choice(len(all_pairs), size=count, replace=False)]
        shapes = _try_place(rng, width, height, pairs)
        if shapes is not None and _unambiguous(shapes, width):
            shapes.sort(key=lambda s: s.center_x)
            return Scene(width, height, background, noisy, tuple(shapes))


def render(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """H x W x 3 uint8 image; a pixel is inside a shape when its centre is."""
    image = np.empty((scene.height, scene.width, 3), dtype=np.uint8)
    image[:] = scene.background
    for shape in scene.shapes:
        s = shape.side
        ys = np.arange(s, dtype=np.float64)[:, None] + 0.5  # pixel centres relative to the box
        xs = np.arange(s, dtype=np.float64)[None, :] + 0.5
        if shape.kind == "square":
            mask = np.ones((s, s), dtype=bool)
        elif shape.kind == "circle":
            mask = (xs - s / 2) ** 2 + (ys - s / 2) ** 2 <= (s / 2) ** 2
        else:  # triangle: apex at the top centre, base along the bottom edge
            mask = np.abs(xs - s / 2) <= ys / 2
        box = image[shape.y0:shape.y0 + s, shape.x0:shape.x0 + s]
        box[mask] = COLORS[shape.color]
    if scene.noisy:
        noise = rng.normal(0.0, NOISE_SIGMA, size=image.shape)
        image = np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
    return image


def _en_article(color: str) -> str:
    return "an" if color == "orange" else "a"


def _join_en(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _join_zh(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return "、".join(items[:-1]) + "和" + items[-1]


def _count_type_qa(scene: Scene, kind: str, lang: str) -> QA:
    q = f"How many {EN_PLURAL[kind]} are there?" if lang == "en" else f"图中有几个{ZH_TYPE[kind]}？"
    return QA(q, str(sum(s.kind == kind for s in scene.shapes)), "count_type", lang)


def _color_qa(scene: Scene, kind: str, lang: str) -> QA:
    color = next(s.color for s in scene.shapes if s.kind == kind)
    if lang == "en":
        return QA(f"What color is the {kind}?", color, "color", lang)
    return QA(f"{ZH_TYPE[kind]}是什么颜色？", ZH_COLOR[color], "color", lang)


def _exists_qa(scene: Scene, color: str, kind: str, lang: str) -> QA:
    yes = any((s.color, s.kind) == (color, kind) for s in scene.shapes)
    if lang == "en":
        return QA(f"Is there {_en_article(color)} {color} {kind}?", "yes" if yes else "no", "exists", lang)
    return QA(f"图中有{ZH_COLOR[color]}的{ZH_TYPE[kind]}吗？", "有" if yes else "没有", "exists", lang)


def _where_qa(scene: Scene, shape: Shape, lang: str) -> QA:
    place = shape.place(scene.width)
    if lang == "en":
        return QA(f"Where is the {shape.color} {shape.kind}?", place, "where", lang)
    return QA(f"{ZH_COLOR[shape.color]}的{ZH_TYPE[shape.kind]}在哪里？", ZH_PLACE[place], "where", lang)


def _unique_types(scene: Scene) -> list[str]:
    return [k for k in TYPES if sum(s.kind == k for s in scene.shapes) == 1]


def _present_absent(scene: Scene) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    present = {(s.color, s.kind) for s in scene.shapes}
    return sorted(present), sorted({(c, k) for c in COLORS for k in TYPES} - present)


def make_qa(scene: Scene, qtype: str, lang: str, rng: np.random.Generator) -> QA | None:
    """One question of ``qtype`` about ``scene``, or None when the scene cannot pose it."""
    shapes = scene.shapes
    en = lang == "en"
    if qtype == "count_shapes":
        q = "How many shapes are there?" if en else "图中有几个形状？"
        return QA(q, str(len(shapes)), qtype, lang)
    if qtype == "count_type":
        return _count_type_qa(scene, TYPES[int(rng.integers(0, len(TYPES)))], lang)
    if qtype == "color":
        unique = _unique_types(scene)
        if not unique:
            return None
        return _color_qa(scene, unique[int(rng.integers(0, len(unique)))], lang)
    if qtype == "exists":
        present, absent = _present_absent(scene)
        pool = present if rng.random() < 0.5 else absent
        color, kind = pool[int(rng.integers(0, len(pool)))]
        return _exists_qa(scene, color, kind, lang)
    if qtype == "where":
        return _where_qa(scene, shapes[int(rng.integers(0, len(shapes)))], lang)
    if qtype == "describe":
        if en:
            items = [f"{_en_article(s.color)} {s.color} {s.kind}" for s in shapes]
            return QA("Describe the image.", _join_en(items) + ".", qtype, lang)
        items = [f"一个{ZH_COLOR[s.color]}的{ZH_TYPE[s.kind]}" for s in shapes]
        return QA("描述这张图片。", _join_zh(items) + "。", qtype, lang)
    raise ValueError(f"unknown question type {qtype!r}")


def sample_qa(scene: Scene, rng: np.random.Generator) -> QA:
    """A question of a uniformly drawn type and language (types the scene cannot pose are redrawn)."""
    while True:
        qtype = QUESTION_TYPES[int(rng.integers(0, len(QUESTION_TYPES)))]
        lang = LANGS[int(rng.integers(0, len(LANGS)))]
        qa = make_qa(scene, qtype, lang, rng)
        if qa is not None:
            return qa


def example(seed: int, index: int, noise_probability: float = NOISE_PROBABILITY) -> tuple[np.ndarray, QA, Scene]:
    """Scene ``index`` of stream ``seed``: independent of every other index, so workers can split a stream."""
    image, questions, scene = example_with_questions(seed, index, 1, noise_probability)
    return image, questions[0], scene


def example_with_questions(seed: int, index: int, count: int,
                           noise_probability: float = NOISE_PROBABILITY) -> tuple[np.ndarray, list[QA], Scene]:
    """Like example(), with ``count`` questions of distinct types (the first is example()'s)."""
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng, noise_probability)
    image = render(scene, rng)
    questions: list[QA] = []
    while len(questions) < count:
        qa = sample_qa(scene, rng)
        if all(qa.type != other.type for other in questions):
            questions.append(qa)
    return image, questions, scene


def example_with_all_types(seed: int, index: int,
                           noise_probability: float = NOISE_PROBABILITY) -> tuple[np.ndarray, list[QA], Scene]:
    """Scene ``index`` of stream ``seed`` (its own generator, like example()) with one question of
    every type it can pose (five or six; "color" needs a type that occurs exactly once), each in a
    language drawn half and half. The training stream."""
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng, noise_probability)
    image = render(scene, rng)
    questions = []
    for qtype in QUESTION_TYPES:
        qa = make_qa(scene, qtype, LANGS[int(rng.integers(0, len(LANGS)))], rng)
        if qa is not None:
            questions.append(qa)
    return image, questions, scene


def _negatives(present: list[tuple[str, str]], absent: list[tuple[str, str]],
               rng: np.random.Generator) -> list[tuple[str, str]]:
    """One absent (colour, type) per present one, distinct: half the time a near miss that shares
    the present pair's colour or type (the eval's wrong "yes" answers were such pairs), else any."""
    left, picked = list(absent), []
    for color, kind in present:
        near = [pair for pair in left if pair[0] == color or pair[1] == kind]
        pool = near if near and rng.random() < 0.5 else left
        picked.append(pool[int(rng.integers(0, len(pool)))])
        left.remove(picked[-1])
    return picked


def example_with_every_question(seed: int, index: int,
                                noise_probability: float = NOISE_PROBABILITY) -> tuple[np.ndarray, list[QA], Scene]:
    """Scene ``index`` of stream ``seed`` with every question training can afford on a packed
    sequence (the questions after the image cost ~20 tokens each): how many shapes; how many of
    each type; the colour of each type that occurs once; is there a (colour, type) for every shape
    and as many absent pairs (_negatives; yes as often as no, as in the eval stream); where is
    each shape; the description in both languages. Other languages are drawn half and half per
    question."""
    rng = np.random.default_rng([seed, index])
    scene = sample_scene(rng, noise_probability)
    image = render(scene, rng)
    lang = lambda: LANGS[int(rng.integers(0, len(LANGS)))]  # noqa: E731
    questions = [make_qa(scene, "count_shapes", lang(), rng)]
    questions += [_count_type_qa(scene, kind, lang()) for kind in TYPES]
    questions += [_color_qa(scene, kind, lang()) for kind in _unique_types(scene)]
    present, absent = _present_absent(scene)
    questions += [_exists_qa(scene, color, kind, lang()) for color, kind in present + _negatives(present, absent, rng)]
    questions += [_where_qa(scene, shape, lang()) for shape in scene.shapes]
    questions += [make_qa(scene, "describe", language, rng) for language in LANGS]
    return image, questions, scene


def task_corpus(seed: int, count: int) -> list[str]:
    """Questions and answers of ``count`` sampled scenes (the tokenizer's training text)."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        qa = sample_qa(sample_scene(rng), rng)
        texts += [qa.question, qa.answer]
    return texts


def write_scenes(out_dir: Path, seed: int, count: int, noise_probability: float = NOISE_PROBABILITY) -> Path:
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(count - 1)))
    lines = []
    for index in range(count):
        image, qa, _ = example(seed, index, noise_probability)
        name = f"{index:0{digits}d}.png"
        Image.fromarray(image).save(out_dir / name, optimize=True)
        lines.append(json.dumps({"image": name, "question": qa.question, "answer": qa.answer,
                                 "type": qa.type, "lang": qa.lang}, ensure_ascii=False))
    jsonl = out_dir / "scenes.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-noise", action="store_true",
                        help="never add pixel noise (noisy PNGs barely compress; used for the committed test set)")
    args = parser.parse_args()
    jsonl = write_scenes(args.out, args.seed, args.count, 0.0 if args.no_noise else NOISE_PROBABILITY)
    print(f"wrote {args.count} scenes to {jsonl}")


if __name__ == "__main__":
    main()
