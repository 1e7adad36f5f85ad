"""XGBoost tree models as C: complete-tree tables and two branch-free kernels over row blocks.

Treelite + TL2cgen turn every split into an ``if``: on 400 depth-6 trees the branches are
unpredictable and the code (3 MB of C) is walked row by row, so it ran at 0.27x XGBoost's
own ``inplace_predict`` (0.46x with its trees called block by block; see
``compilers.Treelite``). Here every tree is padded to a complete binary tree of the
model's depth (a leaf above the last level becomes a node that always goes left) and
stored as tables; the kernel walks each tree for a block of rows at once, one
``idx = 2 idx + 1 + (x >= threshold)`` step per level, with no data-dependent branch. The
tables of one tree stay in the L1 cache for the whole block, and the independent rows keep
the core busy while a lookup waits. (Tried and dropped: AVX-512 gathers for the 16 rows of
a block, 0.8-1.1x XGBoost against 1.6-1.7x for this scalar loop in the same run; blocks of
24 rows or more, slower than 8 or 16.)

On CPUs with AVX-512 (F, BW, DQ) and trees of depth at most :data:`MASK_MAX_DEPTH`, a
second kernel replaces the walk by bit masks, as QuickScorer does (Lucchese et al., SIGIR
2015; vectorised over rows in V-QuickScorer, SIGIR 2016): a tree's 64 leaves are the bits of
one word per row, every split of the tree is compared for 64 rows at once (four vector
compares give a 64-bit mask of the rows that go right), and the rows that go right clear
the bits of the split's left subtree, those that go left its right subtree. The one leaf
whose every ancestor agreed with the row is the last bit standing (its index is a
count-trailing-zeros). Every real split is visited, none of the padding, and no lookup
depends on the row, so there is no gather. Measured on a 400-tree depth-6 model
(benches/bench_compilers.py's kind, one thread, same run): 1.26-1.38x the scalar walk, with
the same probabilities bit for bit. The kernel is chosen on the machine that compiles and
is part of the cache key (:func:`cpu_kernel`).

Exact: the features are compared as float32, as XGBoost does (``x < threshold`` goes left,
NaN takes the node's default direction), the leaves are summed in float32 in tree order
from the base margin, then the objective's sigmoid / softmax. Categorical splits,
vector leaves and models deeper than :data:`MAX_DEPTH` are left to TL2cgen.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["GENERATOR_VERSION", "MAX_DEPTH", "MASK_MAX_DEPTH", "BLOCK", "KERNELS", "Forest",
           "model_problem", "missing_problem", "cpu_kernel", "kernel_for", "gcc_flags", "c_source"]

#: bump whenever the generated code changes (it is part of the cache key)
GENERATOR_VERSION = 3
#: complete trees of this depth hold 2**MAX_DEPTH leaves each; deeper models go to TL2cgen
MAX_DEPTH = 10
#: at most this many table slots (trees x 2**depth) in one library
MAX_SLOTS = 1 << 22
#: rows walked through one tree together (measured 8 and 16 alike, 24 and more slower)
BLOCK = 16
#: the bit-mask kernel keeps a tree's leaves in one 64-bit word per row
MASK_MAX_DEPTH = 6
#: rows the bit-mask kernel compares at once (four 16-float vectors per split)
MASK_BLOCK = 64
#: the kernels :func:`c_source` writes
KERNELS = ("scalar", "avx512")
#: the CPU flags the bit-mask kernel is compiled for
_AVX512_FLAGS = ("avx512f", "avx512bw", "avx512dq")
_OBJECTIVES = ("binary:logistic", "multi:softprob", "multi:softmax")


def _model_json(booster: Any) -> dict[str, Any]:
    return json.loads(bytes(booster.save_raw("json")))  # type: ignore[no-any-return]


def _used_trees(model: dict[str, Any], booster: Any) -> int:
    """How many trees XGBClassifier's predict uses: those up to ``best_iteration`` when
    the model was trained with early stopping, else all."""
    gbm = model["learner"]["gradient_booster"]["model"]
    best = booster.attributes().get("best_iteration")
    indptr = gbm.get("iteration_indptr")
    if best is None or not indptr:
        return len(gbm["trees"])
    return int(indptr[min(int(best) + 1, len(indptr) - 1)])


def _depth(tree: dict[str, Any]) -> int:
    left, right = tree["left_children"], tree["right_children"]
    depth, level = 0, [0]
    while True:
        level = [c for n in level if left[n] != -1 for c in (left[n], right[n])]
        if not level:
            return depth
        depth += 1


def missing_problem(missing: Any) -> str | None:
    """Why the kernels cannot honour the estimator's ``missing`` value, or None (NaN)."""
    if not (isinstance(missing, float) and np.isnan(missing)):
        return f"missing={missing!r} (only NaN marks a missing value)"
    return None


