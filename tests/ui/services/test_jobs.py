"""ui/services/jobs.py: one table for training and lab jobs; one job at a time across both kinds."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from ui.services.jobs import BUSY, JobRegistry


@dataclass
class FakeJob:
    name: str
    running: bool = True
    release: threading.Event = field(default_factory=threading.Event)


def _hold(job: FakeJob) -> None:
    job.release.wait(10)
    job.running = False


def test_one_job_of_any_kind_at_a_time_and_each_session_sees_its_own():
    registry = JobRegistry()
    first = registry.start("train", "a", lambda: FakeJob("train-a"), _hold)
    with pytest.raises(RuntimeError) as refused:
        registry.start("lab", "b", lambda: FakeJob("lab-b"), _hold)
    assert str(refused.value) == BUSY["train"]
    assert registry.latest("train", "a") is first and registry.latest("train", "b") is None
    assert registry.latest("lab", "b") is None  # the refused job was never recorded
    assert [(kind, sid) for kind, sid, _ in registry.running()] == [("train", "a")]
    first.release.set()
    while first.running:
        pass
    second = registry.start("lab", "b", lambda: FakeJob("lab-b"), _hold)
    with pytest.raises(RuntimeError, match="long-range lab is running"):
        registry.start("train", "a", lambda: FakeJob("train-a2"), _hold)
    assert registry.latest("train", "a") is first  # still the finished one
    second.release.set()


def test_two_sessions_pressing_start_together_get_one_job():
    registry = JobRegistry()
    barrier, outcomes = threading.Barrier(8), []

    def press(index: int) -> None:
        barrier.wait()
        try:
            registry.start("train", f"s{index}", lambda: FakeJob(f"job{index}"), _hold)
            outcomes.append("started")
        except RuntimeError:
            outcomes.append("refused")

    threads = [threading.Thread(target=press, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["started"]
    for job in registry.jobs("train"):
        job.release.set()


def test_kinds_are_checked_and_records_can_be_dropped():
    registry = JobRegistry()
    with pytest.raises(ValueError, match="kind is one of"):
        registry.latest("gpu", "a")
    registry.register("lab", "a", FakeJob("done", running=False))
    assert registry.jobs("lab")[0].name == "done" and not registry.running()
    registry.forget("lab")
    assert registry.jobs("lab") == []
