"""Which reduced precision a device runs natively: the one switch behind ``amp`` in training and translation.

Mixed precision pays only where the hardware has it: CUDA (bf16 on Ampere and later, fp16 otherwise) and CPUs
with bf16 instructions (AVX512-BF16 or AMX, e.g. AMD Zen 4, Intel Cooper Lake / Sapphire Rapids), where oneDNN
runs bf16 convolutions about 2× faster than fp32 (``docs/performance.md``). On other CPUs bf16 is emulated and
slower than fp32, so it is never chosen there.
"""

from __future__ import annotations

import torch

__all__ = ["autocast_dtype", "cpu_has_native_bf16"]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic instructions (AVX512-BF16 or AMX) that PyTorch's oneDNN uses."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return torch.backends.mkldnn.is_available() and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The ``torch.autocast`` dtype that is native on ``device``, or ``None`` where only float32 is fast.

    CUDA: bf16 where supported, else fp16 (which needs a ``GradScaler`` in training). CPU: bf16 with native
    instructions. Other devices: ``None``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None