def model_problem(booster: Any, missing: float) -> str | None:
    """Why this generator cannot compile the booster exactly, or None."""
    model = _model_json(booster)
    learner = model["learner"]
    objective = learner["objective"]["name"]
    if objective not in _OBJECTIVES:
        return f"objective {objective!r} (only {', '.join(_OBJECTIVES)})"
    if learner["gradient_booster"].get("name") != "gbtree":
        return "only the gbtree booster"
    if "c" in (learner.get("feature_types") or ()):
        return "categorical features"
    problem = missing_problem(missing)
    if problem is not None:
        return problem
    trees = learner["gradient_booster"]["model"]["trees"][:_used_trees(model, booster)]
    if not trees:
        return "the model has no trees"
    if any(int(t["tree_param"].get("size_leaf_vector", "1")) > 1 for t in trees):
        return "vector leaves (multi-output trees)"
    if any(any(t.get("split_type", ())) for t in trees):
        return "categorical splits"
    depth = max(_depth(t) for t in trees)
    if depth > MAX_DEPTH or len(trees) << max(depth, 1) > MAX_SLOTS:
        return f"{len(trees)} trees of depth {depth} (at most depth {MAX_DEPTH})"
    return None


class Forest:
    """The booster as complete-tree tables (heap order: node ``i`` has children
    ``2i+1``, ``2i+2``)."""

    def __init__(self, booster: Any) -> None:
        model = _model_json(booster)
        learner = model["learner"]
        gbm = learner["gradient_booster"]["model"]
        n_used = _used_trees(model, booster)
        trees = gbm["trees"][:n_used]
        self.objective: str = learner["objective"]["name"]
        self.n_features = int(learner["learner_model_param"]["num_feature"])
        self.n_groups = max(1, int(learner["learner_model_param"].get("num_class", "0")))
        self.depth = max(1, max(_depth(t) for t in trees))
        self.group = np.asarray(gbm["tree_info"][:n_used], dtype=np.int32)
        base = np.asarray(json.loads(learner["learner_model_param"]["base_score"].replace(
            "E", "e")), dtype=np.float32).reshape(-1)
        if base.size == 1:
            base = np.repeat(base, self.n_groups)
        if self.objective == "binary:logistic":
            # the stored base score is a probability; XGBoost adds its logit (in float32)
            one = np.float32(1.0)
            base = (-np.log(one / base - one)).astype(np.float32)
        self.base = base
        inner, leaves = (1 << self.depth) - 1, 1 << self.depth
        self.feature = np.zeros((len(trees), inner), dtype=np.int32)
        self.threshold = np.full((len(trees), inner), np.inf, dtype=np.float32)
        self.default_left = np.ones((len(trees), inner), dtype=np.uint8)
        self.leaf = np.zeros((len(trees), leaves), dtype=np.float32)
        for k, tree in enumerate(trees):
            left, right = tree["left_children"], tree["right_children"]
            split, cond, dleft = (tree["split_indices"], tree["split_conditions"],
                                  tree["default_left"])
            stack = [(0, 0)]
            while stack:
                node, pos = stack.pop()
                if left[node] == -1:  # a leaf: every padded path from here goes left
                    while pos < inner:
                        pos = 2 * pos + 1
                    self.leaf[k, pos - inner] = cond[node]
                    continue
                # an inner node above the last level; padded nodes keep threshold +inf
                # (every number goes left) and default left (so does NaN)
                self.feature[k, pos] = split[node]
                self.threshold[k, pos] = cond[node]
                self.default_left[k, pos] = dleft[node]
                stack += [(left[node], 2 * pos + 1), (right[node], 2 * pos + 2)]


def _floats(a: np.ndarray) -> str:
    """float32 values as exact C hexadecimal literals."""
    return ",".join("INFINITY" if np.isinf(v) else f"{float(v).hex()}f" for v in a.ravel())


