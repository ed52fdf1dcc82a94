"""Run one view so that any exception becomes a clear message, never a traceback on the page."""

from __future__ import annotations

import logging
from typing import Any, Callable

import streamlit as st

from ui.widgets.markup import md

LOGGER = logging.getLogger("memory_lab.app")


def run_view(title: str, render: Callable[..., None], *args: Any, **kwargs: Any) -> bool:
    """Call ``render(*args, **kwargs)``; on an exception show st.error and log the traceback.

    Args:
        title: what is drawn, used in the message ("The Gates view could not be drawn: ...").
        render: the function that draws the view.

    Returns:
        True when the view rendered without an exception.
    """
    try:
        render(*args, **kwargs)
        return True
    except Exception as error:  # noqa: BLE001 - the page must survive any failure of one view
        # st.rerun and st.stop raise BaseException subclasses, so they pass through untouched.
        _report(title, error)
        return False
    except BaseException as error:
        # The tokenizers library's PanicException is a BaseException too, but an error, not control flow.
        if type(error).__name__ != "PanicException":
            raise
        _report(title, error)
        return False


def _report(title: str, error: BaseException) -> None:
    LOGGER.error("%s failed", title, exc_info=error)
    text = " ".join(str(error).split())
    text = text if len(text) <= 500 else text[:499] + "…"
    st.error(
        f"{title} could not be drawn: {type(error).__name__}: {md(text)}. "
        "The other views still work; try another sentence or model. "
        "(The full traceback is in the server console.)",
        icon=":material/error:",
    )
