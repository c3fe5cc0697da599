"""One packed sequence per scene: the shared image prefix once, then every question's own tokens.

A training batch has one row per question, and the rows of a scene all begin with the same
prefix ``[gMASK]<sop><|user|>\\n<|begin_of_image|><|image|>...<|end_of_image|>`` (~258 tokens at
448², against ~20 for the question and answer). ``pack_scenes`` lays a scene out as

    prefix | question 1 + answer 1 | question 2 + answer 2 | ...

with the M-RoPE positions each token has in its own row, and ``segment_mask`` lets a token attend
to the prefix and, causally, to its own question only. Every token thus sees exactly the keys it
sees in its row (the prefix is causal on its own, so its keys are the row's), at the same
positions: the decoder computes the same hidden states for the question tokens with ~4x fewer
tokens. The loss is scored where the row layout scores it: ``scored_index`` are the positions whose
next token is an answer token, ``scored_target`` those tokens (the row layout's shifted labels).
"""

from __future__ import annotations

import torch

from tools.train_demo.encode import IGNORE

PREFIX, PADDING = 0, -1  # segment ids; question k of a scene (k = 1, 2, ...) is segment k

# What a row batch holds per question row; the packed batch replaces these.
ROW_FIELDS = ("input_ids", "attention_mask", "labels", "mm_token_type_ids", "position_ids", "row_feature_index")


def pack_scenes(batch: dict, rows_per_image: torch.Tensor, prefix_end_id: int, pad_id: int, pad_to: int = 16) -> dict:
    """The packed layout of a row batch (``SceneEncoder.training_batch`` with ``position_ids``):
    ``packed_ids`` [scenes, L], ``packed_positions`` [3, scenes, L], ``segments`` [scenes, L],
    ``scored_index`` (flat into scenes x L), ``scored_target`` and ``scored_row`` (the row it
    came from), ``rows``. L is padded with ``pad_id`` to a multiple of ``pad_to``. The prefix of a scene ends at its
    ``prefix_end_id`` token (<|end_of_image|>); every row of the scene must share it, unscored."""
    ids, labels, positions = batch["input_ids"], batch["labels"], batch["position_ids"]
    lengths = batch["attention_mask"].sum(1).tolist()
    scenes_ids, scenes_positions, scenes_segments, scored_index, scored_target, scored_row = [], [], [], [], [], []
    row = 0
    for count in rows_per_image.tolist():
        first = ids[row]
        prefix = int((first == prefix_end_id).nonzero()[0, 0]) + 1
        parts_ids, parts_positions = [first[:prefix]], [positions[:, row, :prefix]]
        parts_segments = [torch.full((prefix,), PREFIX, dtype=torch.int32)]
        offset = prefix
        for question in range(count):
            r, n = row + question, lengths[row + question]
            if not torch.equal(ids[r, :prefix], first[:prefix]) or not torch.equal(
                    positions[:, r, :prefix], positions[:, row, :prefix]):
                raise ValueError(f"row {r} does not share its scene's prefix")
            if (labels[r, :prefix + 1] != IGNORE).any():
                raise ValueError(f"row {r} scores a token that the shared prefix would predict")
            parts_ids.append(ids[r, prefix:n])
            parts_positions.append(positions[:, r, prefix:n])
            parts_segments.append(torch.full((n - prefix,), question + 1, dtype=torch.int32))
            # Row position j predicts labels[r, j + 1] (the causal-LM shift); j = prefix + i sits at offset + i.
            targets = labels[r, prefix + 1:n]
            scored = (targets != IGNORE).nonzero()[:, 0]
            scored_index.append((len(scenes_ids), offset + scored))
            scored_target.append(targets[scored])
            scored_row.append(torch.full((len(scored),), r, dtype=torch.long))
            offset += n - prefix
        scenes_ids.append(torch.cat(parts_ids))
        scenes_positions.append(torch.cat(parts_positions, dim=1))
        scenes_segments.append(torch.cat(parts_segments))
        row += count
    if row != len(ids):
        raise ValueError(f"rows_per_image counts {row} rows, the batch has {len(ids)}")

    length = (max(map(len, scenes_ids)) + pad_to - 1) // pad_to * pad_to
    scenes = len(scenes_ids)
    packed_ids = torch.full((scenes, length), pad_id, dtype=torch.long)
    packed_positions = torch.zeros((3, scenes, length), dtype=torch.long)
    segments = torch.full((scenes, length), PADDING, dtype=torch.int32)
    for s, (tokens, position, segment) in enumerate(zip(scenes_ids, scenes_positions, scenes_segments)):
        packed_ids[s, :len(tokens)] = tokens
        packed_positions[:, s, :len(tokens)] = position
        segments[s, :len(tokens)] = segment
    flat_index = torch.cat([s * length + positions for s, positions in scored_index])
    target = torch.cat(scored_target)
    if len(target) != int((labels != IGNORE).sum()):
        raise ValueError("packing lost scored tokens")
    return dict(packed_ids=packed_ids, packed_positions=packed_positions, segments=segments,
                scored_index=flat_index, scored_target=target, scored_row=torch.cat(scored_row), rows=len(ids))


def segment_mask(segments: torch.Tensor) -> torch.Tensor:
    """[scenes, 1, L, L] boolean attention mask (True = attend) of packed scenes: causal, and a
    token of question k sees the prefix and question k. Padding sees the prefix and earlier
    padding, so no query row is empty (an empty row would make NaN that the backward spreads);
    no real token sees padding."""
    length = segments.shape[1]
    steps = torch.arange(length, device=segments.device)
    causal = steps[:, None] >= steps[None, :]
    query, key = segments[:, :, None], segments[:, None, :]
    return (causal & ((key == PREFIX) | (key == query))).unsqueeze(1)


def rows_exact(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Fraction of question rows whose every scored token is the argmax (teacher forced), from the
    logits at ``scored_index``."""
    wrong = (logits.argmax(-1) != batch["scored_target"]).float()
    per_row = torch.zeros(batch["rows"], device=logits.device).index_add_(0, batch["scored_row"], wrong)
    return (per_row == 0).float().mean()
