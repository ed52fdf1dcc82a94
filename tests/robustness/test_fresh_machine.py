"""Failure 10: on a fresh machine the README's test command failed the browser tests (no Chromium).

scripts/test is now the one command: it installs Debian's Chromium with apt when it is missing and
it can, installs requirements-test.txt and runs pytest; .ci/run calls exactly it, and the README
says so. These tests run the real script with stand-ins for apt-get, sudo, id and python on PATH
that only record how they were called, so nothing is installed and no network is needed.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from robustness_helpers import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "test")


def _stand_in(folder, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f'#!/bin/sh\necho "{name} $*" >> "$CALLS"\n{body}\n', encoding="utf-8")
    path.chmod(0o755)


def _run(
    tmp_path,
    chromium_present: bool,
    uid: str = "0",
    apt_fails: bool = False,
    sudo: bool | None = None,
    workers: str | None = None,
) -> tuple[list[str], str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    _stand_in(bin_dir, "python")
    _stand_in(bin_dir, "apt-get", "exit 1" if apt_fails else "exit 0")
    _stand_in(bin_dir, "id", f"echo {uid}")
    if sudo is not None:
        _stand_in(bin_dir, "sudo", 'if [ "$2" = true ]; then exit ' + ("0" if sudo else "1") + '; fi; shift; exec "$@"')
    chromium = tmp_path / "chromium"
    if chromium_present:
        chromium.write_text("#!/bin/sh\n", encoding="utf-8")
        chromium.chmod(0o755)
    system_path = ":".join(path for path in ("/usr/bin", "/bin") if os.path.isdir(path))
    env = {
        "PATH": f"{bin_dir}:{system_path}",
        "CALLS": str(calls),
        "MEMORY_LAB_CHROMIUM": str(chromium),
        "HOME": str(tmp_path),
    }
    if workers is not None:
        env["MEMORY_LAB_TEST_WORKERS"] = workers
    result = subprocess.run(
        [SCRIPT, "tests/robustness", "-x"], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    recorded = calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []
    return [call for call in recorded if call != "id -u"], result.stderr


PIP = "python -m pip install -q -r requirements-test.txt"
LINT = ["python -m ruff check -q .", "python -m ruff format --check -q ."]
# The suite runs over min(cores, 4) xdist workers, one test file per worker at a time.
PYTEST = f"python -m pytest -q -n {min(len(os.sched_getaffinity(0)), 4)} --dist loadfile tests/robustness -x"


def test_chromium_present_means_no_apt(tmp_path):
    calls, _ = _run(tmp_path, chromium_present=True)
    assert calls == [PIP, *LINT, PYTEST]


def test_the_worker_count_can_be_set_and_zero_runs_in_one_process(tmp_path):
    assert _run(tmp_path / "two", chromium_present=True, workers="2")[0] == [
        PIP,
        *LINT,
        "python -m pytest -q -n 2 --dist loadfile tests/robustness -x",
    ]
    assert _run(tmp_path / "none", chromium_present=True, workers="0")[0] == [
        PIP,
        *LINT,
        "python -m pytest -q -n 0 tests/robustness -x",  # -n 0 overrides pytest.ini's -n auto
    ]


def test_chromium_missing_is_installed_with_apt_as_root(tmp_path):
    calls, err = _run(tmp_path, chromium_present=False)
    assert calls == ["apt-get update -qq", "apt-get install -y -qq chromium", PIP, *LINT, PYTEST]
    assert "installed Debian's chromium" in err


def test_chromium_missing_is_installed_through_passwordless_sudo(tmp_path):
    calls, _ = _run(tmp_path, chromium_present=False, uid="1000", sudo=True)
    assert [call for call in calls if call.startswith("apt-get")] == [
        "apt-get update -qq",
        "apt-get install -y -qq chromium",
    ]
    assert calls[-4:] == [PIP, *LINT, PYTEST]


@pytest.mark.parametrize("uid, sudo, apt_fails", [("1000", False, False), ("0", None, True)])
def test_when_chromium_cannot_be_installed_the_tests_still_run_with_a_warning(tmp_path, uid, sudo, apt_fails):
    calls, err = _run(tmp_path, chromium_present=False, uid=uid, sudo=sudo, apt_fails=apt_fails)
    assert calls[-4:] == [PIP, *LINT, PYTEST]
    assert "warning:" in err and "apt-get install chromium" in err


def test_ci_runs_exactly_the_readme_command():
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as stream:
        commands = [line.strip() for line in stream if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "exec scripts/test"
    assert all(not re.search(r"\b(pip|pytest|apt-get)\b", line) for line in commands)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as stream:
        readme = stream.read()
    two_commands = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "\nscripts/test\n" in two_commands and "python -m pytest -q" not in two_commands.split("```")[1]
    assert os.access(SCRIPT, os.X_OK) and os.access(os.path.join(ROOT, ".ci", "run"), os.X_OK)
