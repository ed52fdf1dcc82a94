"""Resumable training state: everything needed to continue a run exactly.

A folder ``<out>/resume`` holds state.safetensors (model weights, optimizer
tensors, the hidden state carried between windows, RNG state) and state.json
(arguments, position in the data, curves). It is written the same atomic way
as a checkpoint, so a kill -9 during the save leaves the previous state intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from data.files import give_usual_mode, swap_in_folder, usual_folder_mode, write_json_atomic
from data.leftovers import remove_stale_temporaries, writer_tag

RESUME_DIRNAME = "resume"
RESUME_STAGING_PREFIX = ".resume.saving-"


def remove_stale_resume_saves(out_dir: str) -> list[str]:
    """Delete ``.resume.saving-*`` folders that a killed save left in ``out_dir`` (never one still being written)."""
    return remove_stale_temporaries(os.path.abspath(out_dir), RESUME_STAGING_PREFIX)


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            elif value is not None:
                scalars.setdefault(str(index), {})[key] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()} for group in state_dict["param_groups"]
    ]
    return tensors, {"scalars": scalars, "param_groups": groups}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = tensor
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_resume_state(
    out_dir: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    hidden: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None,
    info: dict[str, Any],
    tokenizer=None,
) -> str:
    """Write ``out_dir/resume`` atomically and return its path."""
    path = os.path.join(os.path.abspath(out_dir), RESUME_DIRNAME)
    os.makedirs(out_dir, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_meta = optimizer_to_flat(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    if hidden is not None:
        parts = hidden if isinstance(hidden, tuple) else (hidden,)
        for index, part in enumerate(parts):
            tensors[f"hidden.{index}"] = part.detach().cpu().contiguous()
    # A tied decoder shares storage with the embedding; safetensors refuses shared storage.
    tensors = {k: v.clone() for k, v in tensors.items()}
    remove_stale_resume_saves(out_dir)
    staging = tempfile.mkdtemp(dir=out_dir, prefix=f"{RESUME_STAGING_PREFIX}{writer_tag()}-")
    try:
        save_file(tensors, os.path.join(staging, "state.safetensors"))
        write_json_atomic(os.path.join(staging, "state.json"), dict(info, optimizer=optimizer_meta))
        if tokenizer is not None:
            tokenizer.save(os.path.join(staging, "tokenizer.json"))
        # mkdtemp's 0700 (and safetensors' 0600 file) would hide the state from other users.
        os.chmod(staging, usual_folder_mode())
        for name in os.listdir(staging):
            give_usual_mode(os.path.join(staging, name))
        swap_in_folder(staging, path)  # a kill between its two renames leaves resume.previous, found below
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return path


def find_resume_state(path: str) -> str:
    """Accept the run folder or its resume/ folder; fall back to a half-swapped save."""
    path = os.path.abspath(path)
    candidates = [
        path,
        os.path.join(path, RESUME_DIRNAME),
        os.path.join(path, RESUME_DIRNAME + ".previous"),  # a resume save died mid-swap
        os.path.join(path + ".previous", RESUME_DIRNAME),  # a checkpoint save died mid-swap
    ]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "state.json")) and os.path.isfile(
            os.path.join(candidate, "state.safetensors")
        ):
            return candidate
    raise FileNotFoundError(
        f"No resumable state under {path}: expected {os.path.join(path, RESUME_DIRNAME)}/state.json and state.safetensors. "
        "Pass the --out folder of an interrupted run."
    )


def load_resume_state(path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a resumable state: (tensors of state.safetensors, state.json).

    Raises:
        FileNotFoundError: no state under ``path``.
        ValueError: a file that is not JSON / safetensors (pickles are refused) or model weights
            that are NaN or infinite, each named with the way out.
    """
    folder = find_resume_state(path)
    try:
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as stream:
            info = json.load(stream)
    except RecursionError:
        raise ValueError(
            f"{folder}/state.json is not valid JSON (nested too deeply). Delete {folder} to start the run afresh."
        ) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(
            f"{folder}/state.json is not valid JSON ({error}). Delete {folder} to start the run afresh."
        ) from error
    if not isinstance(info, dict):
        raise ValueError(
            f"{folder}/state.json is not valid JSON for a resumable state (not an object). Delete {folder} to start the run afresh."
        )
    try:
        tensors = load_file(os.path.join(folder, "state.safetensors"))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{folder}/state.safetensors is not a readable safetensors file ({error}); it may be truncated or "
            f"another format (pickles are refused). Delete {folder} to start the run afresh."
        ) from error
    for name, tensor in tensors.items():
        if name.startswith("model.") and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(
                f"{folder}/state.safetensors holds non-finite values (NaN or inf) in {name[len('model.') :]}; resuming would "
                f"only train a broken model. Delete {folder} to start afresh (the best checkpoint beside it is kept)."
            )
    return tensors, info


