"""Small checkpoint files: vocabulary-sized matrices stored as int8 rows with one scale per row.

A 47k-word model spends most of its bytes on the embedding and the decoder's vocabulary-sized
matrices (12M of its 17M values). Stored as float16 it is 34 MB; with those matrices as int8
and everything else as float16 it is about 18 MB. Each row r of such a matrix W is kept as

    q[r] = round(W[r] / s[r]) in [-127, 127],   s[r] = max_c |W[r, c]| / 127

(int8 ``NAME`` beside float16 ``NAME.row_scale`` of shape [rows, 1]) and read back as q * s, so a
value moves by at most s[r] / 2: about 0.4% of the row's largest value. Per-row scales keep a
rare word's small vector from being rounded away by a frequent word's large one.

The storage is chosen with ``storage_dtype=torch.int8`` in save_checkpoint (int8 for matrices of
at least MIN_QUANTIZED_VALUES values, float16 for the rest); ``python -m model.weight_storage SRC
DST --storage int8`` re-saves a trained checkpoint. Loading turns every weight back into float32.
"""

from __future__ import annotations

from typing import Any

import torch

SCALE_SUFFIX = ".row_scale"


# Matrices this large are the vocabulary-sized ones (embedding, softmax head and tails); the
# recurrent weights, which every prediction reads many times over, stay float16.
MIN_QUANTIZED_VALUES = 1_000_000


SCALE_DTYPES = ("F16", "F32")


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """weight [R, C] float -> (int8 [R, C], float16 scale [R, 1]) with weight ≈ q * scale."""
    weight = weight.detach().float()
    largest = weight.abs().amax(dim=1, keepdim=True)  # [R, 1]
    # A zero row keeps scale 1 (any scale gives q = 0); float16 keeps ~3 significant digits of the scale,
    # so q is computed against the rounded scale that will be stored.
    scale = torch.where(largest > 0, largest / 127.0, torch.ones_like(largest)).to(torch.float16)  # [R, 1]
    quantized = torch.round(weight / scale.float()).clamp_(-127, 127).to(torch.int8)  # [R, C]
    return quantized.contiguous(), scale.contiguous()


def pack_state(tensors: dict[str, torch.Tensor], min_values: int | None = None) -> dict[str, torch.Tensor]:
    """Float tensors -> what model.safetensors holds: matrices of at least ``min_values`` values (default
    MIN_QUANTIZED_VALUES) as int8 + row scales, the rest float16."""
    min_values = MIN_QUANTIZED_VALUES if min_values is None else min_values
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            packed[name] = tensor
        elif tensor.dim() == 2 and tensor.numel() >= min_values:
            packed[name], packed[name + SCALE_SUFFIX] = quantize_rows(tensor)
        else:
            packed[name] = tensor.detach().to(torch.float16).contiguous()
    return packed


def unpack_state(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """model.safetensors' tensors -> float weights: int8 matrices times their row scales.

    Raises:
        ValueError: an int8 tensor without its scale, a scale without its matrix, or a scale of the wrong shape.
    """
    weights: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if name.endswith(SCALE_SUFFIX):
            base = name[: -len(SCALE_SUFFIX)]
            if base not in stored or stored[base].dtype != torch.int8:
                raise ValueError(f"{name} scales no int8 matrix {base}; a row scale goes with exactly one int8 weight.")
            continue
        if tensor.dtype == torch.int8:
            scale = stored.get(name + SCALE_SUFFIX)
            if scale is None or tuple(scale.shape) != (tensor.shape[0], 1) or not scale.is_floating_point():
                raise ValueError(
                    f"int8 weight {name} needs a float scale {name + SCALE_SUFFIX} of shape [{tensor.shape[0]}, 1]; "
                    f"got {None if scale is None else tuple(scale.shape)}."
                )
            weights[name] = tensor.float() * scale.float()  # [R, C]
        else:
            weights[name] = tensor
    return weights


def header_problems(header: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Split a safetensors header into the weights' entries and the problems of its int8 parts.

    Returns the header without the scale entries (so it can be compared with what config.json
    implies) and a list of problems: an I8 tensor that is not a matrix or has no scale, a scale
    whose matrix is missing or not I8, or a scale that is not [rows, 1] float16/float32.
    """
    weights = {name: entry for name, entry in header.items() if not name.endswith(SCALE_SUFFIX)}
    problems = []
    for name, entry in header.items():
        if not name.endswith(SCALE_SUFFIX):
            continue
        base = name[: -len(SCALE_SUFFIX)]
        matrix = header.get(base)
        if matrix is None or matrix["dtype"] != "I8":
            problems.append(f"{name} scales no int8 matrix {base}")
        elif entry["dtype"] not in SCALE_DTYPES or entry["shape"] != [matrix["shape"][0] if matrix["shape"] else -1, 1]:
            problems.append(
                f"{name} must be float16 or float32 of shape [rows, 1]; got {entry['dtype']} {entry['shape']}"
            )
    for name, entry in weights.items():
        if entry["dtype"] == "I8" and (len(entry["shape"]) != 2 or name + SCALE_SUFFIX not in header):
            problems.append(f"int8 weight {name} must be a matrix with a row scale {name + SCALE_SUFFIX}")
    return weights, problems
