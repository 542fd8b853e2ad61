"""Image statistics and real-versus-synthetic measures of the fidelity report."""

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from groundforge.report import features as F
from groundforge.report.fidelity import (
    classifier_two_sample_test,
    kid,
    ks_and_wasserstein,
    nearest_neighbours,
    precision_recall_density_coverage,
    vendi_score,
)

IMAGES = {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}


def _luma(rgb):
    x = rgb.astype(np.float64) / 255.0
    return 0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]


@pytest.fixture(params=list(IMAGES))
def photo(request):
    return IMAGES[request.param]


def test_brightness_and_contrast_are_mean_and_std_of_luma(photo):
    y = _luma(photo)
    n = y.size
    mean = y.sum() / n
    assert F.brightness(photo) == pytest.approx(mean, rel=1e-12)
    assert F.contrast(photo) == pytest.approx(np.sqrt(((y - mean) ** 2).sum() / n), rel=1e-10)


def test_sharpness_is_variance_of_four_neighbour_laplacian(photo):
    y = np.pad(_luma(photo), 1, mode="edge")
    lap = y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:] - 4.0 * y[1:-1, 1:-1]
    assert F.sharpness(photo) == pytest.approx(lap.var(), rel=1e-10)


def test_colourfulness_follows_hasler_susstrunk(photo):
    r, g, b = (photo[..., c].astype(np.float64) for c in range(3))
    rg, yb = r - g, (r + g) / 2.0 - b
    expected = np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    assert F.colourfulness(photo) == pytest.approx(expected, rel=1e-10)


def test_entropy_is_shannon_bits_of_luma_histogram(photo):
    levels = np.round(_luma(photo) * 255).astype(int).ravel()
    counts = np.array([(levels == v).sum() for v in range(256)])
    p = counts[counts > 0] / levels.size
    # A pixel whose luma sits exactly on a rounding boundary may fall either way depending on the
    # order of the float sums; one such pixel moves the entropy by about 1e-8 bits.
    assert F.entropy(photo) == pytest.approx(-np.sum(p * np.log2(p)), rel=1e-6)


def test_channel_means_and_stds(photo):
    means, stds = F.channel_stats(photo)
    for c in range(3):
        values = photo[..., c].astype(np.float64) / 255.0
        assert means[c] == pytest.approx(values.mean(), rel=1e-12)
        assert stds[c] == pytest.approx(values.std(), rel=1e-10)


def test_constant_image_has_zero_variation_statistics():
    flat = np.full((40, 60, 3), (200, 30, 90), np.uint8)
    stats = F.image_statistics(flat)
    assert stats["contrast"] == pytest.approx(0.0, abs=1e-12)
    assert stats["sharpness"] == pytest.approx(0.0, abs=1e-12)
    assert stats["entropy"] == 0.0
    assert stats["noise_sigma"] == 0.0
    assert stats["spectrum_slope"] == 0.0
    assert stats["glcm_homogeneity"] == pytest.approx(1.0)
    # HSV saturation of (200, 30, 90) is (max - min) / max.
    assert stats["saturation_mean"] == pytest.approx(170 / 200)


def test_feature_vector_follows_feature_names_and_groups():
    photo = IMAGES["chelsea"]  # under 512 px, so image_statistics sees it unresized
    vector = F.feature_vector(photo)
    assert vector.shape == (len(F.FEATURE_NAMES),)
    assert set(F.FEATURE_GROUPS) == {
        "colour",
        "luminance",
        "sharpness_noise",
        "spectrum",
        "texture",
    }
    assert sorted(F.FEATURE_NAMES) == sorted(n for g in F.FEATURE_GROUPS.values() for n in g)
    assert vector[F.FEATURE_NAMES.index("brightness")] == pytest.approx(_luma(photo).mean())


def test_large_images_are_shrunk_to_512_on_the_long_side():
    assert F.bounded(IMAGES["coffee"]).shape == (341, 512, 3)
    assert F.bounded(IMAGES["chelsea"]) is IMAGES["chelsea"]


