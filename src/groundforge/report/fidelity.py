"""Two-sample measures between real and synthetic feature matrices (n, D) and (m, D).

All randomness comes from an np.random.Generator argument; global random state is never used.
The report feeds these hand-crafted feature vectors (groundforge.report.features) or a
network's embeddings (groundforge.report.embed), never Inception's, so none of the numbers is
comparable with published FID or KID values. Also here: 2-D maps (PCA, t-SNE) and nearest
neighbours of feature rows.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from groundforge.report.features import FEATURE_GROUPS, FEATURE_NAMES

# Up to this many columns the classifier test uses sklearn's Newton-Cholesky solver (a (D+1)²
# system per step, fastest on small matrices); wider inputs, such as deep embeddings, L-BFGS.
NEWTON_MAX_COLUMNS = 128


def _seed(rng: np.random.Generator) -> int:
    """A fresh 31-bit seed for sklearn objects that take a random_state integer."""
    return int(rng.integers(0, 2**31 - 1))


def ks_and_wasserstein(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(KS statistic in [0, 1], 1-Wasserstein distance in the samples' units) of two 1-D samples."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(stats.ks_2samp(a, b).statistic), float(stats.wasserstein_distance(a, b))


def per_statistic_distances(
    X_real: np.ndarray, X_synth: np.ndarray, names: list[str] = FEATURE_NAMES
) -> dict[str, dict[str, float]]:
    """{name: {ks, wasserstein}} for each column of (n, D) X_real against (m, D) X_synth."""
    out = {}
    for column, name in enumerate(names):
        ks, w1 = ks_and_wasserstein(X_real[:, column], X_synth[:, column])
        out[name] = {"ks": ks, "wasserstein": w1}
    return out


def standardise(X_real: np.ndarray, X_synth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices shifted and scaled by the real set's column means and stds (constant -> 1)."""
    mean = X_real.mean(axis=0)
    std = X_real.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_real - mean) / std, (X_synth - mean) / std


def _standardised_folds(X_train: np.ndarray, X_test: np.ndarray):
    """Both shifted and scaled by X_train's column means and stds (constant columns -> 1)."""
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_test - mean) / std


def _out_of_fold_auc(X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    """ROC AUC of out-of-fold scores of a logistic regression on standardised columns."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    solver = "newton-cholesky" if X.shape[1] <= NEWTON_MAX_COLUMNS else "lbfgs"
    scores = np.empty(len(y))
    for train, test in splitter.split(X, y):
        X_train, X_test = _standardised_folds(X[train], X[test])
        model = LogisticRegression(solver=solver, max_iter=1000).fit(X_train, y[train])
        scores[test] = model.decision_function(X_test)
    # The decision value ranks the test images as the probability would: AUC is rank-based.
    return float(roc_auc_score(y, scores))


def _c2st(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, folds: int, permutations: int
) -> dict[str, float]:
    """{auc, p_value} of the classifier test on (N, D) X with 0/1 labels y."""
    seed = _seed(rng)
    auc = _out_of_fold_auc(X, y, folds, seed)
    # The same folds seed for every permutation, so only the labels differ from the observed run.
    null = [_out_of_fold_auc(X, rng.permutation(y), folds, seed) for _ in range(permutations)]
    exceed = sum(value >= auc for value in null)
    return {"auc": auc, "p_value": (exceed + 1) / (permutations + 1)}


def classifier_two_sample_test(
    X_real: np.ndarray,
    X_synth: np.ndarray,
    rng: np.random.Generator,
    folds: int = 5,
    permutations: int = 100,
    per_group: bool = False,
    groups: dict[str, list[str]] | None = None,
    names: list[str] = FEATURE_NAMES,
) -> dict:
    """{auc, p_value} of a classifier told to separate (n, D) X_real from (m, D) X_synth.

    AUC comes from out-of-fold scores of a standardised logistic regression (0.5 means
    indistinguishable, 1 means perfectly separable); the p-value is the share of label
    permutations whose AUC reaches the observed one, with the +1 correction. With
    per_group=True the result is {group: {auc, p_value}}, one test on each group's columns
    (groups defaults to FEATURE_GROUPS, names maps columns to feature names).
    """
    X_real = np.asarray(X_real, np.float64)
    X_synth = np.asarray(X_synth, np.float64)
    if X_real.ndim != 2 or X_synth.ndim != 2 or X_real.shape[1] != X_synth.shape[1]:
        raise ValueError(
            f"X_real {X_real.shape} and X_synth {X_synth.shape} must be (n, D), (m, D)"
        )
    if min(len(X_real), len(X_synth)) < folds:
        raise ValueError(f"folds={folds} needs at least {folds} samples in each set")
    X = np.concatenate([X_real, X_synth])
    y = np.concatenate([np.zeros(len(X_real), np.int64), np.ones(len(X_synth), np.int64)])

    # BLAS threads only wait on each other over matrices this small, and badly so on a busy
    # machine (ten times slower on two cores).
    with threadpool_limits(limits=1, user_api="blas"):
        if not per_group:
            return _c2st(X, y, rng, folds, permutations)
        return _per_group_c2st(X, y, rng, folds, permutations, groups or FEATURE_GROUPS, names)


def _per_group_c2st(X, y, rng, folds, permutations, groups, names) -> dict:
    """{group: {auc, p_value}}, one classifier test on each group's columns of X."""
    if len(names) != X.shape[1]:
        raise ValueError(
            f"names has {len(names)} entries but the matrices have {X.shape[1]} columns"
        )
    results = {}
    for group, members in groups.items():
        columns = [names.index(name) for name in members]
        results[group] = _c2st(X[:, columns], y, rng, folds, permutations)
    return results


def _kth_neighbour_radii(X: np.ndarray, k: int) -> np.ndarray:
    """(n,) distance from each row of X to its k-th nearest other row."""
    distances = cdist(X, X)
    # Column 0 of the sorted row is the point itself (distance 0), so the k-th neighbour is at k.
    return np.partition(distances, k, axis=1)[:, k]


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = 5
) -> dict[str, float]:
    """{precision, recall, density, coverage} of Naeem et al. (2020) with k-NN balls.

    Precision, recall and coverage lie in [0, 1]; density is about 1 when fake matches real and
    can exceed 1. Distances are Euclidean on the rows as given: standardise features first.
    """
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"k={k} needs more than {k} rows in both sets")
    real_radii = _kth_neighbour_radii(real, k)
    fake_radii = _kth_neighbour_radii(fake, k)
    real_to_fake = cdist(real, fake)  # (n, m)

    inside_real_balls = real_to_fake <= real_radii[:, None]
    inside_fake_balls = real_to_fake <= fake_radii[None, :]
    return {
        "precision": float(inside_real_balls.any(axis=0).mean()),
        "recall": float(inside_fake_balls.any(axis=1).mean()),
        "density": float(inside_real_balls.sum() / (k * len(fake))),
        "coverage": float((real_to_fake.min(axis=1) <= real_radii).mean()),
    }


