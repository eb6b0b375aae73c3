"""StyleGAN2Loss: every lazy-regularisation phase runs (R1 and path length double-backward through ganctl.ops),
leaves gradients only where they belong, stays finite through optimiser steps, and keeps its state in pl_mean."""

from __future__ import annotations

import pytest
import torch

from ganctl.losses.stylegan2 import DEFAULTS, PHASES, StyleGAN2Loss
from ganctl.models.stylegan2 import DEFAULTS as MODEL_DEFAULTS
from ganctl.models.stylegan2 import build

TINY = {**MODEL_DEFAULTS, "z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16,
        "d_cmap_layers": 1}
RES = 16


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def setup(classes=0, **loss_cfg):
    torch.manual_seed(0)
    G, D = build(TINY, RES, 3, classes)
    loss = StyleGAN2Loss(G, D, {**DEFAULTS, **loss_cfg}, "cpu")
    return G, D, loss


def batch(n=4, classes=0):
    real = torch.rand(n, 3, RES, RES) * 2 - 1
    c = torch.randint(0, classes, (n,)) if classes else None
    return real, c, torch.randn(n, 16), c


def grads(module):
    return [p.grad for p in module.parameters() if p.grad is not None]


def zero(*modules):
    for m in modules:
        for p in m.parameters():
            p.grad = None


@pytest.mark.parametrize("phase, classes", [(p, 0) for p in PHASES] + [("Gboth", 5), ("Dboth", 5)])
def test_each_phase_puts_finite_gradients_only_into_its_network(phase, classes):
    G, D, loss = setup(classes)
    real, real_c, z, c = batch(classes=classes)
    stats = loss.accumulate_gradients(phase, real, real_c, z, c, gain=1.0, cur_nimg=0)
    trained, other = (G, D) if phase.startswith("G") else (D, G)
    assert grads(trained) and all(g.isfinite().all() for g in grads(trained))
    assert not grads(other)
    assert stats and all(isinstance(v, float) for v in stats.values())
    want = {"Gmain": "Loss/G/loss", "Greg": "Loss/pl_penalty", "Dmain": "Loss/D/loss", "Dreg": "Loss/r1_penalty"}
    for part, key in want.items():
        if part == phase or (phase.endswith("both") and part[0] == phase[0]):
            assert key in stats


def test_optimisation_steps_of_every_phase_stay_finite():
    G, D, loss = setup()
    opt_G = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    before = [p.detach().clone() for p in G.parameters()]
    for step in range(1):
        for phase in PHASES:
            opt = opt_G if phase.startswith("G") else opt_D
            opt.zero_grad(set_to_none=True)
            gain = 4.0 if phase in ("Greg", "Dreg") else 1.0
            stats = loss.accumulate_gradients(phase, *batch(), gain=gain, cur_nimg=step * 4)
            assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), (phase, stats)
            opt.step()
    for p in list(G.parameters()) + list(D.parameters()):
        assert p.isfinite().all()
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_r1_penalty_equals_gamma_half_squared_gradient_norm():
    G, D, loss = setup(r1_gamma=3.0)
    real = torch.rand(4, 3, RES, RES) * 2 - 1
    stats = loss.accumulate_gradients("Dreg", real, None, torch.randn(4, 16), None, gain=1.0)
    x = real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x, None).sum(), x)
    assert stats["Loss/r1_penalty"] == pytest.approx(float(g.square().sum([1, 2, 3]).mean()), rel=1e-4)
    # The penalty's gradient reached D's weights through the double backward of conv, bias_act and upfirdn2d.
    assert grads(D) and any(gr.abs().sum() > 0 for gr in grads(D))
    assert D.b16.conv1.weight.grad is not None and D.b16.conv1.weight.grad.abs().sum() > 0


def test_regularisers_off_give_no_work():
    G, D, loss = setup(r1_gamma=0.0, pl_weight=0.0)
    assert loss.accumulate_gradients("Dreg", *batch(), gain=16.0) == {}
    assert loss.accumulate_gradients("Greg", *batch(), gain=4.0) == {}
    assert not grads(G) and not grads(D)
    assert "Loss/r1_penalty" not in loss.accumulate_gradients("Dboth", *batch(), gain=1.0)


def test_path_length_mean_is_a_saved_buffer_that_tracks_the_lengths():
    G, D, loss = setup(pl_decay=0.5)
    assert list(loss.state_dict()) == ["pl_mean"]
    assert float(loss.pl_mean) == 0
    s1 = loss.accumulate_gradients("Greg", *batch(), gain=4.0)
    assert float(loss.pl_mean) == pytest.approx(s1["Loss/pl_mean"]) and float(loss.pl_mean) > 0
    s2 = loss.accumulate_gradients("Greg", *batch(), gain=4.0)
    assert s2["Loss/pl_mean"] != s1["Loss/pl_mean"]
    fresh = StyleGAN2Loss(G, D, DEFAULTS, "cpu")
    fresh.load_state_dict(loss.state_dict())
    assert float(fresh.pl_mean) == float(loss.pl_mean)


def test_w_avg_tracks_in_Gmain_only():
    G, D, loss = setup()
    loss.accumulate_gradients("Dmain", *batch(), gain=1.0)
    assert G.w_avg.abs().sum() == 0
    loss.accumulate_gradients("Gmain", *batch(), gain=1.0)
    assert G.w_avg.abs().sum() > 0


def test_style_mixing_probability():
    G, D, loss = setup(style_mixing_prob=1.0)
    z = torch.randn(4, 16)
    _, ws = loss.run_G(z, None)
    plain = G.mapping(z, None)
    mixed_layers = (ws - plain).abs().sum(dim=(0, 2)) > 0
    k = int(mixed_layers.float().argmax())
    assert 1 <= k < G.num_ws and not mixed_layers[:k].any() and mixed_layers[k:].all()
    loss.style_mixing_prob = 0.0
    _, ws = loss.run_G(z, None)
    assert torch.equal(ws, plain)


def test_same_seed_same_gradients():
    out = []
    for _ in range(2):
        G, D, loss = setup()
        torch.manual_seed(123)
        loss.accumulate_gradients("Gboth", *batch(), gain=1.0)
        out.append(torch.cat([g.flatten() for g in grads(G)]))
    assert torch.equal(out[0], out[1])


def test_unknown_phase():
    _, _, loss = setup()
    with pytest.raises(ValueError, match="phase"):
        loss.accumulate_gradients("Gfoo", *batch(), gain=1.0)
