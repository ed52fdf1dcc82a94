"""Building crafted checkpoint folders inside a test: copy a tiny checkpoint, then edit one file."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Callable

import pytest
from streamlit.testing.v1 import AppTest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP = os.path.join(ROOT, "app.py")


def copy_checkpoint(source: str, destination: str) -> str:
    """A private copy of a (read-only, session-scoped) tiny checkpoint, without its resume state."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("resume", "resume.previous"))
    return destination


def read_json(folder: str, name: str) -> Any:
    with open(os.path.join(folder, name), encoding="utf-8") as stream:
        return json.load(stream)


def write_json(folder: str, name: str, value: Any) -> None:
    with open(os.path.join(folder, name), "w", encoding="utf-8") as stream:
        json.dump(value, stream)


def edit_json(folder: str, name: str, edit: Callable[[Any], Any]) -> None:
    """Parse ``name`` in ``folder``, let ``edit`` change it in place (its return value is ignored), write it back."""
    value = read_json(folder, name)
    edit(value)
    write_json(folder, name, value)


def write_raw(folder: str, name: str, text: str) -> None:
    with open(os.path.join(folder, name), "w", encoding="utf-8") as stream:
        stream.write(text)


def nested_json(depth: int) -> str:
    """A JSON document nested ``depth`` levels deep: Python's json raises RecursionError on it."""
    return "[" * depth + "]" * depth


def run_cli(main: Callable[[list[str]], int], argv: list[str], capsys) -> str:
    """Run a CLI's main in-process; assert it exits 2 with one "error: ..." line and no traceback; return that line."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    captured = capsys.readouterr()
    assert caught.value.code == 2, captured.err
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    lines = [line for line in captured.err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, captured.err
    return lines[0]


def open_app(view: str | None = None, **state: Any) -> AppTest:
    """Run the app once (AppTest) with the given tab open; asserts nothing."""
    at = AppTest.from_file(APP, default_timeout=60)
    if view is not None:
        at.session_state["view"] = view
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def assert_page_survived(at: AppTest) -> None:
    """No exception reached the page and the page itself was drawn."""
    assert not at.exception, [element.value for element in at.exception]
    page_failures = [element.value for element in at.error if element.value.startswith("The page could not be drawn")]
    assert not page_failures, page_failures