def _ints(a: np.ndarray) -> str:
    return ",".join(str(int(v)) for v in a.ravel())


_SCALAR_WALK = r"""
/* x[NF][BLOCK]: one block of rows, feature-major (short blocks padded with zeros);
   acc[NG][BLOCK]: their margins. Every tree is walked for the whole block. */
static void walk(const float* x, int has_nan, float acc[NG][BLOCK]) {
  for (int t = 0; t < NT; ++t) {
    const int32_t* f = feature[t];
    const float* th = threshold[t];
    int idx[BLOCK];
    for (int r = 0; r < BLOCK; ++r) idx[r] = 0;
    if (!has_nan) {
      const float* x0 = x + f[0] * BLOCK;  /* the root: one node for every row */
      const float t0 = th[0];
      for (int r = 0; r < BLOCK; ++r) idx[r] = 1 + (x0[r] >= t0);
      for (int l = 1; l < DEPTH; ++l)
        for (int r = 0; r < BLOCK; ++r) {
          int n = idx[r];
          idx[r] = 2 * n + 1 + (x[f[n] * BLOCK + r] >= th[n]);
        }
    } else {
      const uint8_t* dl = default_left[t];
      for (int l = 0; l < DEPTH; ++l)
        for (int r = 0; r < BLOCK; ++r) {
          int n = idx[r];
          float v = x[f[n] * BLOCK + r];
          idx[r] = 2 * n + 1 + (!(v < th[n]) & !(isnan(v) & dl[n]));
        }
    }
    const float* lf = leaf[t];
    float* a = acc[group[t]];
    for (int r = 0; r < BLOCK; ++r) a[r] += lf[idx[r] - INNER];
  }
}

"""

_MASK_WALK = r"""
#include <immintrin.h>
/* x[NF][BLOCK] with BLOCK = 64; acc[NG][BLOCK]. Per tree: w holds each row's surviving
   leaves (8 rows per vector); each split compares its feature for the 64 rows and clears
   the left subtree's leaves of the rows that go right, the right subtree's of the others. */
#define CLEAR(W, K) W = _mm512_and_si512(W, _mm512_mask_blend_epi64((__mmask8)(K), R, L))
static void walk(const float* x, int has_nan, float acc[NG][BLOCK]) {
  uint64_t v[BLOCK] __attribute__((aligned(64)));
  for (int t = 0; t < NT; ++t) {
    __m512i w0, w1, w2, w3, w4, w5, w6, w7;
    w0 = w1 = w2 = w3 = w4 = w5 = w6 = w7 = _mm512_set1_epi64((long long)reachable[t]);
    for (int k = first_split[t]; k < first_split[t + 1]; ++k) {
      const float* xp = x + offset[k];
      const __m512 th = _mm512_set1_ps(split_threshold[k]);
      const __m512 x0 = _mm512_loadu_ps(xp), x1 = _mm512_loadu_ps(xp + 16);
      const __m512 x2 = _mm512_loadu_ps(xp + 32), x3 = _mm512_loadu_ps(xp + 48);
      /* x >= threshold goes right; NaN compares false (left) unless the default is right */
      __mmask16 m0 = _mm512_cmp_ps_mask(x0, th, _CMP_GE_OQ);
      __mmask16 m1 = _mm512_cmp_ps_mask(x1, th, _CMP_GE_OQ);
      __mmask16 m2 = _mm512_cmp_ps_mask(x2, th, _CMP_GE_OQ);
      __mmask16 m3 = _mm512_cmp_ps_mask(x3, th, _CMP_GE_OQ);
      if (has_nan && default_right[k]) {
        m0 |= _mm512_cmp_ps_mask(x0, x0, _CMP_UNORD_Q);
        m1 |= _mm512_cmp_ps_mask(x1, x1, _CMP_UNORD_Q);
        m2 |= _mm512_cmp_ps_mask(x2, x2, _CMP_UNORD_Q);
        m3 |= _mm512_cmp_ps_mask(x3, x3, _CMP_UNORD_Q);
      }
      const __m512i L = _mm512_set1_epi64((long long)keep_if_right[k]);
      const __m512i R = _mm512_set1_epi64((long long)keep_if_left[k]);
      CLEAR(w0, m0); CLEAR(w1, m0 >> 8); CLEAR(w2, m1); CLEAR(w3, m1 >> 8);
      CLEAR(w4, m2); CLEAR(w5, m2 >> 8); CLEAR(w6, m3); CLEAR(w7, m3 >> 8);
    }
    _mm512_store_si512(v, w0); _mm512_store_si512(v + 8, w1);
    _mm512_store_si512(v + 16, w2); _mm512_store_si512(v + 24, w3);
    _mm512_store_si512(v + 32, w4); _mm512_store_si512(v + 40, w5);
    _mm512_store_si512(v + 48, w6); _mm512_store_si512(v + 56, w7);
    const float* lf = leaf[t];
    float* a = acc[group[t]];
    for (int r = 0; r < BLOCK; ++r) a[r] += lf[__builtin_ctzll(v[r])];
  }
}
"""

