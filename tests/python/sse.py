"""Reading OpenAI-style server-sent events."""
import json


def events(response):
    """Yields the JSON payload of every `data:` line, stopping after `[DONE]`."""
    for raw in response.iter_lines():
        line = raw.decode("utf-8")  # SSE is UTF-8 whatever the headers say
        if not line.startswith("data: "):
            continue
        data = line[len("data: "):]
        if data == "[DONE]":
            return
        yield json.loads(data)