def test_noise_sigma_recovers_gaussian_noise_on_flat_grey():
    rng = np.random.default_rng(3)
    grey = np.clip(np.round(128 + rng.normal(0, 8, (256, 256))), 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    # Luma weights sum to 1, so grey noise of 8 levels is 8 / 255 in luma units.
    assert F.noise_sigma(rgb) == pytest.approx(8 / 255, rel=0.1)


def _grey_rgb(x):
    x = (x - x.min()) / (x.max() - x.min())
    return np.repeat(np.round(255 * x).astype(np.uint8)[..., None], 3, axis=2)


def test_white_noise_spectrum_is_flat_and_blurred_noise_falls_steeply():
    rng = np.random.default_rng(0)
    noise = rng.random((256, 256))
    slope_white, high_white = F.spectrum_features(_grey_rgb(noise))
    slope_smooth, high_smooth = F.spectrum_features(_grey_rgb(ndimage.gaussian_filter(noise, 3)))
    assert abs(slope_white) < 0.2
    assert slope_smooth < -3.0
    # White noise: area of the band above 0.25 cycles/pixel within the [-0.5, 0.5]² square.
    assert high_white == pytest.approx(1 - np.pi * 0.25**2, abs=0.03)
    assert high_smooth < 1e-3


def _real_crops(rng, n=100, size=64):
    sources = [
        data.astronaut(),
        data.chelsea(),
        data.coffee(),
        data.rocket(),
        data.immunohistochemistry(),
    ]
    crops = []
    for i in range(n):
        image = sources[i % len(sources)]
        y = rng.integers(0, image.shape[0] - size)
        x = rng.integers(0, image.shape[1] - size)
        crops.append(image[y : y + size, x : x + size])
    return [crops[i] for i in rng.permutation(n)]


def _flat_render(crop, rng):
    """The crop's mean colour with a mild linear gradient: a render without sensor or texture."""
    size = crop.shape[0]
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    ramp = 20.0 * (np.cos(angle) * xx + np.sin(angle) * yy)
    image = crop.reshape(-1, 3).mean(axis=0) + ramp[..., None]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def crop_features():
    rng = np.random.default_rng(7)
    crops = _real_crops(rng)
    real = np.stack([F.feature_vector(c) for c in crops])
    flat = np.stack([F.feature_vector(_flat_render(c, rng)) for c in crops])
    return real, flat


def test_c2st_cannot_separate_two_halves_of_real_crops(crop_features):
    real, _ = crop_features
    # One split's AUC scatters by about 0.085 around 0.5 at 50 a side, so the claim is checked
    # as the mean over five random disjoint splits, each still 50 against 50.
    rng = np.random.default_rng(1)
    aucs = []
    for _ in range(5):
        order = rng.permutation(len(real))
        half = classifier_two_sample_test(real[order[:50]], real[order[50:]], rng, permutations=10)
        aucs.append(half["auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.15
    assert all(abs(a - 0.5) < 0.3 for a in aucs)


def test_c2st_separates_real_crops_from_flat_renders(crop_features):
    real, flat = crop_features
    result = classifier_two_sample_test(real, flat, np.random.default_rng(2), permutations=50)
    assert result["auc"] > 0.9
    assert result["p_value"] < 0.05
    # With 50 permutations none reaching the observed AUC gives the smallest p-value, 1/51.
    assert result["p_value"] == pytest.approx(1 / 51)


def test_c2st_per_group_flags_sharpness_of_flat_renders(crop_features):
    real, flat = crop_features
    result = classifier_two_sample_test(
        real, flat, np.random.default_rng(4), permutations=10, per_group=True
    )
    assert set(result) == set(F.FEATURE_GROUPS)
    assert result["sharpness_noise"]["auc"] > 0.9


def test_c2st_is_deterministic_given_the_generator(crop_features):
    real, _ = crop_features
    a = classifier_two_sample_test(real[:50], real[50:], np.random.default_rng(5), permutations=5)
    b = classifier_two_sample_test(real[:50], real[50:], np.random.default_rng(5), permutations=5)
    assert a == b


def test_prdc_of_identical_sets_is_perfect():
    X = np.random.default_rng(0).normal(size=(200, 4))
    result = precision_recall_density_coverage(X, X.copy(), k=5)
    assert result["precision"] == 1.0
    assert result["recall"] == 1.0
    assert result["coverage"] == 1.0


def test_prdc_of_far_apart_clouds_is_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))
    fake = rng.normal(size=(200, 4)) + 100.0
    result = precision_recall_density_coverage(real, fake, k=5)
    assert result == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_kid_is_zero_for_a_set_with_itself_and_positive_when_shifted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    same, _ = kid(X, X, np.random.default_rng(1), subsets=20, subset_size=200)
    shifted, _ = kid(X, X + 1.0, np.random.default_rng(1), subsets=20, subset_size=200)
    # Subsets of one set share rows, which biases the estimate slightly below 0; a unit shift along
    # all 8 axes has a population MMD² of about 8 under this kernel (2e4-sample estimate: 8.03).
    assert abs(same) < 0.1
    assert shifted > 5.0


def test_vendi_score_counts_distinct_directions():
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(7)) == pytest.approx(7.0)
    assert vendi_score(np.eye(7), kernel="rbf", bandwidth=1e-3) == pytest.approx(7.0)


