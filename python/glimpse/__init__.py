"""glimpse for notebooks: the C++ GLM-4.6V engine behind a small Python API.

    m = glimpse.Model()                      # the bundled demo model
    img = m.prepare("cat.png")               # decode + resize outside the timed call
    %timeit -n 5 -r 3 m.generate(image=img, text="描述这张图")
    %load_ext glimpse                         # then: %glimpse_timeit m.generate(...)
"""
from ._core import Error, PreparedImage, TimeitResult, summarize, built_with_cuda
from .model import Model, Result

__all__ = ["Model", "Result", "PreparedImage", "Error", "TimeitResult", "summarize", "built_with_cuda"]


def load_ipython_extension(ipython):
    """`%load_ext glimpse` registers %glimpse_timeit."""
    from .magic import register

    register(ipython)
