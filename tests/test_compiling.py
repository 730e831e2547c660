"""CompiledOrEager: compiled where inductor can run, the eager module with one warning where it cannot."""

from __future__ import annotations

import warnings

import pytest
import torch

from medtranslate import compiling
from medtranslate.compiling import CompiledOrEager, compile_unavailable_reason


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Tanh()).eval()


def test_a_missing_toolchain_runs_eager_with_one_warning(monkeypatch) -> None:
    monkeypatch.setattr(compiling.shutil, "which", lambda _name: None)
    monkeypatch.delenv("CXX", raising=False)
    assert "C++ compiler" in compile_unavailable_reason("cpu")
    net, x = _net(), torch.rand(1, 1, 8, 8)
    with pytest.warns(UserWarning, match=r"torch.compile unavailable for the net \(no C\+\+ compiler"):
        run = CompiledOrEager(net, "cpu", what="the net")
    assert not run.compiled
    assert torch.equal(run(x), net(x))


def test_a_compiler_failure_falls_back_to_eager_once(monkeypatch) -> None:
    def failing(*_args, **_kwargs):
        raise torch._dynamo.exc.BackendCompilerFailed(lambda *a: None, RuntimeError("cc1plus: fatal error"), None)

    monkeypatch.setattr(compiling, "compile_unavailable_reason", lambda _device: None)
    monkeypatch.setattr(torch, "compile", lambda module, **_kw: failing)
    net, x = _net(), torch.rand(1, 1, 8, 8)
    run = CompiledOrEager(net, "cpu", what="the net")
    with pytest.warns(UserWarning, match="torch.compile unavailable for the net.*BackendCompilerFailed"):
        out = run(x)
    assert not run.compiled and torch.equal(out, net(x))
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        assert torch.equal(run(x), out)  # eager from then on, without a second warning
    assert not later


def test_errors_of_the_network_itself_are_not_swallowed(monkeypatch) -> None:
    monkeypatch.setattr(compiling, "compile_unavailable_reason", lambda _device: None)
    monkeypatch.setattr(torch, "compile", lambda module, **_kw: module)
    run = CompiledOrEager(_net(), "cpu")
    with pytest.raises(RuntimeError, match="channels"):
        run(torch.rand(1, 3, 8, 8))
