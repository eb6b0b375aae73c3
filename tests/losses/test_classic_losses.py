"""The classic losses (non-saturating, hinge, Wasserstein + GP + drift, LSGAN; label smoothing, feature matching,
d_steps): what AdversarialLoss reports and the gradients it leaves equal hand-written formulas on a tiny G and D with
known weights; then short CLI runs of each loss on real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint
from ganctl.losses.adversarial import DEFAULTS_BY_TYPE, AdversarialLoss

N = 4


class TinyG(nn.Module):
    """z (N, 2) -> a 1x2x2 image, linear with fixed weights."""

    z_dim = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[0.5, -0.3, 0.8, 0.1], [-0.2, 0.7, 0.4, -0.6]]))

    def forward(self, z, c=None):
        return (z @ self.w).view(-1, 1, 2, 2)


class TinyD(nn.Module):
    """img -> features tanh(x W1) (N, 3) -> logit f . w2 + b. Nonlinear, so the gradient penalty depends on x."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor([[0.9, -0.4, 0.3], [0.2, 0.8, -0.5], [-0.7, 0.1, 0.6], [0.4, -0.3, -0.9]]))
        self.w2 = nn.Parameter(torch.tensor([1.2, -0.8, 0.5]))
        self.b = nn.Parameter(torch.tensor(0.1))

    def forward(self, img, c=None, return_features=False):
        f = torch.tanh(img.flatten(1) @ self.w1)
        out = (f @ self.w2 + self.b)[:, None]
        return (out, f) if return_features else out


def _batch():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(N, 1, 2, 2, generator=g)
    z = torch.randn(N, 2, generator=g)
    return real, z


def _make(loss_type, **overrides):
    G, D = TinyG(), TinyD()
    cfg = {"type": loss_type, **DEFAULTS_BY_TYPE[loss_type], **overrides}
    return G, D, AdversarialLoss(G, D, cfg, torch.device("cpu"))


def _run(loss, G, D, phase, real, z, gain=1.0, seed=7):
    """One phase as the engine runs it: only the phase's network takes gradients."""
    trained, frozen = (G, D) if phase == "Gboth" else (D, G)
    trained.requires_grad_(True)
    frozen.requires_grad_(False)
    torch.manual_seed(seed)
    stats = loss.accumulate_gradients(phase, real, None, z, None, gain, 0)
    return stats, {n: p.grad.clone() for n, p in trained.named_parameters()}


def _grads(module, value):
    module.requires_grad_(True)
    return dict(zip([n for n, _ in module.named_parameters()], torch.autograd.grad(value, list(module.parameters()))))


# Hand-written formulas on logits r (real) and f (fake), written from the papers, not from ganctl's code.
def _bce(logit, target):
    p = torch.sigmoid(logit)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p))


D_FORMULAS = {
    "nonsaturating": lambda r, f, s: _bce(r, 1 - s) + _bce(f, 0.0),
    "hinge": lambda r, f, s: torch.clamp(1 - r, min=0) + torch.clamp(1 + f, min=0),
    "wasserstein": lambda r, f, s: f - r,
    "lsgan": lambda r, f, s: (r - (1 - s)) ** 2 + f**2,
}
G_FORMULAS = {
    "nonsaturating": lambda f: -torch.log(torch.sigmoid(f)),
    "hinge": lambda f: -f,
    "wasserstein": lambda f: -f,
    "lsgan": lambda f: (f - 1) ** 2,
}


def _d_by_hand(D, x):
    """D(x) and dD/dx written out: logit = tanh(x W1) . w2 + b, so dlogit/dx = W1 ((1 - tanh^2) * w2)."""
    h = torch.tanh(x.flatten(1) @ D.w1)
    return h @ D.w2 + D.b, ((1 - h**2) * D.w2) @ D.w1.t()


# Label smoothing applies to the losses with a real target (non-saturating, LSGAN).
@pytest.mark.parametrize("loss_type,smoothing", [("nonsaturating", 0.0), ("nonsaturating", 0.2), ("hinge", 0.0),
                                                 ("wasserstein", 0.0), ("lsgan", 0.0), ("lsgan", 0.2)])
