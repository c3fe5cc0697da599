"""Model inputs for scene questions, built the way transformers' GLM-4V processor builds them.

Glm4vProcessor itself cannot be constructed without torchvision (its video processor needs it),
so this does its three steps for a single still image: render the chat template, expand the one
<|image|> placeholder to grid_t*grid_h*grid_w/merge^2 copies, tokenize, and mark image tokens in
mm_token_type_ids. Training targets are the assistant turn the same template renders after that
prompt, followed by the end-of-turn token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tools.train_demo.recipe import ANSWER_END_TOKEN, load_image_processor

IMAGE_TOKEN = "<|image|>"
IGNORE = -100


def user_turn(question: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


class SceneEncoder:
    def __init__(self, model_dir: Path):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.image_processor = load_image_processor(model_dir)
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.end_token_id = self.tokenizer.convert_tokens_to_ids(ANSWER_END_TOKEN)
        self.pad_token_id = self.tokenizer.pad_token_id
        self._targets: dict[tuple[str, str], list[int]] = {}

    def prompt(self, question: str) -> str:
        """What the engine renders too: generation prompt with thinking disabled."""
        return self.tokenizer.apply_chat_template(
            user_turn(question), tokenize=False, add_generation_prompt=True, enable_thinking=False)

    def prompt_ids(self, question: str, grid_thw: np.ndarray) -> list[int]:
        merge = self.image_processor.merge_size
        count = int(np.prod(grid_thw)) // (merge * merge)
        text = self.prompt(question).replace(IMAGE_TOKEN, IMAGE_TOKEN * count, 1)
        return self.tokenizer(text)["input_ids"]

    def target_ids(self, question: str, answer: str) -> list[int]:
        """Tokens after the prompt: the rest of the rendered assistant turn, then the end token."""
        key = (question, answer)
        if key not in self._targets:
            prompt = self.prompt(question)
            conversation = user_turn(question) + [{"role": "assistant", "content": answer}]
            full = self.tokenizer.apply_chat_template(conversation, tokenize=False)
            if not full.startswith(prompt):
                raise RuntimeError(f"chat template: assistant turn does not extend the prompt: {full!r}")
            suffix = full[len(prompt):]
            whole = self.tokenizer(prompt + suffix)["input_ids"]
            head = self.tokenizer(prompt)["input_ids"]
            if whole[:len(head)] != head:
                raise RuntimeError(f"tokenization of the answer changes the prompt tokens: {full!r}")
            self._targets[key] = whole[len(head):] + [self.end_token_id]
        return self._targets[key]

    def pixels(self, images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.image_processor(images=images, return_tensors="pt")
        return out["pixel_values"], out["image_grid_thw"]

    def training_batch(self, images: list[np.ndarray], qas: list[list[tuple[str, str]]]) -> dict:
        """Right-padded rows, image-major: image i asks qas[i] (question, answer) pairs, one row each.
        Loss only on answer tokens (and the end token). pixel_values/image_grid_thw hold each image
        once; row_grid_thw repeats an image's grid for each of its rows."""
        pixel_values, grids = self.pixels(images)
        rows, labels, row_grids = [], [], []
        for pairs, grid in zip(qas, grids):
            for question, answer in pairs:
                prompt = self.prompt_ids(question, grid.numpy())
                target = self.target_ids(question, answer)
                rows.append(prompt + target)
                labels.append([IGNORE] * len(prompt) + target)
                row_grids.append(grid)
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        label_ids = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, labels)):
            input_ids[i, :len(row)] = torch.tensor(row)
            label_ids[i, :len(label)] = torch.tensor(label)
            attention[i, :len(row)] = 1
        return self._with_mm(dict(input_ids=input_ids, attention_mask=attention, labels=label_ids,
                                  pixel_values=pixel_values, image_grid_thw=grids,
                                  row_grid_thw=torch.stack(row_grids)))

    def generation_batch(self, images: list[np.ndarray], questions: list[str]) -> dict:
        """Left-padded prompts, as batched generation needs."""
        pixel_values, grids = self.pixels(images)
        rows = [self.prompt_ids(q, g) for q, g in zip(questions, grids.numpy())]
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row):] = torch.tensor(row)
            attention[i, width - len(row):] = 1
        return self._with_mm(dict(input_ids=input_ids, attention_mask=attention,
                                  pixel_values=pixel_values, image_grid_thw=grids))

    def _with_mm(self, batch: dict) -> dict:
        batch["mm_token_type_ids"] = (batch["input_ids"] == self.image_token_id).to(torch.int32)
        return batch
