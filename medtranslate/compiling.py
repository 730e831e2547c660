"""``torch.compile`` where it can run, eager PyTorch where it cannot: the one home of the compiled fast paths.

Inductor needs a C++ compiler on the CPU and Triton on CUDA; a missing toolchain or a compiler failure must never
stop a translation or a training run, so :class:`CompiledOrEager` tries the compiled callable on its first call
and, if compiling fails, says so in one warning line and runs the eager module from then on. Compiled graphs
are cached by inductor on disk (``TORCHINDUCTOR_CACHE_DIR``, by default under the system's temporary folder), so
a second process compiling the same network and shapes spends a fraction of the first one's time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["CompiledOrEager", "compile_unavailable_reason", "training_compile_pays"]


def compile_unavailable_reason(device: torch.device | str) -> str | None:
    """Why ``torch.compile`` (inductor) cannot run on ``device`` here, or ``None`` when it can.

    CPU: a C++ compiler (``CXX``, ``g++``, ``c++`` or ``clang++`` on ``PATH``); CUDA: the ``triton`` package.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") is not None else "triton is not installed"
    if device.type == "cpu":
        candidates = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
        return None if any(c and shutil.which(c) for c in candidates) else "no C++ compiler on PATH (g++/clang++)"
    return f"inductor does not target {device.type}"


class CompiledOrEager:
    """Call ``torch.compile(module)``; if compiling is unavailable or fails, warn once and call ``module``.

    Args:
        module: the network (parameters shared with the compiled callable; its ``state_dict`` is unchanged).
        device: where it runs (for the toolchain check).
        freezing: inductor's ``freezing`` (weights folded into the graph as constants: inference only).
        what: how the warning names the network, e.g. ``"the generator"``.
        options: further arguments of ``torch.compile`` (default ``dynamic=False``: static shapes).
    """

    def __init__(
        self, module: torch.nn.Module, device: torch.device | str, freezing: bool = False, what: str = "the network",
        **options: Any,
    ) -> None:
        self.module = module
        self.freezing = freezing
        self.what = what
        reason = compile_unavailable_reason(device)
        self._compiled: Callable[..., Any] | None = None
        if reason is not None:
            self._fall_back(reason)
        else:
            self._compiled = torch.compile(module, **{"dynamic": False, **options})

    @property
    def compiled(self) -> bool:
        """Whether calls run the compiled graph (False once it has fallen back to eager)."""
        return self._compiled is not None

    def _fall_back(self, reason: str) -> None:
        warnings.warn(f"torch.compile unavailable for {self.what} ({reason}): running it eager", stacklevel=3)
        self._compiled = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            return self.module(*args, **kwargs)
        import torch._inductor.config as inductor_config

        try:
            with inductor_config.patch(freezing=self.freezing):
                return self._compiled(*args, **kwargs)
        except (torch._dynamo.exc.BackendCompilerFailed, torch._dynamo.exc.InternalTorchDynamoError, OSError) as exc:
            self._fall_back(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            return self.module(*args, **kwargs)


def training_compile_pays(device: torch.device | str, image_size: int) -> bool:
    """Whether ``CycleGANTrainer(compile=True)`` is measured to pay back its compile (1-2 minutes) on ``device``.

    Measured (``docs/performance.md``): on CPUs with native bf16 at 256² (1.2-1.5× eager bf16 per iteration,
    compile repaid in ~100-200 iterations), not at the 64² default recipe (no gain, 85 s of compiling); not yet on
    CUDA or on CPUs without native bf16, so ``False`` there until a measurement says otherwise.
    """
    from medtranslate.precision import autocast_dtype

    device = torch.device(device)
    return device.type == "cpu" and autocast_dtype(device) == torch.bfloat16 and image_size >= 256
