"""%glimpse_timeit: %timeit's loops and repeats, plus what the engine saw during those very loops.

    %glimpse_timeit [-n N] [-r R] [--warmup W] [-q] [-o] <expression>

Prints IPython's line ("87.4 ms ± 1.2 ms per loop (mean ± std. dev. of 3 runs, 5 loops each)"),
the mean stage breakdown, TTFT/TPOT percentiles and the process's peak RSS. Timing, loop choice,
wording and percentiles are glimpse bench's C++ code (glimpse._core), not a Python copy.
-q prints nothing, -o returns the GlimpseTimeit (as %timeit -o); the last one is also kept as
glimpse.magic.last.
"""
import re
import time

from . import _core
from .recording import Recorder

last = None


class GlimpseTimeit:
    def __init__(self, timeit, results, peak_rss_bytes):
        self.timeit = timeit
        self.results = results
        self.peak_rss_bytes = peak_rss_bytes
        self.stages = {stage: _core.summarize([r.timings[stage] for r in results])
                       for stage in ("preprocess", "vision", "prefill", "ttft", "decode", "total")}
        self.ttft = self.stages["ttft"]
        tpot = [r.timings["decode_per_token"] for r in results
                if r.timings["decode_per_token"] is not None]
        self.tpot = _core.summarize(tpot) if tpot else None

    def metrics(self):
        """Seconds per metric as glimpse bench's --sla names them (ttft_p90, tpot_p50, e2e_mean)."""
        summaries = {"ttft": self.ttft, "tpot": self.tpot, "e2e": self.stages["total"]}
        return {f"{name}_{field}": getattr(summary, field) / 1e3
                for name, summary in summaries.items() if summary is not None
                for field in ("min", "max", "mean", "p50", "p90", "p95", "p99")}

    def sla(self, spec):
        """Checks glimpse bench's SLA clauses ("ttft_p90<500ms,tpot_p50<20ms"), prints one line
        per clause and returns whether all hold."""
        verdicts = _core.evaluate_sla(spec, self.metrics())
        for clause, measured, passed in verdicts:
            shown = "not measured" if measured is None else _core.format_duration(measured)
            print(f"{'PASS' if passed else 'FAIL'}  {clause}  (measured {shown})")
        return all(passed for _, _, passed in verdicts)

    def report(self):
        lines = [self.timeit.ipython_line()]
        warning = self.timeit.caching_warning()
        if warning:
            lines.append(warning)
        if not self.results:
            lines.append("glimpse: the expression made no glimpse generate/chat call")
            return "\n".join(lines)
        s = self.stages
        lines.append(f"stages (mean of {len(self.results)} calls, ms): preprocess "
                     f"{s['preprocess'].mean:.1f} | vision {s['vision'].mean:.1f} | prefill "
                     f"{s['prefill'].mean:.1f} | decode {s['decode'].mean:.1f} | total "
                     f"{s['total'].mean:.1f}")
        lines.append(_percentile_line("TTFT", self.ttft))
        if self.tpot:
            lines.append(_percentile_line("TPOT", self.tpot))
        if self.peak_rss_bytes is not None:
            lines.append(f"peak RSS {self.peak_rss_bytes / 2**20:.1f} MiB")
        return "\n".join(lines)

    def __repr__(self):
        return self.report()


def _percentile_line(name, summary):
    return (f"{name} ms: p50 {summary.p50:.2f} | p90 {summary.p90:.2f} | p99 {summary.p99:.2f} "
            f"| mean {summary.mean:.2f} ± {summary.stddev:.2f} (n={summary.count})")


_OPTION = re.compile(r"\s*(?:(-n|-r|--warmup)\s+(-?\d+)|(-q|-o))(?=\s|$)")


def split_line(line):
    """Leading options (-n N, -r R, --warmup W, -q, -o), then the expression."""
    options = {"n": None, "r": 7, "warmup": 1, "q": False, "o": False}
    position = 0
    while match := _OPTION.match(line, position):
        name, value, flag = match.groups()
        if flag:
            options[flag[1:]] = True
        else:
            options[name.lstrip("-")] = int(value)
        position = match.end()
    return options, line[position:].strip()


def glimpse_timeit(line, namespace):
    global last
    options, expression = split_line(line)
    loops, repeat_count, warmup = options["n"], options["r"], options["warmup"]
    if not expression:
        raise ValueError("usage: %glimpse_timeit [-n N] [-r R] [--warmup W] [-q] [-o] <expression>")
    if repeat_count < 1 or (loops is not None and loops < 1) or warmup < 0:
        raise ValueError("-n and -r must be >= 1 and --warmup >= 0")
    code = compile(expression, "<glimpse_timeit>", "eval")

    def time_loops(loops):
        start = time.perf_counter()
        for _ in range(loops):
            eval(code, namespace)
        return time.perf_counter() - start

    for _ in range(warmup):
        eval(code, namespace)
    if loops is None:
        loops = _core.choose_loops(time_loops)
    _core.reset_peak_rss()
    with Recorder() as results:
        repeats = [time_loops(loops) for _ in range(repeat_count)]
    last = GlimpseTimeit(_core.TimeitResult(loops, repeats), results, _core.peak_rss_bytes())
    if not options["q"]:
        print(last.report())
    return last if options["o"] else None


def register(ipython):
    def magic(line):
        return glimpse_timeit(line, ipython.user_ns)

    ipython.register_magic_function(magic, magic_kind="line", magic_name="glimpse_timeit")