def _unbiased_mmd2(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased MMD² of (m, D) X and (m, D) Y with the kernel (x.y / D + 1)^3."""
    d = X.shape[1]
    k_xx = (X @ X.T / d + 1.0) ** 3
    k_yy = (Y @ Y.T / d + 1.0) ** 3
    k_xy = (X @ Y.T / d + 1.0) ** 3
    m = len(X)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid(
    real_feats: np.ndarray,
    fake_feats: np.ndarray,
    rng: np.random.Generator,
    subsets: int = 100,
    subset_size: int = 1000,
) -> tuple[float, float]:
    """(mean, std) over subsets of the unbiased kernel MMD² between two feature sets.

    The kernel inception distance formula (Bińkowski et al. 2018, cubic polynomial kernel) applied
    to whatever features are given; report it as "feature KID" of those features. Each subset
    draws min(subset_size, n, m) rows from each set without replacement. Can be slightly
    negative when the sets match.
    """
    real_feats = np.asarray(real_feats, np.float64)
    fake_feats = np.asarray(fake_feats, np.float64)
    size = min(subset_size, len(real_feats), len(fake_feats))
    if size < 2:
        raise ValueError("kid needs at least 2 rows in each set")
    with threadpool_limits(limits=1, user_api="blas"):
        values = [
            _unbiased_mmd2(
                real_feats[rng.choice(len(real_feats), size, replace=False)],
                fake_feats[rng.choice(len(fake_feats), size, replace=False)],
            )
            for _ in range(subsets)
        ]
    return float(np.mean(values)), float(np.std(values))


def vendi_score(X: np.ndarray, kernel: str = "cosine", bandwidth: float | None = None) -> float:
    """Vendi score of (n, D) X: exp of the Shannon entropy (nats) of the eigenvalues of K / n.

    kernel="cosine": K = cosine similarity of the rows (zero rows count as identical to each
    other, orthogonal to the rest); kernel="rbf": K = exp(-|x - y|² / (2 bandwidth²)), bandwidth
    defaulting to the median pairwise distance. Ranges from 1 (all rows alike) to n (all distinct).
    """
    X = np.asarray(X, np.float64)
    n = len(X)
    if n == 0:
        return 0.0
    if kernel == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        unit = np.where(norms > 0, X / np.where(norms > 0, norms, 1.0), 0.0)
        K = unit @ unit.T
        K[np.ix_(zero, zero)] = 1.0
    elif kernel == "rbf":
        sq = cdist(X, X, "sqeuclidean")
        if bandwidth is None:
            off_diagonal = np.sqrt(sq[~np.eye(n, dtype=bool)])
            bandwidth = float(np.median(off_diagonal)) if off_diagonal.size else 1.0
        K = np.exp(-sq / (2.0 * max(bandwidth, 1e-12) ** 2))
    else:
        raise ValueError(f"kernel must be 'cosine' or 'rbf', got {kernel!r}")

    eigenvalues = np.clip(np.linalg.eigvalsh(K / n), 0.0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


# t-SNE's perplexity (about the number of neighbours each point keeps close) must stay well
# below the number of points; under this many points the 2-D view is PCA alone.
TSNE_MIN_POINTS = 100
TSNE_PERPLEXITY = 30.0


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coords (n, 2), explained (2,)): the rows of (n, D) X on their first two principal axes,
    and the share of the variance each axis carries."""
    with threadpool_limits(limits=1):
        pca = PCA(n_components=2, svd_solver="full").fit(X)
        return pca.transform(X), pca.explained_variance_ratio_


def tsne_2d(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) t-SNE map of (n, D) X, started from PCA, perplexity TSNE_PERPLEXITY at most."""
    perplexity = min(TSNE_PERPLEXITY, (len(X) - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=_seed(rng))
    # On a few hundred points OpenMP's threads mostly wait for each other: 5 to 15 times
    # slower than one thread on a busy two-core machine.
    with threadpool_limits(limits=1):
        return tsne.fit_transform(X)


def nearest_neighbours(
    query: np.ndarray, reference: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), (q, k) each: the k rows of (n, D) reference nearest (Euclidean) to
    each row of (q, D) query, nearest first; ties keep reference order."""
    distances = cdist(query, reference)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distances, order, axis=1)
