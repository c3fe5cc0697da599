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
IMAGE_END_TOKEN = "<|end_of_image|>"  # last token of the prefix that all questions about an image share
IGNORE = -100


def user_turn(question: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]


class SceneEncoder:
    def __init__(self, model_dir: Path):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.image_processor = load_image_processor(model_dir)
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.image_end_id = self.tokenizer.convert_tokens_to_ids(IMAGE_END_TOKEN)
        self.end_token_id = self.tokenizer.convert_tokens_to_ids(ANSWER_END_TOKEN)
        self.pad_token_id = self.tokenizer.pad_token_id
        self._targets: dict[tuple[str, str], list[int]] = {}
        self._prompts: dict[tuple[str, int], list[int]] = {}

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

    def resized_patches(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        """The image processor's resize and patch layout, kept in uint8 with one temporal copy:
        [grid_h * grid_w, 3, 14, 14]. What ``pixels`` returns is this, repeated over the temporal
        axis, rescaled and normalised (``normalize_patches``), i.e. the same numbers at a quarter of
        the bytes and a fifth of the CPU time (checked against the processor by train.py)."""
        from PIL import Image
        from transformers.models.glm4v.image_processing_pil_glm4v import smart_resize

        ip = self.image_processor
        patch, merge, temporal = ip.patch_size, ip.merge_size, ip.temporal_patch_size
        height, width = smart_resize(num_frames=temporal, height=image.shape[0], width=image.shape[1],
                                     temporal_factor=temporal, factor=patch * merge,
                                     min_pixels=ip.size["shortest_edge"], max_pixels=ip.size["longest_edge"])
        resized = np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))
        grid_h, grid_w = height // patch, width // patch
        patches = resized.reshape(grid_h // merge, merge, patch, grid_w // merge, merge, patch, 3)
        patches = patches.transpose(0, 3, 1, 4, 6, 2, 5)  # (gh, gw, mh, mw, C, ph, pw) as patchify
        return np.ascontiguousarray(patches).reshape(grid_h * grid_w, 3, patch, patch), (1, grid_h, grid_w)

    def normalization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature mean and std of a flattened (C, T, ph, pw) patch, for normalize_patches."""
        ip = self.image_processor
        per_channel = ip.temporal_patch_size * ip.patch_size * ip.patch_size
        mean = torch.tensor(ip.image_mean, dtype=torch.float32).repeat_interleave(per_channel)
        std = torch.tensor(ip.image_std, dtype=torch.float32).repeat_interleave(per_channel)
        return mean, std

    def normalize_patches(self, patches: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, ph, pw] -> the processor's float pixel_values [N, 3 * T * ph * pw]."""
        temporal = self.image_processor.temporal_patch_size
        n, c, ph, pw = patches.shape
        x = patches.unsqueeze(2).expand(n, c, temporal, ph, pw).reshape(n, -1).float()
        return (x * self.image_processor.rescale_factor - mean) / std

    def cached_prompt_ids(self, question: str, image_tokens: int) -> list[int]:
        key = (question, image_tokens)
        if key not in self._prompts:
            text = self.prompt(question).replace(IMAGE_TOKEN, IMAGE_TOKEN * image_tokens, 1)
            self._prompts[key] = self.tokenizer(text)["input_ids"]
        return self._prompts[key]

    def training_batch(self, images: list[np.ndarray], qas: list[list[tuple[str, str]]]) -> dict:
        """Right-padded rows, image-major: image i asks qas[i] (question, answer) pairs, one row each.
        Loss only on answer tokens (and the end token). ``patches`` (uint8, see resized_patches) and
        image_grid_thw hold each image once; row_grid_thw repeats an image's grid for each of its
        rows, rows_per_image counts them."""
        merge = self.image_processor.merge_size
        resized = [self.resized_patches(image) for image in images]
        grids = torch.tensor([grid for _, grid in resized], dtype=torch.long)
        rows, labels, row_grids, counts = [], [], [], []
        for pairs, grid in zip(qas, grids):
            tokens = int(grid.prod()) // (merge * merge)
            for question, answer in pairs:
                prompt = self.cached_prompt_ids(question, tokens)
                target = self.target_ids(question, answer)
                rows.append(prompt + target)
                labels.append([IGNORE] * len(prompt) + target)
                row_grids.append(grid)
            counts.append(len(pairs))
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        label_ids = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, labels)):
            input_ids[i, :len(row)] = torch.tensor(row)
            label_ids[i, :len(label)] = torch.tensor(label)
            attention[i, :len(row)] = 1
        patches = torch.from_numpy(np.concatenate([p for p, _ in resized]))
        return self._with_mm(dict(input_ids=input_ids, attention_mask=attention, labels=label_ids,
                                  patches=patches, image_grid_thw=grids, row_grid_thw=torch.stack(row_grids),
                                  rows_per_image=torch.tensor(counts, dtype=torch.long)))

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
