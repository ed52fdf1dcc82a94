"""bench/browser_profile.py: samples are put in buckets by the bundles on their stack, on a hand-made profile."""

from __future__ import annotations

import pytest

from bench import browser_profile as bp


def _node(node_id: int, name: str, url: str = "", children: tuple[int, ...] = ()) -> dict:
    return {"id": node_id, "callFrame": {"functionName": name, "url": url}, "children": list(children)}


PROFILE = {
    "nodes": [
        _node(1, "(root)", children=(2, 3, 4, 5, 6, 7)),
        _node(2, "(idle)"),
        _node(3, "render", "http://x/static/js/react-dom.Dz.js", children=(8,)),
        _node(4, "embed", "http://x/static/js/embed.CX5.js", children=(9,)),
        _node(5, "(garbage collector)"),
        _node(6, "(program)"),
        _node(7, "onMessage", "http://x/static/js/index.Dorm.js"),
        _node(8, "styled", "http://x/static/js/emotion-styled.browser.esm.js"),  # inside React: React's
        _node(9, "parse", "http://x/static/js/index.Dorm.js"),  # called by Vega's embed: Vega's
    ]
}


def test_each_sample_lands_in_the_bucket_of_its_stack():
    samples = [2, 3, 8, 4, 9, 5, 6, 7, 7]
    deltas = [1000, 2000, 3000, 4000, 5000, 600, 700, 800, 900]  # µs
    totals = bp.attribute(dict(PROFILE, samples=samples, timeDeltas=deltas))
    assert totals == pytest.approx(
        {bp.IDLE: 1.0, bp.REACT: 5.0, bp.VEGA: 9.0, bp.GC: 0.6, bp.NATIVE: 0.7, bp.OTHER: 1.7}
    )
    assert set(totals) == set(bp.BUCKETS)


def test_a_library_named_like_vega_only_in_its_path_is_not_counted_as_a_chart():
    profile = {"nodes": [_node(1, "f", "http://x/vegan-recipes/app.js")], "samples": [1], "timeDeltas": [1000]}
    assert bp.attribute(profile)[bp.OTHER] == pytest.approx(1.0)