_FINISH_PREDICT = r"""
static void finish(float acc[NG][BLOCK], int r, float* out) {
#if NG == 1
  out[0] = 1.0f / (1.0f + expf(-acc[0][r]));
#else
  float top = acc[0][r];
  for (int g = 1; g < NG; ++g) if (acc[g][r] > top) top = acc[g][r];
  double norm = 0.0;
  float e[NG];
  for (int g = 0; g < NG; ++g) { e[g] = expf(acc[g][r] - top); norm += e[g]; }
  for (int g = 0; g < NG; ++g) out[g] = e[g] / (float)norm;
#endif
}

#define DEFINE_PREDICT(NAME, T)                                                   \
void NAME(const T* X, int64_t begin, int64_t end, float* out) {                  \
  float x[NF * BLOCK];                                                            \
  float acc[NG][BLOCK];                                                           \
  for (int64_t a = begin; a < end; a += BLOCK) {                                  \
    int m = end - a < BLOCK ? (int)(end - a) : BLOCK;                             \
    int has_nan = 0;                                                              \
    for (int r = 0; r < BLOCK; ++r)                                               \
      for (int j = 0; j < NF; ++j) {                                              \
        float v = r < m ? (float)X[(a + r) * NF + j] : 0.0f;                      \
        x[j * BLOCK + r] = v;                                                     \
        has_nan |= isnan(v);                                                      \
      }                                                                           \
    for (int g = 0; g < NG; ++g)                                                  \
      for (int r = 0; r < BLOCK; ++r) acc[g][r] = base[g];                        \
    walk(x, has_nan, acc);                                                        \
    for (int r = 0; r < m; ++r) finish(acc, r, out + (a + r) * NG);               \
  }                                                                               \
}
DEFINE_PREDICT(predict_f32, float)
DEFINE_PREDICT(predict_f64, double)
"""


