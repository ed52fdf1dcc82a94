"""Matrix products for the no-grad analyses through oneDNN, where that is faster than PyTorch's default.

PyTorch's CPU wheel sends ``F.linear`` / ``torch.matmul`` in float32 to MKL. On
AMD processors MKL takes its AVX2 code path, so on this project's machine (AMD
EPYC, family 26, full-width AVX-512) a [4000, 512] x [512, 2002] product runs at
about 205 GFLOP/s, while oneDNN - which PyTorch also ships, and which its fused
LSTM already uses - runs the same product with AVX-512 at about 480 GFLOP/s, in
the same float32 arithmetic (``python -m bench.analysis_latency`` prints both).
The exact analyses (all-pairs gradients, occlusion) are almost all such
products, so they go through :class:`PreparedLinear`:

    prepared = PreparedLinear(weight)          # [Out, In], made contiguous once
    prepared(x)                                # x [..., In] -> x W^T + b, [..., Out]

The oneDNN entry point is ``torch.ops.mkldnn._linear_pointwise``, the op that
PyTorch's own compiler (Inductor) emits for CPU linear layers: dense tensors in
and out, so no layout conversions. It is an internal op, so it is used only after
a one-time probe in this process shows it present and equal to ``F.linear``.
Whether oneDNN is faster depends on the CPU: on an AVX2-only machine, or under
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``, it was slower than MKL. So by
default a second one-time probe times both on a product of the analyses' size and
keeps oneDNN only where it is clearly faster (:func:`onednn_is_faster`).
Everything falls back to ``F.linear`` wherever oneDNN does not apply: tensors
that need autograd, other dtypes or devices, a build without oneDNN or without
the op, empty inputs, a CPU where the probe found it slower, and whenever
:func:`set_enabled` turned it off (the bench forces each way, to compare). A transposed weight view is copied at preparation, so prepare
per analysis call and never keep one across a change of the model's weights.
"""

from __future__ import annotations

import functools
import time

import torch
from torch import nn
from torch.nn import functional

# None: oneDNN where the speed probe finds it faster (the default); True: wherever it works; False: never.
_STATE: dict[str, bool | None] = {"enabled": None}
# oneDNN is kept when it is at least as fast as F.linear on the probe's product. The probe's one product
# understates what the whole analysis gains (bench/analysis_latency.py prints both), so a higher bar would drop
# real gains; where oneDNN is clearly slower (AVX2-only CPUs) the probe reads well below 1.
_FASTER_BY = 1.0


@functools.lru_cache(maxsize=1)
def onednn_linear_works() -> bool:
    """Whether this PyTorch build has oneDNN's dense linear op and it agrees with ``F.linear`` (probed once)."""
    operator = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    if operator is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        inputs, weight, bias = (torch.randn(*shape, generator=generator) for shape in ((5, 24), (7, 24), (7,)))
        result = operator(inputs, weight, bias, "none", [], "")
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return (
        isinstance(result, torch.Tensor)
        and not result.is_mkldnn
        and torch.allclose(result, functional.linear(inputs, weight, bias), rtol=1e-5, atol=1e-5)
    )


@functools.lru_cache(maxsize=1)
def onednn_speedup() -> float:
    """F.linear time / oneDNN time on a product of the analyses' size, measured once in this process (0 if unusable).

    The product is [512, 512] x [512, 2048]: a block of the recorded sweep's gate gradients against W_hh
    (hidden 512, four gates), about 1 GFLOP; best of three runs each after a warm-up, about 0.1 s in all.
    """
    if not onednn_linear_works():
        return 0.0
    generator = torch.Generator().manual_seed(0)
    inputs, weight = torch.randn(512, 512, generator=generator), torch.randn(2048, 512, generator=generator)

    def best(run) -> float:
        run()  # warm-up: kernel selection and first-touch of the output
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    with torch.no_grad():
        mkl = best(lambda: functional.linear(inputs, weight))
        dnn = best(lambda: torch.ops.mkldnn._linear_pointwise(inputs, weight, None, "none", [], ""))
    return mkl / dnn if dnn > 0 else 0.0


