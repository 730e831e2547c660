"""CycleGANTrainer: one iteration's updates, gradients, loss values against a manual computation, reproducibility."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from ignite.engine import Events
from monai.data import MetaTensor

from medtranslate.engines import GENERATOR_LOSS_KEYS, IMAGE_KEYS, LOSS_KEYS, CycleGANTrainer, prepare_cyclegan_batch


def _params(trainer: CycleGANTrainer) -> dict[str, list[torch.Tensor]]:
    nets = {"g_a": trainer.g_a, "g_b": trainer.g_b, "d_a": trainer.d_a, "d_b": trainer.d_b}
    return {k: [p.detach().clone() for p in n.parameters()] for k, n in nets.items()}


def test_one_iteration_changes_all_four_networks(make_trainer):
    trainer = make_trainer(n_items=2)
    before = _params(trainer)
    trainer.run()
    assert trainer.state.iteration == 1
    after = _params(trainer)
    for name in before:
        assert all(not torch.equal(b, a) for b, a in zip(before[name], after[name], strict=True)), name


def test_discriminators_get_no_gradient_from_generator_step(make_trainer):
    trainer = make_trainer(n_items=2, optim_set_to_none=True)
    seen = {}
    g_step = trainer.g_optimizer.step

    def spy(*args, **kwargs):  # runs after the generator backward, before the discriminator step
        d_params = [*trainer.d_a.parameters(), *trainer.d_b.parameters()]
        seen["grads"] = [p.grad for p in d_params]
        seen["requires_grad"] = [p.requires_grad for p in d_params]
        seen["g_grads"] = [p.grad is not None for p in trainer.g_a.parameters()]
        return g_step(*args, **kwargs)

    trainer.g_optimizer.step = spy
    trainer.run()
    assert all(g is None for g in seen["grads"])
    assert not any(seen["requires_grad"])
    assert all(seen["g_grads"])
    assert all(p.requires_grad for p in trainer.d_a.parameters())  # unfrozen again for the D step


def test_loss_components_match_a_manual_computation(make_trainer):
    trainer = make_trainer(n_items=2)
    nets = {k: copy.deepcopy(getattr(trainer, k)) for k in ("g_a", "g_b", "d_a", "d_b")}
    batch = next(iter(trainer.data_loader))
    trainer.data_loader = [batch]  # the very batch the manual computation uses
    trainer.run()
    out = trainer.state.output

    real_a, real_b = batch["ct"], batch["mri"]
    with torch.no_grad():
        fake_b, fake_a = nets["g_a"](real_a), nets["g_b"](real_b)
        rec_a, rec_b = nets["g_b"](fake_b), nets["g_a"](fake_a)
        ones = lambda t: torch.ones_like(t)  # noqa: E731
        expected = {
            "G_A": F.mse_loss(nets["d_a"](fake_b), ones(nets["d_a"](fake_b))),
            "G_B": F.mse_loss(nets["d_b"](fake_a), ones(nets["d_b"](fake_a))),
            "cycle_A": 10 * (rec_a - real_a).abs().mean(),
            "cycle_B": 10 * (rec_b - real_b).abs().mean(),
            "idt_A": 5 * (nets["g_a"](real_b) - real_b).abs().mean(),
            "idt_B": 5 * (nets["g_b"](real_a) - real_a).abs().mean(),
            # the pool is not full yet: the discriminators see this batch's fakes
            "D_A": 0.5 * ((nets["d_a"](real_b) - 1).pow(2).mean() + nets["d_a"](fake_b).pow(2).mean()),
            "D_B": 0.5 * ((nets["d_b"](real_a) - 1).pow(2).mean() + nets["d_b"](fake_a).pow(2).mean()),
        }
    for key, value in expected.items():
        assert out[key] == pytest.approx(float(value), rel=1e-5, abs=1e-7), key
    assert out["loss_G"] == pytest.approx(sum(out[k] for k in GENERATOR_LOSS_KEYS), rel=1e-6)
    assert out["loss_D"] == pytest.approx(out["D_A"] + out["D_B"], rel=1e-6)
    assert torch.equal(out["real_A"], real_a) and torch.allclose(out["fake_B"], fake_b)
    assert torch.allclose(out["rec_A"], rec_a) and torch.allclose(out["rec_B"], rec_b)


def test_output_layout_and_no_identity(make_trainer):
    trainer = make_trainer(n_items=2, lambda_identity=0.0)
    trainer.run()
    out = trainer.state.output
    assert set(out) == {*LOSS_KEYS, "loss_G", "loss_D", *IMAGE_KEYS}
    assert all(isinstance(out[k], float) for k in (*LOSS_KEYS, "loss_G", "loss_D"))
    assert all(not out[k].requires_grad and out[k].shape == (2, 1, 16, 16) for k in IMAGE_KEYS)
    assert out["idt_A"] == 0.0 and out["idt_B"] == 0.0
    assert len(trainer.pool_a) == 2 and len(trainer.pool_b) == 2


def _losses_of_run(trainer: CycleGANTrainer) -> list[list[float]]:
    losses: list[list[float]] = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: losses.append([e.state.output[k] for k in LOSS_KEYS])
    )
    trainer.run()
    return losses


def test_seeded_runs_are_bitwise_reproducible(make_trainer):
    first = make_trainer(seed=3, max_epochs=2)
    losses_1 = _losses_of_run(first)
    second = make_trainer(seed=3, max_epochs=2)
    losses_2 = _losses_of_run(second)
    assert len(losses_1) == 4 and losses_1 == losses_2
    for p, q in zip(first.g_a.parameters(), second.g_a.parameters(), strict=True):
        assert torch.equal(p, q)
    third = make_trainer(seed=4, max_epochs=2)
    assert _losses_of_run(third) != losses_1


def test_amp_is_ignored_on_a_cpu_without_bf16_with_a_warning(make_trainer, monkeypatch):
    monkeypatch.setattr("medtranslate.precision.cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="amp=True is ignored"):
        trainer = make_trainer(n_items=2, amp=True)
    assert trainer.amp is False and trainer.g_scaler is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.run()
    assert "g_scaler" not in trainer.checkpoint_objects()


def test_amp_on_cpu_trains_in_bf16_and_stays_close_to_fp32(make_trainer):
    """Forced bf16 autocast (native or not, the numbers are the same): no scaler, float losses near fp32's."""
    losses_fp32 = _losses_of_run(make_trainer(seed=3, max_epochs=2))  # each run right after its seeding
    bf16 = make_trainer(seed=3, max_epochs=2, amp=True, amp_kwargs={"dtype": torch.bfloat16})
    assert bf16.amp and bf16.amp_dtype == torch.bfloat16 and bf16.g_scaler is None
    seen = []
    bf16.g_a.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    losses_bf16 = _losses_of_run(bf16)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    assert len(losses_bf16) == len(losses_fp32) == 4
    for a, b in zip(losses_fp32, losses_bf16, strict=True):  # the eight weighted components per iteration
        assert b == pytest.approx(a, rel=0.1, abs=0.02)


