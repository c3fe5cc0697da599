"""A streamed chat completion with an image against a running glimpse server: waits for /ready,
sends one OpenAI request with stream=true and an image_url data URL, and checks the SSE stream
(role, content chunks, finish_reason, [DONE]); with --expect, greedy (temperature 0) and the whole
answer must equal it. Exit 0 on success. Standard library only."""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--prompt", default="Describe the image.")
    parser.add_argument("--expect", help="the exact answer (the request is then greedy)")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    deadline = time.time() + args.timeout
    while True:
        try:
            with urllib.request.urlopen(args.url + "/ready", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            print("stream_check: the server never became ready")
            return 1
        time.sleep(0.5)

    with urllib.request.urlopen(args.url + "/v1/models", timeout=10) as r:
        model = json.load(r)["data"][0]["id"]
    image = base64.b64encode(open(args.image, "rb").read()).decode()
    mime = "image/png" if args.image.endswith(".png") else "image/jpeg"
    body = {
        "model": model,
        "stream": True,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64," + image}},
            {"type": "text", "text": args.prompt}]}],
    }
    if args.expect is not None:  # as the demo model was trained: greedy, no thinking block
        body["temperature"] = 0
        body["max_tokens"] = 64
        body["chat_template_kwargs"] = {"enable_thinking": False}
    request = urllib.request.Request(args.url + "/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    start = time.time()
    text, first, finish, done = "", None, None, False
    try:
        response = urllib.request.urlopen(request, timeout=args.timeout)
    except urllib.error.HTTPError as e:
        print(f"stream_check: FAILED: HTTP {e.code}: {e.read().decode(errors='replace')}")
        return 1
    with response:
        for raw in response:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            choice = json.loads(line[6:])["choices"][0]
            piece = choice.get("delta", {}).get("content") or ""
            if piece and first is None:
                first = time.time() - start
            text += piece
            finish = choice.get("finish_reason") or finish
    ok = done and finish is not None and first is not None
    if args.expect is not None and text.strip() != args.expect:
        print(f"stream_check: expected {args.expect!r}")
        ok = False
    print(f"stream_check: {'ok' if ok else 'FAILED'}: first content after "
          f"{first if first is None else round(first * 1000, 1)} ms, finish {finish}, "
          f"[DONE] {done}, text {text!r}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