def test_d_loss_stats_and_gradients_equal_the_formulas(loss_type, smoothing):
    real, z = _batch()
    G, D, loss = _make(loss_type, label_smoothing=smoothing)
    gain = 0.5
    stats, grads = _run(loss, G, D, "Dboth", real, z, gain)

    fake = (z @ G.w).view(-1, 1, 2, 2).detach()
    r, _ = _d_by_hand(D, real)
    f, _ = _d_by_hand(D, fake)
    adv = D_FORMULAS[loss_type](r, f, smoothing).mean()
    total = adv
    assert stats["Loss/D/loss"] == pytest.approx(adv.item(), rel=1e-6)
    assert stats["Scores/real"] == pytest.approx(r.mean().item(), rel=1e-6)
    assert stats["Scores/fake"] == pytest.approx(f.mean().item(), rel=1e-6)
    if loss_type == "wasserstein":
        torch.manual_seed(7)
        alpha = torch.rand(N, 1, 1, 1)  # the interpolation weights the loss draws (the only draw in the phase)
        x_hat = alpha * real + (1 - alpha) * fake
        _, dx = _d_by_hand(D, x_hat)
        gp = ((dx.norm(dim=1) - 1) ** 2).mean()
        assert stats["Loss/D/gp"] == pytest.approx(gp.item(), rel=1e-5)
        assert gp.item() > 1e-3  # a penalty that is really there
        total = adv + DEFAULTS_BY_TYPE["wasserstein"]["drift"] * (r**2).mean() + DEFAULTS_BY_TYPE["wasserstein"]["gp_weight"] * gp
    else:
        assert "Loss/D/gp" not in stats
    expected = _grads(D, total * gain)
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], rtol=1e-5, atol=1e-7, msg=name)
    assert G.w.grad is None  # the D phase leaves G alone


@pytest.mark.parametrize("loss_type", ["nonsaturating", "hinge", "wasserstein", "lsgan"])
def test_g_loss_and_gradients_equal_the_formulas(loss_type):
    real, z = _batch()
    G, D, loss = _make(loss_type)
    stats, grads = _run(loss, G, D, "Gboth", real, z, gain=2.0)
    G.requires_grad_(True)
    f, _ = _d_by_hand(D, (z @ G.w).view(-1, 1, 2, 2))
    value = G_FORMULAS[loss_type](f).mean()
    assert stats["Loss/G/loss"] == pytest.approx(value.item(), rel=1e-6)
    torch.testing.assert_close(grads["w"], _grads(G, value * 2.0)["w"], rtol=1e-5, atol=1e-7)
    assert all(p.grad is None for p in D.parameters())


@pytest.mark.parametrize("loss_type", ["nonsaturating", "lsgan"])
def test_label_smoothing_moves_the_real_target(loss_type):
    """D(x) = a * mean(x), reals all ones, fakes all zeros: D's real logit is a, its fake logit 0 whatever a is.
    The real term's minimum (zero gradient in a) is at target 1 - s: logit(1 - s) for non-saturating, 1 - s for LSGAN."""

    class OneWeightD(nn.Module):
        def __init__(self, a):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(float(a)))

        def forward(self, img, c=None, return_features=False):
            return self.a * img.flatten(1).mean(1, keepdim=True)

    class ZeroG(nn.Module):
        z_dim = 2

        def forward(self, z, c=None):
            return torch.zeros(z.shape[0], 1, 2, 2)

    s = 0.1
    target = math.log((1 - s) / s) if loss_type == "nonsaturating" else 1 - s
    reals = torch.ones(N, 1, 2, 2)
    for smoothing, a, zero_grad in ((s, target, True), (0.0, target, False), (s, 1.0 if loss_type == "lsgan" else 5.0, False)):
        D = OneWeightD(a)
        loss = AdversarialLoss(ZeroG(), D, {"type": loss_type, **DEFAULTS_BY_TYPE[loss_type], "label_smoothing": smoothing},
                               torch.device("cpu"))
        loss.accumulate_gradients("Dboth", reals, None, torch.zeros(N, 2), None, 1.0, 0)
        assert (abs(D.a.grad.item()) < 1e-6) == zero_grad, (smoothing, a, D.a.grad.item())


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_feature_matching_value_and_gradient(norm):
    real, z = _batch()
    G, D, loss = _make("nonsaturating", feature_matching=0.7, feature_matching_norm=norm)
    stats, grads = _run(loss, G, D, "Gboth", real, z)
    G.requires_grad_(True)
    fake = (z @ G.w).view(-1, 1, 2, 2)
    f_fake = torch.tanh(fake.flatten(1) @ D.w1)
    f_real = torch.tanh(real.flatten(1) @ D.w1)
    diff = f_fake.mean(0) - f_real.mean(0)
    fm = (diff**2).mean() if norm == "l2" else diff.abs().mean()
    assert stats["Loss/G/feature_matching"] == pytest.approx(fm.item(), rel=1e-6)
    assert fm.item() > 1e-4
    adv = -torch.log(torch.sigmoid(f_fake @ D.w2 + D.b)).mean()
    assert stats["Loss/G/loss"] == pytest.approx(adv.item(), rel=1e-6)
    torch.testing.assert_close(grads["w"], _grads(G, adv + 0.7 * fm)["w"], rtol=1e-5, atol=1e-7)