def load_model_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Put the ``model.*`` tensors of a resumable state into ``model``, checking names and shapes first.

    Raises:
        ValueError: naming the first weights that do not fit (the state belongs to another model).
    """
    weights = {name[len("model.") :]: tensor for name, tensor in tensors.items() if name.startswith("model.")}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    wrong = [
        f"{name} {tuple(weights[name].shape)} instead of {tuple(expected[name].shape)}"
        for name in sorted(set(weights) & set(expected))
        if weights[name].shape != expected[name].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"The resumable state in {source} does not fit the model its own state.json describes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {wrong[:3]}). Delete {source}/resume to start afresh."
        )
    model.load_state_dict(weights)


def restore_hidden(tensors: dict[str, torch.Tensor], device: torch.device):
    parts = [tensors[f"hidden.{i}"].to(device) for i in range(2) if f"hidden.{i}" in tensors]
    if not parts:
        return None
    return tuple(parts) if len(parts) == 2 else parts[0]


def corpus_record(corpus_name: str, corpus_files: dict[str, Any], tokenizer_fingerprint: str) -> dict[str, Any]:
    """What a resumable state records of its inputs, so that --resume can prove it gets the same ones.

    Args:
        corpus_name: Corpus.name.
        corpus_files: Corpus.files, split -> {"path", "sha256"} or {"paths", "sha256s", "sha256"}.
        tokenizer_fingerprint: WordTokenizer.fingerprint() of the run's vocabulary.
    """
    return {"name": corpus_name, "files": corpus_files, "tokenizer_sha256": tokenizer_fingerprint}


def _recorded_inputs(saved: dict[str, Any], out_dir: str) -> dict[str, Any] | None:
    """The run's recorded inputs: its resumable state's record, else the best checkpoint's metrics.json
    (a state written before records were kept), else None (nothing to compare with)."""
    record = saved.get("corpus_record")
    if isinstance(record, dict):
        return record
    try:
        with open(os.path.join(out_dir, "metrics.json"), encoding="utf-8") as stream:
            metrics = json.load(stream)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("corpus_files"), dict):
        return None
    return {
        "name": metrics.get("corpus"),
        "files": metrics["corpus_files"],
        "tokenizer_sha256": metrics.get("tokenizer_sha256"),
    }


def _described(record: Any) -> str:
    if not isinstance(record, dict):
        return "nothing"
    paths = record.get("paths") or [record.get("path")]
    digest = str(record.get("sha256", ""))[:12]
    return f"{' + '.join(str(path) for path in paths)} (sha256 {digest}…)"


def check_resume_inputs(
    saved: dict[str, Any], out_dir: str, corpus_name: str, corpus_files: dict[str, Any], tokenizer_fingerprint: str
) -> None:
    """Refuse to resume a run on another corpus or with another vocabulary than it started with.

    A run resumed on other text would continue the schedule and the data position of the first
    text and record the second one in metrics.json: a checkpoint that lies about its training data.

    Raises:
        ValueError: naming the split (or the tokenizer) that differs, both sides, and the way out.
    """
    recorded = _recorded_inputs(saved, out_dir)
    if recorded is None:
        return
    saved_fingerprint = recorded.get("tokenizer_sha256")
    if saved_fingerprint and saved_fingerprint != tokenizer_fingerprint:
        raise ValueError(
            f"--resume {out_dir}: the tokenizer differs from the one the interrupted run used (vocabulary sha256 "
            f"{str(saved_fingerprint)[:12]}… there, {tokenizer_fingerprint[:12]}… now). Resume without --tokenizer (the run's own "
            f"vocabulary is in {out_dir}/resume), or train afresh into another --out."
        )
    saved_files = recorded.get("files") if isinstance(recorded.get("files"), dict) else {}
    if not saved_files and not corpus_files:
        if recorded.get("name") not in (None, corpus_name):
            raise ValueError(
                f"--resume {out_dir}: the corpus differs: the interrupted run trained on {str(recorded.get('name'))[:80]!r}, "
                f"this one reads {corpus_name[:80]!r}. Pass the same corpus flags as the first run."
            )
        return
    for split in sorted(set(saved_files) | set(corpus_files)):
        before, now = saved_files.get(split), corpus_files.get(split)
        digest_before = before.get("sha256") if isinstance(before, dict) else None
        digest_now = now.get("sha256") if isinstance(now, dict) else None
        if digest_before != digest_now:
            raise ValueError(
                f"--resume {out_dir}: the corpus differs in its {split} split: the interrupted run read {_described(before)}, "
                f"this one reads {_described(now)}. Pass the same corpus flags (and unchanged files) as the first run, "
                "or train afresh into another --out."
            )