def onednn_is_faster() -> bool:
    """Whether oneDNN was at least as fast as F.linear in this process's one-time probe."""
    return onednn_speedup() >= _FASTER_BY


def set_enabled(enabled: bool | None) -> None:
    """Route prepared products through oneDNN where the probe finds it faster (None, the default), wherever it
    works (True), or never (False: always ``F.linear``)."""
    _STATE["enabled"] = None if enabled is None else bool(enabled)


def enabled() -> bool:
    """Whether new :class:`PreparedLinear` objects may use oneDNN (not switched off)."""
    return _STATE["enabled"] is not False


def active() -> bool:
    """Whether float32 CPU products of new :class:`PreparedLinear` objects go through oneDNN here."""
    if _STATE["enabled"] is False or not onednn_linear_works():
        return False
    return True if _STATE["enabled"] else onednn_is_faster()


def _onednn_applies(weight: torch.Tensor) -> bool:
    return (
        weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and weight.dim() == 2
        and weight.numel() > 0
        and active()
    )


class PreparedLinear:
    """``y = x W^T + b`` through oneDNN with the weight made contiguous once; ``F.linear`` where oneDNN does not apply.

    Args:
        weight: [Out, In] (any strides: a transposed view is made contiguous first).
        bias: [Out] or None.

    Example:
        >>> backward = PreparedLinear(weight_hh.t())   # then backward(dh) == dh @ weight_hh
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        self.weight = weight.detach()
        self.bias = None if bias is None else bias.detach()
        self.uses_onednn = _onednn_applies(self.weight)
        if self.uses_onednn:
            self.weight = self.weight.contiguous()  # a transposed view becomes its own [Out, In] copy, once
            self.bias = None if self.bias is None else self.bias.contiguous()

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs [..., In] -> [..., Out]."""
        if (
            not self.uses_onednn
            or inputs.dtype != torch.float32
            or inputs.device.type != "cpu"
            or inputs.numel() == 0
            or (inputs.requires_grad and torch.is_grad_enabled())
        ):
            return functional.linear(inputs, self.weight, self.bias)
        flat = inputs.reshape(-1, inputs.shape[-1]).contiguous()  # [N, In]
        result = torch.ops.mkldnn._linear_pointwise(flat, self.weight, self.bias, "none", [], "")  # [N, Out]
        return result.reshape(*inputs.shape[:-1], result.shape[-1])


class PreparedSequential:
    """Linear layers applied in turn (an adaptive-softmax tail: a projection, then the cluster's words)."""

    def __init__(self, layers: list[PreparedLinear]) -> None:
        self.layers = layers

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            inputs = layer(inputs)
        return inputs


class PreparedDecoder:
    """The model's decoder with every linear layer prepared: same call surface as the module it mirrors.

    For ``decoder="full"`` it is callable like the ``nn.Linear``; for the adaptive softmax it
    has ``head``, ``tail``, ``shortlist_size`` and ``cutoffs`` like ``nn.AdaptiveLogSoftmaxWithLoss``,
    so :func:`model.analysis.targets.selected_log_probs` reads either the module or this.
    """

    def __init__(self, decoder: nn.Module) -> None:
        if isinstance(decoder, nn.Linear):
            self.full = PreparedLinear(decoder.weight, decoder.bias)
            return
        if not isinstance(decoder, nn.AdaptiveLogSoftmaxWithLoss):
            raise ValueError(
                f"decoder must be nn.Linear or nn.AdaptiveLogSoftmaxWithLoss; got {type(decoder).__name__}."
            )
        self.full = None
        self.shortlist_size = decoder.shortlist_size
        self.cutoffs = decoder.cutoffs
        self.head = PreparedLinear(decoder.head.weight, decoder.head.bias)
        self.tail = [
            PreparedSequential([PreparedLinear(layer.weight, layer.bias) for layer in cluster])
            for cluster in decoder.tail
        ]

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.full is None:
            raise TypeError("An adaptive-softmax decoder is read through head and tail, not called.")
        return self.full(inputs)