def cpu_kernel() -> str:
    """The kernel this machine's CPU runs: ``"avx512"`` when it has AVX-512 F, BW and DQ
    (read from ``/proc/cpuinfo``), else ``"scalar"``."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "scalar"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return "scalar"
    return "avx512" if all(flag in flags for flag in _AVX512_FLAGS) else "scalar"


def kernel_for(model: Forest, cpu: str | None = None) -> str:
    """The kernel a model is compiled with: the bit-mask one where the CPU has it and the
    trees fit its 64-bit leaf words, the scalar walk otherwise."""
    cpu = cpu_kernel() if cpu is None else cpu
    return "avx512" if cpu == "avx512" and model.depth <= MASK_MAX_DEPTH else "scalar"


def gcc_flags(kernel: str) -> list[str]:
    """What gcc needs for the kernel besides ``-O3`` (the instruction sets it uses)."""
    return ["-mavx512f", "-mavx512bw", "-mavx512dq"] if kernel == "avx512" else []


def _masks(model: Forest) -> dict[str, np.ndarray]:
    """The bit-mask kernel's tables: each tree's real splits (padding left out) with the
    leaves each direction keeps, and each tree's reachable leaves (a padded node sends
    every row left, so the leaves of its right subtree are never reached)."""
    n_trees, inner = model.feature.shape
    depth = model.depth
    full = (1 << (1 << depth)) - 1
    keep_if_left, keep_if_right, offset, threshold, default_right = [], [], [], [], []
    first_split, reachable = [0], []
    for t in range(n_trees):
        alive = full
        for k in range(inner):
            level = (k + 1).bit_length() - 1
            half = 1 << (depth - level - 1)
            first = (k - ((1 << level) - 1)) * 2 * half
            left = ((1 << half) - 1) << first
            right = left << half
            if np.isinf(model.threshold[t, k]):  # padding: always left, NaN too
                alive &= full ^ right
                continue
            offset.append(int(model.feature[t, k]) * MASK_BLOCK)
            threshold.append(model.threshold[t, k])
            default_right.append(0 if model.default_left[t, k] else 1)
            keep_if_left.append(full ^ right)
            keep_if_right.append(full ^ left)
        first_split.append(len(offset))
        reachable.append(alive)
    return {"offset": np.asarray(offset, dtype=np.int64),
            "threshold": np.asarray(threshold, dtype=np.float32),
            "default_right": np.asarray(default_right, dtype=np.uint8),
            "keep_if_left": np.asarray(keep_if_left, dtype=np.uint64),
            "keep_if_right": np.asarray(keep_if_right, dtype=np.uint64),
            "first_split": np.asarray(first_split, dtype=np.int64),
            "reachable": np.asarray(reachable, dtype=np.uint64)}


def _words(a: np.ndarray) -> str:
    return ",".join(f"{int(v)}ULL" for v in a.ravel())


def c_source(model: Forest, kernel: str = "scalar") -> str:
    """The C file of one model: its tables, then the kernel (one of :data:`KERNELS`),
    exporting ``predict_f32`` / ``predict_f64(X, begin, end, out)`` over rows
    ``[begin, end)`` of a C-contiguous matrix (``out``: n_rows x groups float32
    probabilities)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r} (one of {', '.join(KERNELS)})")
    if kernel == "avx512" and model.depth > MASK_MAX_DEPTH:
        raise ValueError(f"the avx512 kernel takes trees of depth at most {MASK_MAX_DEPTH}, "
                         f"not {model.depth}")
    nt, inner = model.feature.shape
    common = [
        f"/* generated by pseudolabel.compiled.xgboost_c {GENERATOR_VERSION}, {kernel} */",
        "#include <math.h>", "#include <stdint.h>",
        f"#define NT {nt}", f"#define NF {model.n_features}", f"#define NG {model.n_groups}",
        f"#define DEPTH {model.depth}", f"#define INNER {inner}",
        f"static const float leaf[NT][INNER + 1] = {{{_floats(model.leaf)}}};",
        f"static const int32_t group[NT] = {{{_ints(model.group)}}};",
        f"static const float base[NG] = {{{_floats(model.base)}}};",
    ]
    if kernel == "scalar":
        tables = [
            f"#define BLOCK {BLOCK}",
            f"static const int32_t feature[NT][INNER] = {{{_ints(model.feature)}}};",
            f"static const float threshold[NT][INNER] = {{{_floats(model.threshold)}}};",
            f"static const uint8_t default_left[NT][INNER] = {{{_ints(model.default_left)}}};",
        ]
        return "\n".join(common + tables + [_SCALAR_WALK, _FINISH_PREDICT])
    m = _masks(model)
    n_splits = max(1, len(m["offset"]))  # C has no empty arrays: a model of single leaves

    def pad(a: np.ndarray) -> np.ndarray:
        return a if len(a) else np.zeros(1, dtype=a.dtype)

    tables = [
        f"#define BLOCK {MASK_BLOCK}",
        f"static const int32_t offset[{n_splits}] = {{{_ints(pad(m['offset']))}}};",
        f"static const float split_threshold[{n_splits}] = "
        f"{{{_floats(pad(m['threshold']))}}};",
        f"static const uint8_t default_right[{n_splits}] = {{{_ints(pad(m['default_right']))}}};",
        f"static const uint64_t keep_if_left[{n_splits}] = {{{_words(pad(m['keep_if_left']))}}};",
        f"static const uint64_t keep_if_right[{n_splits}] = "
        f"{{{_words(pad(m['keep_if_right']))}}};",
        f"static const int32_t first_split[NT + 1] = {{{_ints(m['first_split'])}}};",
        f"static const uint64_t reachable[NT] = {{{_words(m['reachable'])}}};",
    ]
    return "\n".join(common + tables + [_MASK_WALK, _FINISH_PREDICT])
