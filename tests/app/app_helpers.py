"""Helpers for reading what an AppTest page shows: chart data, captions, messages."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

ROOT_APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "app.py")
SEED = "Mr. Robert is going on a vacation with his wife to Hawaii next month."


def open_app(view: str | None = None, text: str | None = None, models: list[str] | None = None, **state) -> AppTest:
    """Run the app once with the given tab open, sentence and models; asserts nothing."""
    at = AppTest.from_file(ROOT_APP, default_timeout=60)
    if view is not None:
        at.session_state["view"] = view
    if text is not None:
        at.session_state["text"] = text
    if models is not None:
        at.session_state["models"] = models
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def charts(at: AppTest) -> list[dict]:
    """Every Altair chart on the page: {"spec": dict, "title": str, "data": DataFrame of all its rows}."""
    found = []
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        frames = [
            dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data) for dataset in element.proto.datasets
        ]
        if element.proto.data.data:
            frames.append(dataframe_util.convert_arrow_bytes_to_pandas_df(element.proto.data.data))
        data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        found.append({"spec": spec, "title": _title(spec), "data": data})
    return found


def _title(spec: dict) -> str:
    title = spec.get("title")
    if title is None:
        for part in spec.get("layer", []) + spec.get("vconcat", []) + spec.get("hconcat", []):
            title = part.get("title")
            if title:
                break
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):  # a title broken into lines
        title = " ".join(str(line) for line in title)
    return str(title or "")


def chart_titled(at: AppTest, text: str) -> dict:
    """The first chart whose title contains ``text``."""
    for chart in charts(at):
        if text in chart["title"]:
            return chart
    raise AssertionError(f"no chart titled like {text!r}; titles: {[c['title'] for c in charts(at)]}")


def plain(markdown: str) -> str:
    """Markdown source as the reader sees it: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def captions(at: AppTest) -> str:
    """Every caption on the page, as read (escapes removed), joined with spaces."""
    return " ".join(plain(element.value) for element in at.caption)


def messages(at: AppTest, kind: str) -> list[str]:
    """Texts of st.error / st.warning / st.info / st.success elements (kind = "error", ...)."""
    return [element.value for element in getattr(at, kind)]


def assert_every_chart_captioned(at: AppTest) -> int:
    """Each chart is directly followed by a non-empty caption; returns how many charts were checked."""
    checked = 0

    def walk(node) -> None:
        nonlocal checked
        children = getattr(node, "children", None)
        if not children:
            return
        ordered = [children[index] for index in sorted(children)]
        for position, child in enumerate(ordered):
            if getattr(child, "type", None) == "vega_lite_chart":
                following = ordered[position + 1] if position + 1 < len(ordered) else None
                assert following is not None and following.type == "caption" and following.value.strip(), (
                    f"chart {_title(json.loads(child.proto.spec))!r} has no caption under it"
                )
                checked += 1
            walk(child)

    walk(at._tree)
    return checked


def assert_charts_drawn(at: AppTest, expected: list[str]) -> None:
    """Every chart is captioned, and the charts are exactly those whose titles contain ``expected``, in order.

    Names the charts a view must draw rather than counting them, so a missing or an extra chart says which.
    """
    assert_every_chart_captioned(at)
    titles = [chart["title"] for chart in charts(at)]
    assert len(titles) == len(expected) and all(want in title for want, title in zip(expected, titles)), (
        f"charts drawn: {titles}; expected titles containing {expected}"
    )


def html_blocks(at: AppTest) -> list[str]:
    """Markdown elements that carry HTML (the coloured word spans)."""
    return [element.value for element in at.markdown if "<span" in element.value or "<div" in element.value]


def exception_free(at: AppTest) -> AppTest:
    """Assert no exception reached the page (and no view turned one into an error box)."""
    assert not at.exception, [e.value for e in at.exception]
    view_failures = [e.value for e in at.error if "could not be drawn" in e.value]
    assert not view_failures, view_failures
    return at
