"""The detector and the preprocessing protocols against the reference tools' own code, on real images (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics_testdata import fashion_mnist, smooth_photo
from ganctl.metrics.inception import FIDInceptionV3, build_inception
from ganctl.metrics.protocols import clean_fid_resize, pytorch_fid_transform, tf1_bilinear_resize, torch_fidelity_transform


@pytest.fixture(scope="module")
def u8_batch() -> torch.Tensor:
    """2 Fashion-MNIST digits as RGB uint8 (2, 3, 28, 28)."""
    return torch.from_numpy(fashion_mnist(0, 2).copy())[:, None].repeat(1, 3, 1, 1)


def test_state_dict_keys_match_pytorch_fid_file_layout(weights):
    sd = torch.load(str(weights), weights_only=True)
    assert len(sd) == 566 and sd["fc.weight"].shape == (1008, 2048)
    assert set(FIDInceptionV3().state_dict()) == set(sd)


def test_pool3_bitwise_equal_to_pytorch_fid_and_torch_fidelity(ref_env, weights, u8_batch):
    from pytorch_fid.inception import InceptionV3
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    ours = build_inception(weights)
    with torch.no_grad():
        x01 = u8_batch.float().div(255)
        ref_pf = InceptionV3([3]).eval()(x01)[0].flatten(1)
        pool_pf, _ = ours(pytorch_fid_transform(u8_batch))
        tf = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=str(weights)).eval()
        ref_pool, ref_logits = tf(u8_batch)
        pool_tf, logits_tf = ours(torch_fidelity_transform(u8_batch), logits=True)
    assert ref_pf.std() > 0 and torch.equal(pool_pf, ref_pf)
    assert torch.equal(pool_tf, ref_pool) and torch.equal(logits_tf, ref_logits)


def test_tf1_resize_equals_torch_fidelity():
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    rng = np.random.default_rng(0)
    for h, w in ((28, 28), (37, 53), (300, 211), (299, 299)):
        x = torch.from_numpy(smooth_photo(rng, h, w)).permute(2, 0, 1)[None].float()
        ref = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        assert torch.equal(tf1_bilinear_resize(x), ref)


def test_protocols_differ_and_clean_fid_resize_shape():
    rng = np.random.default_rng(1)
    img = smooth_photo(rng, 40, 33)
    u8 = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    a, b = pytorch_fid_transform(u8), torch_fidelity_transform(u8)
    c = clean_fid_resize(img)
    assert a.shape == b.shape == (1, 3, 299, 299) and c.shape == (3, 299, 299)
    assert a.min() >= -1 and a.max() <= 1 and (a - b).abs().max() > 1e-3  # different resamplers: ~2.7% FID apart


def test_state_dict_without_batch_counters_gives_the_same_features(weights, u8_batch, tmp_path):
    """Files saved without BatchNorm num_batches_tracked (which pytorch-fid and torch-fidelity load) are accepted."""
    sd = torch.load(str(weights), weights_only=True)
    stripped = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    assert len(sd) - len(stripped) == 94  # one counter per BatchNorm
    torch.save(stripped, tmp_path / "stripped.pth")
    x = torch_fidelity_transform(u8_batch)
    with torch.no_grad():
        want, _ = build_inception(weights)(x)
        got, _ = build_inception(tmp_path / "stripped.pth")(x)
    assert torch.equal(got, want)
    broken = dict(stripped)
    del broken["fc.weight"]  # a real key missing is still refused, naming it
    torch.save(broken, tmp_path / "broken.pth")
    from ganctl.errors import UsageError

    with pytest.raises(UsageError, match="fc.weight"):
        build_inception(tmp_path / "broken.pth")
