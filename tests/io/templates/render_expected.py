"""Render the expected outputs of the template fixtures with transformers' own Jinja setup.

Run from the repository root with the reference environment:

    /opt/glimpse-venv/bin/python tests/io/templates/render_expected.py

It writes tests/io/templates/expected.json: for each case in cases.json (a template source and
its variables, rendered with transformers' compiled Jinja environment) and chat_cases.json (a
template file and OpenAI-style messages, rendered through transformers' render_jinja_template
with the same variables apply_chat_template passes), either {"output": text} or
{"error": exception type} when transformers refuses to render.
"""

import json
from pathlib import Path

import transformers
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

HERE = Path(__file__).resolve().parent


def to_template_messages(messages):
    """What the processor's apply_chat_template does to OpenAI content parts before rendering."""
    converted = []
    for message in messages:
        message = dict(message)
        if isinstance(message.get("content"), list):
            parts = []
            for part in message["content"]:
                if part.get("type") == "image_url":
                    info = part["image_url"]
                    parts.append({"type": "image", "url": info["url"] if isinstance(info, dict) else info})
                else:
                    parts.append(part)
            message["content"] = parts
        converted.append(message)
    return converted


def outcome(render):
    try:
        return {"output": render()}
    except Exception as error:  # the C++ side must fail too; messages differ
        return {"error": type(error).__name__}


def main():
    expected = {"transformers": transformers.__version__, "cases": {}, "chat_cases": {}}
    for case in json.loads((HERE / "cases.json").read_text()):
        template = case["source"]
        variables = case.get("variables", {})
        expected["cases"][case["name"]] = outcome(
            lambda: _compile_jinja_template(template).render(**variables))
    for case in json.loads((HERE / "chat_cases.json").read_text()):
        source = (HERE / case["template"]).read_text()
        expected["chat_cases"][case["name"]] = outcome(lambda: render_jinja_template(
            conversations=[to_template_messages(case["messages"])],
            tools=case.get("tools"),
            chat_template=source,
            add_generation_prompt=case.get("add_generation_prompt", True),
            bos_token=case.get("bos_token", ""),
            eos_token=case.get("eos_token", ""),
            **case.get("extra", {}),
        )[0][0])
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