def test_feature_matching_norm_is_validated():
    from ganctl.config import resolve_config
    from ganctl.errors import UsageError

    assert resolve_config("dcgan-fashion-mnist")["loss"]["feature_matching_norm"] == "l2"
    l1 = resolve_config("dcgan-fashion-mnist", overrides=["loss.feature_matching_norm=l1"])
    assert l1["loss"]["feature_matching_norm"] == "l1"
    with pytest.raises(UsageError, match=r"loss\.feature_matching_norm: 'l3' is not one of l2, l1"):
        resolve_config("dcgan-fashion-mnist", overrides=["loss.feature_matching_norm=l3"])


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
def test_discriminators_return_penultimate_features(family):
    """return_features=True gives the input of D's output layer (without the batch-level extras): the features the
    paper's feature matching matches. Checked by recomputing the logit from them."""
    from ganctl.models import get_family

    fam = get_family(family)
    cfg = dict(fam.defaults)
    cfg.update(hidden=[16], d_hidden=[16], dropout=0) if family == "mlp" else cfg.update(g_channels=4, d_channels=4)
    _, D = fam.build(cfg, 32, 1, 0)
    D.eval()
    img = torch.randn(3, 1, 32, 32)
    logits, feats = D(img, None, return_features=True)
    assert feats.ndim == 2 and feats.shape[0] == 3
    torch.testing.assert_close(D.head.linear(feats), logits)


def _classic_families():
    from ganctl.losses.adversarial import CLASSIC_LOSSES
    from ganctl.models import FAMILY_MODULES, get_family

    return [name for name in FAMILY_MODULES if set(get_family(name).losses) & set(CLASSIC_LOSSES)]


@pytest.mark.parametrize("family", _classic_families())
def test_every_classic_loss_family_gives_features_for_feature_matching(family):
    """Any family that trains with the classic losses can be asked for feature matching: its D must return
    (logits, per-sample features) with return_features=True, the features depending on the image."""
    from ganctl.models import get_family

    _, D = get_family(family).build(dict(get_family(family).defaults), 32, 1, 0)
    img = torch.randn(4, 1, 32, 32, requires_grad=True)
    logits, feats = D(img, None, return_features=True)
    assert logits.shape == (4, 1), family
    assert feats.ndim == 2 and feats.shape[0] == 4, family
    (grad,) = torch.autograd.grad(feats.square().sum(), img)
    assert grad.abs().sum() > 0, family


# -- the CLI: each loss trains on real data; d_steps really runs two D updates per G update ------------------------
TINY = ["--preset", "dcgan-fashion-mnist", "model.g_channels=4", "model.d_channels=4", "model.z_dim=8", "train.batch=16",
        "train.tick_kimg=0.016", "train.grid_size=4", "train.workers=0"]
CLI_CASES = {
    "nonsaturating": ["loss.label_smoothing=0.1", "loss.feature_matching=1.0"],
    "hinge": [],
    "wasserstein": ["model.d_norm=layer", "optim.d_steps=2"],  # GP wants a per-sample D; WGAN's critic steps
    "lsgan": ["loss.label_smoothing=0.1", "loss.feature_matching=0.5", "loss.feature_matching_norm=l1"],
}


@pytest.mark.parametrize("loss_type", list(CLI_CASES))
def test_cli_short_run_of_each_loss(tmp_path, fmnist32, cli, loss_type):
    run = Path(cli("train", *TINY, "--data", fmnist32, "--kimg", "0.064", "--outdir", tmp_path, f"loss.type={loss_type}",
                   *CLI_CASES[loss_type], check=0).stdout.strip())
    records = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert records
    for rec in records:
        for k, v in rec.items():
            if isinstance(v, float):
                assert math.isfinite(v), (k, v)
        assert "Loss/D/loss" in rec and "Loss/G/loss" in rec
        assert ("Loss/D/gp" in rec) == (loss_type == "wasserstein")
        assert ("Loss/G/feature_matching" in rec) == ("loss.feature_matching=1.0" in CLI_CASES[loss_type]
                                                     or "loss.feature_matching=0.5" in CLI_CASES[loss_type])
    tensors, meta = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    counters = meta["counters"]
    d_steps = 2 if "optim.d_steps=2" in CLI_CASES[loss_type] else 1
    # cur_nimg advances by batch x d_steps per step; each D update takes its own real batch.
    assert counters["cur_nimg"] == 64 and counters["step"] == 64 // (16 * d_steps)
    assert counters["batch_idx"] == counters["step"] * d_steps
    d_count = tensors["opt_D/state/0/step"].item()
    g_count = tensors["opt_G/state/0/step"].item()
    assert g_count == counters["step"] and d_count == d_steps * g_count
    assert set(load_file(str(latest_checkpoint(run / "checkpoints")))) == set(tensors)
