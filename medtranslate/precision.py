"""Which reduced precision a device runs natively: the one switch behind ``amp`` in training and translation.

Mixed precision pays only where the hardware has it: CUDA (bf16 on Ampere and later, fp16 otherwise) and CPUs
with bf16 instructions (AVX512-BF16, also present with AMX: AMD Zen 4, Intel Cooper Lake / Sapphire Rapids), where
oneDNN runs bf16 convolutions faster than fp32 (measured in ``docs/performance.md``). On other CPUs bf16 is
emulated and much slower than fp32, so it is never chosen there.
"""

from __future__ import annotations

import os

import torch

__all__ = ["autocast_dtype", "cpu_has_native_bf16"]


#: oneDNN ISA caps (``ONEDNN_MAX_CPU_ISA``) that still include its bf16 kernels
_BF16_ISAS = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10")


def cpu_has_native_bf16() -> bool:
    """Whether PyTorch's oneDNN will run bf16 convolutions with this CPU's bf16 instructions (AVX512-BF16/AMX).

    False when the CPU lacks them, when oneDNN is disabled (``torch.backends.mkldnn.enabled``) or when
    ``ONEDNN_MAX_CPU_ISA``/``DNNL_MAX_CPU_ISA`` caps it below them: bf16 would then be emulated, 2-200× slower.
    """
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    if not cap.startswith(_BF16_ISAS):
        return False
    return bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The ``torch.autocast`` dtype that is native on ``device``, or ``None`` where only float32 is fast.

    CUDA: bf16 on compute capability 8.0 and later (Ampere+), else fp16 (which needs a ``GradScaler`` in
    training). CPU: bf16 where :func:`cpu_has_native_bf16`. Other devices: ``None``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None
