"""Direction finders against their formulas on a seeded network: SeFa (row-normalised stacked style weights,
eigenvectors of A^T A by eigenvalue), GANSpace (PCA of the seeds' w, stdev of fresh projections), the InterFaceGAN
boundary (top/bottom selection, 70/30 split, a linear SVM that satisfies its optimality conditions), and edits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganctl.errors import UsageError
from ganctl.latent import finders
from ganctl.latent.directions import load_directions, save_directions
from ganctl.latent.edit import edit_images, parse_strengths


def _w(G, seeds):
    z = np.stack([np.random.RandomState(s).randn(G.z_dim) for s in seeds]).astype(np.float32)
    return G.mapping(torch.from_numpy(z), None)[:, 0].double().numpy()


def test_style_affines_cover_every_layer_in_ws_order(tiny_G):
    aff = tiny_G.style_affines()
    names = {id(m): n for n, m in tiny_G.synthesis.named_modules()}
    listed = [names[id(m)] for _, m in aff]
    every = [n for n, _ in tiny_G.synthesis.named_modules() if n.endswith(".affine")]
    assert sorted(listed) == sorted(every)  # each synthesis layer's affine, toRGB included, once
    idx = [i for i, _ in aff]
    assert idx == sorted(idx) and idx[0] == 0 and idx[-1] == tiny_G.num_ws - 1
    # 16 px: b4 conv1 (ws 0), torgb (1); b8 conv0 (1), conv1 (2), torgb (3); b16 conv0 (3), conv1 (4), torgb (5)
    assert listed[:3] == ["b4.conv1.affine", "b4.torgb.affine", "b8.conv0.affine"] and idx == [0, 1, 1, 2, 3, 3, 4, 5]


@pytest.mark.parametrize("layers", [None, [0, 1]])
def test_sefa_is_the_closed_form(tiny_G, layers):
    s = tiny_G.synthesis
    mods = [s.b4.conv1, s.b4.torgb, s.b8.conv0, s.b8.conv1, s.b8.torgb, s.b16.conv0, s.b16.conv1, s.b16.torgb]
    if layers is not None:
        mods = mods[:3]  # the affines that read ws 0 and 1
    A = np.concatenate([m.affine.weight.numpy().astype(np.float64) for m in mods])
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    evals, evecs = np.linalg.eig(A.T @ A)  # genforce's call; sorted here by eigenvalue
    order = np.argsort(evals.real)[::-1]
    d = finders.sefa(tiny_G, layers)
    assert d.vectors.shape == (tiny_G.w_dim, tiny_G.w_dim) and d.method == "sefa"
    np.testing.assert_allclose(d.meta["eigenvalues"], evals.real[order], rtol=1e-6, atol=1e-8)
    gaps = np.abs(np.diff(evals.real[order]))
    for k in range(6):
        if min(gaps[max(k - 1, 0):k + 1]) > 1e-3:  # well-separated eigenvalue: a unique direction up to sign
            assert abs(d.vectors[k] @ evecs[:, order[k]].real) == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1, atol=1e-5)
    expect_mask = np.zeros(tiny_G.num_ws, bool)
    expect_mask[layers if layers else slice(None)] = True
    assert (d.layers == expect_mask).all() and (d.scales == 1).all()


def test_ganspace_is_pca_of_seed_w(tiny_gen):
    G = tiny_gen.G
    d = finders.ganspace(tiny_gen, num_samples=600, components=5, seed=10, stdev_samples=300)
    w = _w(G, range(10, 610))
    mean = w.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(w.T))
    order = np.argsort(evals)[::-1][:5]
    for k in range(5):
        assert abs(d.vectors[k] @ evecs[:, order[k]]) == pytest.approx(1, abs=1e-4)
    fresh = _w(G, range(610, 910))
    np.testing.assert_allclose(d.scales, ((fresh - mean) @ d.vectors.T.astype(np.float64)).std(0), rtol=1e-4)
    np.testing.assert_allclose(d.meta["explained_variance_ratio"], evals[order] / evals.sum(), rtol=1e-4)


def test_linear_svm_meets_its_optimality_conditions():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6)
    y = np.sign(X @ rng.randn(6) + 0.5 * rng.randn(120))  # overlapping classes: some alpha at C, some between
    a, b, alpha = finders.linear_svm(X, y, C=1.0, tol=1e-6)
    Xa = np.concatenate([X, np.ones((120, 1))], 1)
    np.testing.assert_allclose(np.append(a, b), (alpha * y) @ Xa, atol=1e-9)  # primal = sum alpha_i y_i x_i
    m = y * (X @ a + b)
    assert (alpha >= 0).all() and (alpha <= 1).all()
    assert (m[alpha == 0] >= 1 - 1e-4).all()                           # outside the margin: inactive
    assert (m[alpha == 1] <= 1 + 1e-4).all()                           # inside/violating: at C
    mid = (alpha > 1e-8) & (alpha < 1 - 1e-8)
    assert mid.any() and np.allclose(m[mid], 1, atol=1e-4)            # on the margin


def test_boundary_finds_the_scored_direction(tiny_gen, tmp_path):
    G = tiny_gen.G
    seeds = list(range(500))
    w = _w(G, seeds)
    n_true = np.random.RandomState(1).randn(G.w_dim)
    n_true /= np.linalg.norm(n_true)
    csv = tmp_path / "scores.csv"
    csv.write_text("seed,score\n" + "".join(f"{s},{v:.6f}\n" for s, v in zip(seeds, w @ n_true)))
    d = finders.boundary(tiny_gen, csv, ratio=0.2, split=0.7)
    assert d.meta["train"] == 2 * 70 and d.meta["validation"] == 2 * 30  # 100 top + 100 bottom, 70/30 each
    assert d.meta["validation_accuracy"] == 1.0
    assert d.vectors[0] @ n_true > 0.8  # oriented toward high scores
    labels = tmp_path / "labels.csv"  # 0/1 labels use every row
    labels.write_text("".join(f"{s},{int(v > np.median(w @ n_true))}\n" for s, v in zip(seeds, w @ n_true)))
    d2 = finders.boundary(tiny_gen, labels)
    assert d2.meta["labels"] and d2.meta["train"] + d2.meta["validation"] == 500
    assert d2.meta["validation_accuracy"] > 0.9
    save_directions(d2, tmp_path / "b.npz")
    assert load_directions(tmp_path / "b.npz").names == ["boundary"]


@pytest.mark.parametrize("text,msg", [("seed,score\n1,2\nx,y\n", "line 3"), ("1,0.5\n1,0.7\n", "twice"),
                                      ("0,1\n1,0\n", "too few")])
def test_boundary_bad_scores(tiny_gen, tmp_path, text, msg):
    csv = tmp_path / "s.csv"
    csv.write_text(text)
    with pytest.raises(UsageError, match=msg):
        finders.boundary(tiny_gen, csv)


def test_edit_moves_only_the_chosen_layers(tiny_G):
    d = finders.sefa(tiny_G)
    ws = tiny_G.mapping(torch.from_numpy(np.random.RandomState(0).randn(2, 16).astype(np.float32)), None)
    imgs = edit_images(tiny_G, ws, d, 0, [-2.0, 0.0, 2.0], layers=[0, 1])
    plain = ((tiny_G.synthesis(ws) * 127.5 + 128).clamp(0, 255).to(torch.uint8))
    assert imgs.shape == (2, 3, 1, 16, 16) and torch.equal(imgs[:, 1], plain)
    assert not torch.equal(imgs[:, 0], imgs[:, 2])
    from ganctl.latent.directions import apply_direction

    moved = apply_direction(ws, d, 0, 2.0, [0, 1])
    assert torch.equal(moved[:, 2:], ws[:, 2:])
    torch.testing.assert_close(moved[:, :2] - ws[:, :2], 2 * torch.from_numpy(d.vectors[0]).expand(2, 2, -1))
    assert parse_strengths("-3:3", 7) == [-3, -2, -1, 0, 1, 2, 3] and parse_strengths("1.5", 7) == [1.5]
    with pytest.raises(UsageError, match="--strength"):
        parse_strengths("a:b", 7)