def test_ks_and_wasserstein_of_a_shifted_sample():
    a = np.random.default_rng(0).uniform(0, 1, 500)
    assert ks_and_wasserstein(a, a.copy()) == (0.0, 0.0)
    ks, w1 = ks_and_wasserstein(a, a + 3.0)
    # Supports [0, 1] and [3, 4] do not overlap; moving every point by 3 is the optimal transport.
    assert ks == 1.0
    assert w1 == pytest.approx(3.0)


@pytest.mark.parametrize("columns", [6, 300])
def test_c2st_auc_matches_a_scikit_learn_pipeline(columns):
    # Out-of-fold scores of a standardised logistic regression, computed by sklearn's own
    # pipeline and cross-validation helpers.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    real, synth = rng.normal(size=(20, columns)), rng.normal(size=(16, columns)) + 0.3
    result = classifier_two_sample_test(real, synth, np.random.default_rng(5), 4, permutations=0)
    # The folds' seed is the first draw of the generator handed to the test.
    seed = int(np.random.default_rng(5).integers(0, 2**31 - 1))
    X, y = np.concatenate([real, synth]), np.r_[np.zeros(20), np.ones(16)].astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-12, max_iter=100_000))
    folds = StratifiedKFold(4, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, X, y, cv=folds, method="decision_function")
    assert result["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert result["p_value"] == 1.0


def test_feature_matrix_in_processes_keeps_input_order():
    rng = np.random.default_rng(8)
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(60)]
    serial = np.stack([F.feature_vector(im) for im in images])
    assert len(images) > F.PARALLEL_MIN_IMAGES
    np.testing.assert_array_equal(F.feature_matrix(images, workers=2), serial)


@pytest.mark.parametrize("shape", [(128, 128), (96, 160)])
def test_mean_power_spectrum_of_white_noise_is_its_variance_under_the_window(shape):
    rng = np.random.default_rng(4)
    images = [
        np.repeat(
            np.clip(np.round(128 + rng.normal(0, 20, shape)), 0, 255).astype(np.uint8)[..., None],
            3,
            axis=2,
        )
        for _ in range(16)
    ]
    freqs = np.geomspace(0.05, 0.45, 12)
    power = F.mean_power_spectrum(images, freqs)
    # E|FFT(x w)|² = var(x) sum(w²) away from DC; per pixel, var(x) times the mean of w².
    window = np.mean(np.hanning(shape[0]) ** 2) * np.mean(np.hanning(shape[1]) ** 2)
    variance = np.mean([(im[..., 0] / 255.0).var() for im in images])
    np.testing.assert_allclose(power, variance * window, rtol=0.15)


def test_nearest_neighbours_are_sorted_by_distance():
    reference = np.array([[0.0], [10.0], [3.0], [-1.0]])
    indices, distances = nearest_neighbours(np.array([[2.0], [9.0]]), reference, 2)
    assert indices.tolist() == [[2, 0], [1, 2]]
    assert distances.tolist() == [[1.0, 2.0], [1.0, 6.0]]


def test_c2st_separates_real_crops_from_groundforge_renders_without_the_sensor(crop_features):
    """Real crops against crops of the engine's own renders, tone-mapped to 8 bits with no
    sensor model (no noise, blur, vignetting or JPEG): the classifier tells them apart."""
    from groundforge.render.raster.engine import RasterEngine
    from groundforge.render.sensor import quantize_u8, srgb_encode, tone_map_aces
    from groundforge.world.build import SceneSampler, open_scene

    real, _ = crop_features
    sampler = SceneSampler(open_scene("conveyor").scene, seed=3)
    rng = np.random.default_rng(11)
    crops = []
    with RasterEngine(shadow_map_size=1024) as engine:
        for shot in range(10):
            world = sampler.world(shot)
            for camera in world.cameras:
                radiance = engine.render(world, camera).radiance
                rgb = quantize_u8(srgb_encode(tone_map_aces(radiance)))
                for _ in range(5):
                    y = rng.integers(0, rgb.shape[0] - 64)
                    x = rng.integers(0, rgb.shape[1] - 64)
                    crops.append(rgb[y : y + 64, x : x + 64])
    renders = np.stack([F.feature_vector(c) for c in crops])
    result = classifier_two_sample_test(real, renders, np.random.default_rng(6), permutations=20)
    assert len(renders) == 100
    assert result["auc"] > 0.9
