"""glimpse.Model: requests built in Python, everything else in the C++ engine (GIL released)."""
import json
import os
import queue
import threading
from pathlib import Path

from . import _core
from . import recording


class Result:
    """One answer: str() is its text; token ids, usage, stage timings (ms) and why it ended."""

    def __init__(self, raw):
        self._raw = raw
        self.text = raw.text
        self.token_ids = raw.token_ids
        self.finish_reason = raw.finish_reason
        prompt_tokens = len(raw.prompt_ids)
        self.usage = {
            "prompt_tokens": prompt_tokens,
            "image_tokens": raw.image_tokens,
            "completion_tokens": len(self.token_ids),
            "total_tokens": prompt_tokens + len(self.token_ids),
        }
        self.timings = raw.timings

    def __str__(self):
        return self.text

    def __repr__(self):
        return (f"<glimpse.Result {len(self.token_ids)} tokens, finish={self.finish_reason}, "
                f"total={self.timings['total']:.1f} ms: {self.text[:40]!r}>")


def _image_input(image):
    """Path, bytes, PIL image, HxWx3 uint8 array or PreparedImage → what _core accepts."""
    if isinstance(image, (_core.PreparedImage, bytes)):
        return image
    if isinstance(image, (bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        return Path(image).read_bytes()
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL.Image
        import numpy as np

        return np.asarray(image.convert("RGB"))
    if hasattr(image, "__array_interface__") or hasattr(image, "__buffer__"):
        import numpy as np

        return np.ascontiguousarray(image)
    raise TypeError(f"unsupported image type {type(image).__name__}: give a path, bytes, a PIL "
                    "image, an HxWx3 uint8 array or a PreparedImage")


def _images_list(image):
    if image is None:
        return []
    return [_image_input(i) for i in (image if isinstance(image, (list, tuple)) else [image])]


class Model:
    """A model directory loaded once, on the CPU or (a CUDA build) the GPU; dtype converts the
    weight matrices at load ("bf16", "f16", "f32"; None keeps the checkpoint's)."""

    def __init__(self, path=None, device="cpu", threads=None, dtype=None):
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if dtype not in (None, "bf16", "f16", "f32"):
            raise ValueError(f"dtype must be None, 'bf16', 'f16' or 'f32', got {dtype!r}")
        if threads is not None:
            _core.set_cpu_threads(int(threads))
        self.path = str(path) if path is not None else _core.default_model_dir()
        self.device = device
        self._engine = _core.Engine(self.path, device, dtype)

    @property
    def context_limit(self):
        return self._engine.context_limit

    def prepare(self, image):
        """Decodes and preprocesses an image once, so timed calls skip decode and resize."""
        return self._engine.prepare(_image_input(image))

    def generate(self, image=None, text="", max_tokens=None, temperature=None, top_p=None,
                 seed=None, system=None, enable_thinking=None, *, _on_text=None):
        images = _images_list(image)
        content = [{"type": "image_url", "image_url": {"url": f"glimpse:image/{i}"}}
                   for i in range(len(images))]
        content.append({"type": "text", "text": text})
        messages = ([{"role": "system", "content": system}] if system is not None else [])
        messages.append({"role": "user", "content": content})
        raw = self._engine.generate(json.dumps(messages), images, _template_kwargs(enable_thinking),
                                    max_tokens, temperature, top_p, seed, _on_text)
        return recording.record(Result(raw))

    def chat(self, messages, max_tokens=None, temperature=None, top_p=None, seed=None,
             enable_thinking=None, base_dir=None, *, _on_text=None):
        """OpenAI-style messages; image_url parts may be data: URLs or local paths (relative to
        base_dir, default the working directory)."""
        raw = self._engine.chat(json.dumps(messages), str(base_dir or os.getcwd()),
                                _template_kwargs(enable_thinking), max_tokens, temperature, top_p,
                                seed, _on_text)
        return recording.record(Result(raw))

    def stream(self, image=None, text="", **kwargs):
        """Yields text pieces as the engine produces them (generate's arguments, or messages=...
        for chat). The finished Result is kept in self.last_result."""
        pieces = queue.Queue()
        done = object()
        cancelled = threading.Event()

        def on_text(piece):
            if cancelled.is_set():
                raise _StreamClosed
            pieces.put(piece)

        def work():
            try:
                if "messages" in kwargs:
                    self.last_result = self.chat(kwargs.pop("messages"), _on_text=on_text, **kwargs)
                else:
                    self.last_result = self.generate(image, text, _on_text=on_text, **kwargs)
                pieces.put(done)
            except BaseException as e:  # handed to the consumer, raised there
                pieces.put(e)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while True:
                item = pieces.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    if cancelled.is_set():
                        return
                    raise item
                yield item
        finally:
            cancelled.set()
            worker.join()


class _StreamClosed(Exception):
    """Raised from the token callback to stop the engine once the consumer has gone."""


def _template_kwargs(enable_thinking):
    return json.dumps({} if enable_thinking is None else {"enable_thinking": bool(enable_thinking)})
