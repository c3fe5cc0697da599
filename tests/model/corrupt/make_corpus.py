#!/usr/bin/env python3
"""Writes the corrupted-file corpus of the model loader (standard library only).

Each file is named for its defect; expected_messages.tsv gives the error kind and the exact
message glimpse must produce for it (a trailing '*' means "starts with"). *.safetensors files are
opened directly; config_*.json files are loaded as a model directory's config.json.

Run from anywhere: python3 tests/model/corrupt/make_corpus.py
"""
import copy
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def safetensors(header_text: bytes, data: bytes = b"", length=None) -> bytes:
    """A file with the given raw header; `length` overrides the 8-byte header length."""
    n = len(header_text) if length is None else length
    return struct.pack("<Q", n) + header_text + data


def header(entries: dict) -> bytes:
    return json.dumps(entries).encode()


F32_4 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}

SAFETENSORS_CASES = [
    ("empty.safetensors", b"", "corrupt input",
     "empty.safetensors: truncated: 0 bytes, too short for the 8-byte header length"),
    ("truncated_length_field.safetensors", b"\x10\x00\x00\x00\x00", "corrupt input",
     "truncated_length_field.safetensors: truncated: 5 bytes, too short for the 8-byte header length"),
    ("header_length_past_end.safetensors", safetensors(b'{"a":1}', length=1000), "corrupt input",
     "header_length_past_end.safetensors: header length 1000 exceeds the 7 bytes that follow it (truncated?)"),
    ("header_over_100mb.safetensors", safetensors(b"{}", length=200_000_000), "limit exceeded",
     "header_over_100mb.safetensors: header of 200000000 bytes exceeds the 100000000-byte limit"),
    ("header_length_max_u64.safetensors", safetensors(b"{}", length=2**64 - 1), "limit exceeded",
     "header_length_max_u64.safetensors: header of 18446744073709551615 bytes exceeds the 100000000-byte limit"),
    ("invalid_json.safetensors", safetensors(b'{"w": {"dtype": '), "corrupt input",
     "invalid_json.safetensors: header is not valid JSON: parse error*"),
    ("invalid_utf8.safetensors", safetensors(b'{"w\xff": 1}'), "corrupt input",
     "invalid_utf8.safetensors: header is not valid JSON: parse error*"),
    ("header_not_object.safetensors", safetensors(b"[1, 2]"), "corrupt input",
     "header_not_object.safetensors: header is not a JSON object"),
    ("duplicate_name.safetensors",
     safetensors(b'{"w": ' + header(F32_4) + b', "w": ' + header(F32_4) + b"}", b"\0" * 4),
     "corrupt input", "duplicate_name.safetensors: tensor 'w' appears twice in the header"),
    ("metadata_not_strings.safetensors",
     safetensors(header({"__metadata__": {"format": 1}, "w": F32_4}), b"\0" * 4), "corrupt input",
     "metadata_not_strings.safetensors: __metadata__.format: expected a string, got number"),
    ("entry_not_object.safetensors", safetensors(header({"w": 5})), "corrupt input",
     "entry_not_object.safetensors: tensor 'w': expected an object with dtype, shape and data_offsets"),
    ("unknown_dtype.safetensors",
     safetensors(header({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}}), b"\0" * 4),
     "corrupt input", "unknown_dtype.safetensors: tensor 'w': unknown dtype 'Q4'"),
    ("missing_dtype.safetensors",
     safetensors(header({"w": {"shape": [1], "data_offsets": [0, 4]}}), b"\0" * 4), "corrupt input",
     "missing_dtype.safetensors: tensor 'w': missing or non-string 'dtype'"),
    ("negative_dimension.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}}), b"\0" * 8),
     "corrupt input",
     "negative_dimension.safetensors: tensor 'w': shape [-1,2] has a dimension that is not a non-negative integer"),
    ("shape_overflow.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 0]}})),
     "corrupt input",
     "shape_overflow.safetensors: tensor 'w': shape [4611686018427387904, 4611686018427387904] is too large"),
    ("shape_bytes_mismatch.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}), b"\0" * 20),
     "corrupt input",
     "shape_bytes_mismatch.safetensors: tensor 'w': shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 20) hold 20"),
    ("offsets_wrong_arity.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}), b"\0" * 4),
     "corrupt input",
     "offsets_wrong_arity.safetensors: tensor 'w': 'data_offsets' must be two non-negative integers [begin, end]"),
    ("offsets_reversed.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}), b"\0" * 8),
     "corrupt input", "offsets_reversed.safetensors: tensor 'w': data_offsets [8, 4) end before they begin"),
    ("offsets_out_of_bounds.safetensors",
     safetensors(header({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}), b"\0" * 8),
     "corrupt input",
     "offsets_out_of_bounds.safetensors: tensor 'w': data_offsets [0, 16) run past the 8-byte data buffer"),
    ("truncated_data.safetensors",
     safetensors(header({"a": {"dtype": "BF16", "shape": [8], "data_offsets": [0, 16]},
                         "b": {"dtype": "BF16", "shape": [8], "data_offsets": [16, 32]}}), b"\0" * 20),
     "corrupt input",
     "truncated_data.safetensors: tensor 'b': data_offsets [16, 32) run past the 20-byte data buffer"),
    ("offsets_overlap.safetensors",
     safetensors(header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), b"\0" * 12),
     "corrupt input", "offsets_overlap.safetensors: tensor 'b': data_offsets [4, 12) overlap tensor 'a' [0, 8)"),
    ("offsets_gap.safetensors",
     safetensors(header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}), b"\0" * 12),
     "corrupt input", "offsets_gap.safetensors: bytes [4, 8) of the data buffer belong to no tensor"),
    ("trailing_bytes.safetensors", safetensors(header({"w": F32_4}), b"\0" * 8), "corrupt input",
     "trailing_bytes.safetensors: bytes [4, 8) of the data buffer belong to no tensor"),
]

