"""Where the browser's time goes: Chrome's sampling CPU profiler over a stretch of page work, in buckets.

Used by `python -m bench.app_latency --profile` to split an Enter's time in the browser between the
Vega charts, React (Streamlit's front end redrawing its elements), other page JavaScript, the
browser's own work (layout, paint, native code: "(program)"), garbage collection and idle time.

A sample counts for the first bucket that matches, from the outermost rule in:
    any frame of its stack in a Vega bundle (vega, vega-lite, vega-embed)   -> "Vega charts"
    any frame of its stack in react-dom                                      -> "React (Streamlit front end)"
    the sampled frame is "(idle)" / "(garbage collector)" / "(program)"     -> that bucket
    anything else                                                            -> "other page JavaScript"
Bundle names come from Streamlit's build (e.g. embed.*.js, vega-interpreter.*.js, react-dom.*.js);
a sample whose stack names none of them falls under "other page JavaScript", never into a chart bucket.
"""

from __future__ import annotations

import re
from typing import Any

VEGA = "Vega charts"
REACT = "React (Streamlit front end)"
OTHER = "other page JavaScript"
NATIVE = "browser internals (layout, paint, native)"
GC = "garbage collector"
IDLE = "idle"
BUCKETS = (VEGA, REACT, OTHER, NATIVE, GC, IDLE)
_VEGA_URL = re.compile(r"(^|/)(vega[^/]*|embed\.[^/]*|ArrowVegaLiteChart[^/]*)\.js", re.IGNORECASE)
_REACT_URL = re.compile(r"(^|/)react-dom[^/]*\.js", re.IGNORECASE)
_SPECIAL = {"(idle)": IDLE, "(garbage collector)": GC, "(program)": NATIVE, "(root)": NATIVE}


def attribute(profile: dict[str, Any]) -> dict[str, float]:
    """Milliseconds per bucket of one `Profiler.stop` profile ({"nodes", "samples", "timeDeltas"}, times in µs)."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    memo: dict[int, str] = {}

    def bucket(node_id: int) -> str:
        if node_id not in memo:
            urls, current = [], node_id
            while current in nodes:
                urls.append(nodes[current]["callFrame"].get("url", ""))
                current = parent.get(current)
            leaf = nodes[node_id]["callFrame"].get("functionName", "")
            if any(_VEGA_URL.search(url) for url in urls):
                memo[node_id] = VEGA
            elif any(_REACT_URL.search(url) for url in urls):
                memo[node_id] = REACT
            else:
                memo[node_id] = _SPECIAL.get(leaf, OTHER)
        return memo[node_id]

    totals = dict.fromkeys(BUCKETS, 0.0)
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"]):
        totals[bucket(node_id)] += delta / 1000
    return totals


class CpuProfiler:
    """Chrome's sampling profiler on one Playwright page (CDP), started and stopped around the work to split.

    One sample per millisecond: at 0.2 ms the profiler itself doubled an Enter's time here.
    """

    def __init__(self, page: Any, interval_us: int = 1000) -> None:
        self.session = page.context.new_cdp_session(page)
        self.session.send("Profiler.enable")
        self.session.send("Profiler.setSamplingInterval", {"interval": interval_us})

    def start(self) -> None:
        self.session.send("Profiler.start")

    def stop(self) -> dict[str, float]:
        """Stop and return :func:`attribute` of what was sampled since :meth:`start`."""
        return attribute(self.session.send("Profiler.stop")["profile"])
