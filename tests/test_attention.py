"""SMIC attention: the authors' projections bit for bit, scipy's zoom, the maps of their code,
and pooling any map."""

import hashlib

import numpy as np
import pytest
import torch
from scipy.ndimage import zoom

import smic
from smic.attention import (
    attend,
    attention_from_features,
    dependency_map,
    patches,
    projection_weights,
)
from smic.backbone import VGG16
from smic.variants.authors.preprocess import prepare
from smic.variants.authors.zoom import zoom_linear
from tests.conftest import assert_attention_map_matches


def test_xavier_projections_are_the_authors(img1_golden, fixtures_dir):
    import json

    recorded = json.loads((fixtures_dir / "reference_golden_img1.json").read_text())["settings"]["projection_weights"]
    weights = projection_weights("xavier")
    for stage, key in ((3, "randpj_256to32"), (4, "randpj2_512to32")):
        assert hashlib.sha256(weights[stage].numpy().tobytes()).hexdigest() == recorded[key]["sha256_f32"]


def test_gaussian_projections_are_unit_and_seeded():
    first, again, other = (
        projection_weights("gaussian", seed=1),
        projection_weights("gaussian", seed=1),
        projection_weights("gaussian", seed=2),
    )
    assert torch.allclose(first[3].flatten(1).norm(dim=1), torch.ones(32))
    assert torch.equal(first[4], again[4]) and not torch.equal(first[4], other[4])


@pytest.mark.parametrize("shape,size", [((9, 12), (250, 335)), ((4, 6), (9, 12)), ((5, 7), (10, 14)), ((3, 3), (3, 3))])
def test_zoom_linear_is_scipy_zoom_order_1(shape, size):
    maps = np.random.default_rng(0).random((2, *shape))
    expected = np.stack([zoom(m, (size[0] / shape[0], size[1] / shape[1]), order=1) for m in maps])
    assert np.abs(zoom_linear(torch.from_numpy(maps), size).numpy() - expected).max() < 1e-14


@pytest.mark.weights
@pytest.mark.parametrize(
    "pooling,key,stride",
    [
        ("max", "LPIPS_SMIC_maxpoolVGG_patch7_stride7", 7),
        ("l2", "PSNR_SSIM_SMIC_L2poolVGG_patch7_stride7", 7),
        ("l2", "DISTS_SMIC_L2poolVGG_patch7_stride6", 6),
    ],
)
def test_maps_equal_the_authors_code(img1_pair, img1_golden, pooling, key, stride):
    ref, dist = (prepare(image) for image in img1_pair)
    net = VGG16(pooling, channels_last=False)  # as the authors' variant and attention_map
    with torch.inference_mode():
        f_ref, f_dist = net(ref, 4), net(dist, 4)
    attention = attention_from_features(f_ref, f_dist, stride=stride)
    for stage in (3, 4):
        golden = torch.tensor(img1_golden["smic_maps_all"][key][f"stage{stage}"], dtype=torch.float64)
        # the fixture's machine ordered two projected values of cell (3, 9) of the L2-pooled
        # stride-7 stage-3 map, 6e-6 apart, the other way (MIC 0.8364 instead of 0.8177)
        assert_attention_map_matches(attention.stages[stage][0], golden, (key, stage))


@pytest.mark.weights
def test_identical_images_get_the_floor_of_the_attention():
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    attention, combined = smic.attention_map(image, image)
    # minepy: MIC of two identical 49-sample vectors is 0.99969954 (alpha 0.5, c 10)
    assert torch.allclose(attention.stages[3], torch.full_like(attention.stages[3], 1 - 0.99969954), atol=1e-8)
    assert combined.shape == (1, 64, 64)


def test_mic_ablation_is_the_mic_of_channel_means():
    generator = torch.Generator().manual_seed(3)
    f_ref, f_dist = torch.rand(1, 6, 14, 7, generator=generator), torch.rand(1, 6, 14, 7, generator=generator)
    result = dependency_map(f_ref, f_dist, None)
    for row in range(2):  # plain recomputation patch by patch
        a = f_dist.mean(1)[0, row * 7 : row * 7 + 7, :].reshape(-1)
        b = f_ref.mean(1)[0, row * 7 : row * 7 + 7, :].reshape(-1)
        assert result[0, row, 0].item() == pytest.approx(smic.mic(a, b).item(), abs=1e-12)


def test_patches_are_row_major():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    p = patches(x, 2, 2)
    assert p.shape == (1, 6, 2, 4)
    assert p[0, 1, 0].tolist() == [2.0, 3.0, 8.0, 9.0]


def test_attend_constant_attention_is_the_mean_and_weights_by_hand():
    values = torch.rand(2, 1, 8, 10, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(attend(values, torch.full((2, 3, 3), 0.7)), values.double().mean(dim=(1, 2, 3)))
    dmap = torch.tensor([[[1.0, 3.0]]])
    assert attend(dmap, torch.tensor([[[1.0, 3.0]]])).item() == pytest.approx((1 * 1 + 3 * 3) / 4)


def test_attend_rejects_a_batch_mismatch():
    with pytest.raises(ValueError, match="distortion_map must be"):
        attend(torch.rand(3, 5, 5), torch.rand(2, 5, 5))