# A valid GLM-4.6V-shaped config in the transformers 5.x spelling; each case breaks one thing.
BASE_CONFIG = {
    "architectures": ["Glm4vForConditionalGeneration"],
    "model_type": "glm4v",
    "text_config": {
        "vocab_size": 64, "hidden_size": 64, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                            "partial_rotary_factor": 0.5, "mrope_section": [1, 1, 2]},
    },
    "vision_config": {
        "depth": 2, "hidden_size": 24, "num_heads": 2, "intermediate_size": 40,
        "out_hidden_size": 64, "image_size": 28, "patch_size": 14,
    },
}


def config_case(edit):
    config = copy.deepcopy(BASE_CONFIG)
    edit(config)
    return json.dumps(config, indent=1).encode()


def set_path(path, value):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return edit


DELETE = object()

CONFIG_CASES = [
    ("config_invalid_json.json", b'{"model_type": "glm4v",', "corrupt input",
     "config.json: invalid JSON: parse error*"),
    ("config_not_object.json", b"[]", "corrupt input", "config.json: expected a JSON object, got array"),
    ("config_heads_string.json", config_case(set_path(["text_config", "num_attention_heads"], "4")),
     "corrupt input", "config.json: text_config.num_attention_heads: expected an integer, got string"),
    ("config_vocab_float.json", config_case(set_path(["text_config", "vocab_size"], 64.5)),
     "corrupt input", "config.json: text_config.vocab_size: expected an integer, got number"),
    ("config_layers_negative.json", config_case(set_path(["text_config", "num_hidden_layers"], -2)),
     "corrupt input",
     "config.json: text_config.num_hidden_layers: expected an integer in [1, 16777216], got -2"),
    ("config_too_many_layers.json", config_case(set_path(["vision_config", "depth"], 100000)),
     "limit exceeded", "config.json: vision_config.depth: 100000 layers exceeds the limit of 4096"),
    ("config_missing_hidden_size.json", config_case(set_path(["text_config", "hidden_size"], DELETE)),
     "not found", "config.json: text_config.hidden_size: required field is missing"),
    ("config_missing_vision_config.json", config_case(set_path(["vision_config"], DELETE)),
     "not found", "config.json: vision_config: required field is missing"),
    ("config_vision_config_list.json", config_case(set_path(["vision_config"], [1])),
     "corrupt input", "config.json: vision_config: expected an object, got array"),
    ("config_missing_model_type.json", config_case(set_path(["model_type"], DELETE)),
     "not found", "config.json: model_type: required field is missing"),
    ("config_model_type_llama.json", config_case(set_path(["model_type"], "llama")),
     "unsupported", "config.json: model_type: 'llama' is not supported (glimpse runs glm4v and glm46v)"),
    ("config_architecture_mismatch.json",
     config_case(set_path(["architectures"], ["Glm4vMoeForConditionalGeneration"])), "unsupported",
     "config.json: architectures: 'Glm4vMoeForConditionalGeneration' is not supported for model_type "
     "'glm4v' (expected Glm4vForConditionalGeneration)"),
    ("config_mrope_section_sum.json",
     config_case(set_path(["text_config", "rope_parameters", "mrope_section"], [2, 2, 2])),
     "corrupt input",
     "config.json: text_config.rope_parameters.mrope_section: expected 3 sections (temporal, height, "
     "width) summing to rotary_dim / 2 = 4, got 3 summing to 6"),
    ("config_rope_yarn.json",
     config_case(set_path(["text_config", "rope_parameters", "rope_type"], "yarn")), "unsupported",
     "config.json: text_config.rope_parameters.rope_type: rope type 'yarn' is not supported (only "
     "'default' M-RoPE)"),
    ("config_heads_not_dividing.json", config_case(set_path(["text_config", "num_attention_heads"], 5)),
     "corrupt input",
     "config.json: text_config.hidden_size: hidden_size 64 is not a multiple of num_attention_heads 5"),
    ("config_out_hidden_mismatch.json", config_case(set_path(["vision_config", "out_hidden_size"], 48)),
     "corrupt input",
     "config.json: vision_config.out_hidden_size 48 differs from text_config.hidden_size 64"),
    ("config_gelu.json", config_case(set_path(["text_config", "hidden_act"], "gelu")), "unsupported",
     "config.json: text_config.hidden_act: activation 'gelu' is not supported (GLM-4V uses silu)"),
    ("config_image_token_negative.json", config_case(set_path(["image_token_id"], -1)),
     "corrupt input", "config.json: image_token_id: expected a token id (>= 0), got -1"),
]


def main():
    rows = []
    for name, content, kind, message in SAFETENSORS_CASES + CONFIG_CASES:
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(content)
        rows.append(f"{name}\t{kind}\t{message}\n")
    with open(os.path.join(HERE, "expected_messages.tsv"), "w") as f:
        f.write("# file\terror kind\tmessage (a trailing * matches a prefix)\n")
        f.writelines(rows)


if __name__ == "__main__":
    main()