def test_prepare_batch_strips_metatensors_and_checks_keys():
    batch = {"ct": MetaTensor(torch.zeros(1, 1, 4, 4)), "mri": torch.ones(1, 1, 4, 4), "ct_path": ["a"]}
    real_a, real_b = prepare_cyclegan_batch(batch, "cpu")
    assert type(real_a) is torch.Tensor and torch.equal(real_b, torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="'ct' and 'mri'"):
        prepare_cyclegan_batch({"ct": torch.zeros(1)}, "cpu")


def test_custom_keys(make_trainer):
    trainer = make_trainer(n_items=2, ct_key="A", mri_key="B")
    items = [{"A": b["ct"], "B": b["mri"]} for b in trainer.data_loader]
    trainer.data_loader = items
    trainer.run()
    assert trainer.state.output["real_A"].shape == (2, 1, 16, 16)


def test_channels_last_trains_like_the_default_layout(make_trainer):
    """NHWC networks and batches: the same losses but for rounding (other kernels sum in another order)."""
    losses = _losses_of_run(make_trainer(seed=3, max_epochs=2))  # each run right after its seeding
    nhwc = make_trainer(seed=3, max_epochs=2, channels_last=True)
    conv = next(m for m in nhwc.g_a.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(losses, _losses_of_run(nhwc), strict=True):
        assert b == pytest.approx(a, rel=1e-2, abs=1e-4)


@pytest.mark.slow  # inductor compiles forward and backward of four networks (20-60 s on a shared 2-core CPU)
def test_the_compiled_bf16_fast_path_stays_within_ten_percent_of_fp32(make_trainer):
    fp32 = make_trainer(seed=3, max_epochs=2)
    losses_fp32 = _losses_of_run(fp32)
    fast = make_trainer(
        seed=3, max_epochs=2, amp=True, amp_kwargs={"dtype": torch.bfloat16}, compile=True, channels_last=True
    )
    losses_fast = _losses_of_run(fast)
    assert all(net.compiled for net in fast.training_networks.values())  # a C++ compiler is there in CI
    for a, b in zip(losses_fp32, losses_fast, strict=True):
        assert b == pytest.approx(a, rel=0.1, abs=0.02)
    assert set(fast.checkpoint_objects()["g_a"].state_dict()) == set(fp32.g_a.state_dict())  # plain keys
