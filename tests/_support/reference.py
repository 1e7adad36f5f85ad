"""Plain numpy reference implementations of the kernel semantics, for property tests."""

from __future__ import annotations

import numpy as np


def summarize(P: np.ndarray, entropy: bool = False) -> dict:
    n, c = P.shape
    label = P.argmax(axis=1).astype(np.int64) if n else np.zeros(0, np.int64)
    conf = P.max(axis=1) if n else np.zeros(0, P.dtype)
    if c == 1:
        margin = conf.copy()
    else:
        s = np.sort(P, axis=1)
        margin = s[:, -1] - s[:, -2]
    out = {
        "label": label,
        "confidence": conf,
        "margin": margin,
        "class_counts": np.bincount(label, minlength=c).astype(np.int64),
        "class_mean": P.astype(np.float64).sum(axis=0) / n if n else np.full(c, np.nan),
    }
    if entropy:
        P64 = P.astype(np.float64)
        safe = np.where(P64 > 0, P64, 1.0)
        out["entropy"] = -(P64 * np.log(safe)).sum(axis=1)
    return out


def select(P, scores, *, threshold=None, inclusive=False, k=None, per_class_k=None,
           largest=True, exclude=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference selection given precomputed per-row ``scores`` (in P's dtype)."""
    n, c = P.shape
    labels = P.argmax(axis=1) if n else np.zeros(0, np.int64)
    rows = np.arange(n)
    keep = np.ones(n, bool)
    if exclude is not None:
        keep &= ~np.asarray(exclude)
    if threshold is not None:
        t = np.asarray(threshold, dtype=np.float64).astype(P.dtype)
        t_row = t if t.ndim == 0 else t[labels]
        if largest:
            keep &= (scores >= t_row) if inclusive else (scores > t_row)
        else:
            keep &= (scores <= t_row) if inclusive else (scores < t_row)
    rows = rows[keep]
    s = scores[keep].astype(np.float64)
    key = -s if largest else s
    order = np.lexsort((rows, key))
    rows = rows[order]
    if per_class_k is not None:
        q = np.broadcast_to(np.asarray(per_class_k), (c,))
        taken = np.zeros(c, np.int64)
        kept = []
        for r in rows:
            lab = labels[r]
            if taken[lab] < q[lab]:
                taken[lab] += 1
                kept.append(r)
        rows = np.asarray(kept, dtype=np.int64)
    if k is not None:
        rows = rows[:k]
    rows = rows.astype(np.int64)
    return rows, labels[rows].astype(np.int64), scores[rows].astype(np.float64)


def quantile(P, q, per_class=False):
    conf = P.max(axis=1).astype(np.float64) if len(P) else np.zeros(0)
    if not per_class:
        return np.quantile(conf, q) if len(conf) else np.nan
    labels = P.argmax(axis=1) if len(P) else np.zeros(0, int)
    out = np.full(P.shape[1], np.nan)
    for c in range(P.shape[1]):
        v = conf[labels == c]
        if len(v):
            out[c] = np.quantile(v, q)
    return out
