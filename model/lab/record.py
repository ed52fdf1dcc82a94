"""The lab's claim as `python -m bench.lab --record` measured it, kept in model/lab/measured.json.

The app and the README quote the shares of seeds behind the claim ("the LSTM learned lag 30-60
in 16 of 16 seeds, the RNN stayed near chance in 15 of 16, under both instruction sets"). Those
numbers come from a 16-seed run per instruction set (about 2.5 minutes each), too slow to redo on
every page load, so the bench writes them to one small JSON file beside this module and the app
reads it. Each count is the worst over the lags >= 30 and over the instruction sets measured.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any

from data.files import write_json_atomic
from model.core.checkpoint_files import read_json_object

MEASURED_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measured.json")
SCHEMA = "memory-lab/lab-claim/1"


@dataclass(frozen=True)
class MeasuredClaim:
    """The claim check over several instruction sets.

    Attributes:
        seeds, first_seed: the seeds measured (first_seed .. first_seed + seeds - 1), none left out.
        lags: the lags the claim is about (>= 30).
        isas: the capability torch reported in each run, e.g. ("AVX512", "AVX2").
        lstm_learned: seeds whose LSTM reached accuracy >= 0.9 at every claim lag (worst lag, worst run).
        rnn_below: seeds whose RNN stayed <= 0.65 at every claim lag (worst lag, worst run).
        required: the count both must reach for the claim (15 of 16).
        holds: whether every run met it.
        command: the command that measured it.
        machine: the CPU it ran on (results differ between machines, so the app names it; "" in older files).
        measured_on: the date, YYYY-MM-DD ("" in older files).
    """

    seeds: int
    first_seed: int
    lags: tuple[int, ...]
    isas: tuple[str, ...]
    lstm_learned: int
    rnn_below: int
    required: int
    holds: bool
    command: str
    machine: str = ""
    measured_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the schema name."""
        return {"schema": SCHEMA, **asdict(self), "lags": list(self.lags), "isas": list(self.isas)}


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC 9B14", "Intel(R) Xeon(R) ..."): /proc/cpuinfo on Linux, else platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())[:80]
    except OSError:
        pass
    return (platform.processor() or platform.machine() or "unknown CPU")[:80]


def claim_from_runs(runs: list[dict[str, Any]], first_seed: int, command: str) -> MeasuredClaim:
    """Combine per-run claim checks (each {"capability", "claim": ClaimCheck.to_dict()}) into the worst case.

    Raises:
        ValueError: no runs, or runs over different seeds or lags.
    """
    if not runs:
        raise ValueError(
            "A measured claim needs at least one lab run; got none. Run python -m bench.lab without --skip-claim."
        )
    claims = [run["claim"] for run in runs]
    if len({(claim["seeds"], tuple(claim["lags"])) for claim in claims}) != 1:
        raise ValueError(
            f"The runs measured different seeds or lags: {[(claim['seeds'], claim['lags']) for claim in claims]}; measure them alike."
        )
    return MeasuredClaim(
        seeds=claims[0]["seeds"],
        first_seed=first_seed,
        lags=tuple(claims[0]["lags"]),
        isas=tuple(run["capability"] for run in runs),
        lstm_learned=min(claim["lstm_learned"] for claim in claims),
        rnn_below=min(claim["rnn_below"] for claim in claims),
        required=claims[0]["required"],
        holds=all(claim["holds"] for claim in claims),
        command=command,
        machine=cpu_name(),
        measured_on=time.strftime("%Y-%m-%d"),
    )


def save_measured(claim: MeasuredClaim, path: str = MEASURED_PATH) -> None:
    """Write the claim atomically."""
    write_json_atomic(path, claim.to_dict())


def load_measured(path: str = MEASURED_PATH) -> MeasuredClaim | None:
    """The recorded claim, or None when nothing was recorded.

    Raises:
        ValueError: the file is not a claim this project wrote (wrong schema, missing or mistyped fields,
            counts outside 0..seeds).
    """
    if not os.path.exists(path):
        return None
    value = read_json_object(path)
    if value.get("schema") != SCHEMA:
        raise ValueError(
            f"{path} must have schema {SCHEMA!r}; got {str(value.get('schema'))[:80]!r}. Re-run python -m bench.lab --record."
        )
    try:
        claim = MeasuredClaim(
            seeds=_integer(value["seeds"], "seeds"),
            first_seed=_integer(value["first_seed"], "first_seed"),
            lags=tuple(_integer(lag, "lag") for lag in value["lags"]),
            isas=tuple(str(isa)[:16] for isa in value["isas"]),
            lstm_learned=_integer(value["lstm_learned"], "lstm_learned"),
            rnn_below=_integer(value["rnn_below"], "rnn_below"),
            required=_integer(value["required"], "required"),
            holds=value["holds"] is True,
            command=str(value["command"])[:200],
            machine=str(value.get("machine", ""))[:80],
            measured_on=str(value.get("measured_on", ""))[:10],
        )
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"{path} lacks a field of the measured claim ({error}). Re-run python -m bench.lab --record."
        ) from None
    if not 1 <= claim.seeds or not all(
        0 <= count <= claim.seeds for count in (claim.lstm_learned, claim.rnn_below, claim.required)
    ):
        raise ValueError(
            f"{path}: the counts must lie in 0..seeds ({claim.seeds}); got {claim.lstm_learned}, {claim.rnn_below}, "
            f"{claim.required}. Re-run python -m bench.lab --record."
        )
    if not claim.lags or not claim.isas:
        raise ValueError(f"{path} names no lags or no instruction sets. Re-run python -m bench.lab --record.")
    return claim


def _integer(number: Any, name: str) -> int:
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"{name} must be an integer, got {str(number)[:40]!r}")
    return number
