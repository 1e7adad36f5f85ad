//! `pseudolabel._core`: the thin PyO3 layer over `pseudolabel-core`.
//!
//! Each function converts its arguments, releases the GIL for the whole computation (never
//! touching Python objects inside), and maps errors to `pseudolabel.exceptions`. Every rule
//! about the values lives in `pseudolabel-core`; the public, documented API is
//! `pseudolabel.kernels`, which only coerces Python objects into the types taken here.

mod errors;
mod sinkhorn;

use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray1};
use pseudolabel_core as core;
use pseudolabel_core::{Matrix, Prob, Score, SelectParams, Threshold};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use errors::{param_err, Error};

/// A probability matrix of either supported dtype, borrowed without a copy.
#[derive(FromPyObject)]
enum ProbArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

fn summarize_t<'py, T: Prob + Element>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, T>,
    entropy: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let view = p.as_array();
    let s = py.detach(|| core::summarize(&Matrix::new(view)?, entropy)).map_err(Error)?;
    let ent = match s.entropy {
        Some(e) => e.into_pyarray(py).into_any(),
        None => py.None().into_bound(py),
    };
    PyTuple::new(
        py,
        [
            s.label.into_pyarray(py).into_any(),
            s.confidence.into_pyarray(py).into_any(),
            s.margin.into_pyarray(py).into_any(),
            ent,
            s.class_counts.into_pyarray(py).into_any(),
            s.class_mean.into_pyarray(py).into_any(),
        ],
    )
}

/// summarize(p, entropy) -> (label, confidence, margin, entropy | None, class_counts, class_mean)
#[pyfunction]
#[pyo3(signature = (p, entropy=false))]
fn summarize<'py>(py: Python<'py>, p: ProbArray<'py>, entropy: bool) -> PyResult<Bound<'py, PyTuple>> {
    match p {
        ProbArray::F32(a) => summarize_t(py, a, entropy),
        ProbArray::F64(a) => summarize_t(py, a, entropy),
    }
}

type SelectionArrays<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

fn selection_out(py: Python<'_>, s: core::Selection) -> SelectionArrays<'_> {
    (s.indices.into_pyarray(py), s.labels.into_pyarray(py), s.scores.into_pyarray(py))
}

/// Per-class counts, checked by the core.
fn counts(name: &'static str, v: Option<PyReadonlyArray1<'_, i64>>) -> Result<Option<Vec<usize>>, Error> {
    let Some(v) = v else { return Ok(None) };
    let values = v.as_array();
    let values: Vec<i64> = values.iter().copied().collect();
    Ok(Some(core::counts(name, &values)?))
}

/// A slice borrowed from a 1-D array, which the kernels module always passes contiguous.
fn borrowed<'a, T: Element>(name: &'static str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| param_err(name, "must be a contiguous 1-D array"))
}

/// select(p, score, threshold, class_thresholds, inclusive, k, per_class_k, largest, exclude)
/// -> (indices, labels, scores), best first.
#[pyfunction]
#[pyo3(signature = (p, score="confidence", threshold=None, class_thresholds=None, inclusive=false,
                    k=None, per_class_k=None, largest=true, exclude=None))]
#[allow(clippy::too_many_arguments)]
fn select<'py>(
    py: Python<'py>,
    p: ProbArray<'py>,
    score: &str,
    threshold: Option<f64>,
    class_thresholds: Option<PyReadonlyArray1<'py, f64>>,
    inclusive: bool,
    k: Option<i64>,
    per_class_k: Option<PyReadonlyArray1<'py, i64>>,
    largest: bool,
    exclude: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<SelectionArrays<'py>> {
    let mut params = SelectParams::new(Score::parse(score).map_err(Error)?);
    params.threshold = match (threshold, class_thresholds) {
        (Some(_), Some(_)) => {
            return Err(param_err("threshold", "must be one scalar or per-class thresholds, not both"))
        }
        (Some(t), None) => Some(Threshold::Global(t)),
        (None, Some(a)) => Some(Threshold::PerClass(a.as_array().to_vec())),
        (None, None) => None,
    };
    params.inclusive = inclusive;
    params.k = k.map(|k| core::count("k", k)).transpose().map_err(Error)?;
    params.per_class_k = counts("per_class_k", per_class_k)?;
    params.largest = largest;
    params.exclude = exclude.as_ref().map(|e| borrowed("exclude", e)).transpose()?;
    let sel = match p {
        ProbArray::F32(a) => {
            let view = a.as_array();
            py.detach(|| core::select(&Matrix::new(view)?, &params))
        }
        ProbArray::F64(a) => {
            let view = a.as_array();
            py.detach(|| core::select(&Matrix::new(view)?, &params))
        }
    }
    .map_err(Error)?;
    Ok(selection_out(py, sel))
}

/// reduce_candidates(indices, labels, scores, k, per_class_k, largest) -> (indices, labels, scores)
#[pyfunction]
#[pyo3(signature = (indices, labels, scores, k=None, per_class_k=None, largest=true))]
fn reduce_candidates<'py>(
    py: Python<'py>,
    indices: PyReadonlyArray1<'py, i64>,
    labels: PyReadonlyArray1<'py, i64>,
    scores: PyReadonlyArray1<'py, f64>,
    k: Option<i64>,
    per_class_k: Option<PyReadonlyArray1<'py, i64>>,
    largest: bool,
) -> PyResult<SelectionArrays<'py>> {
    let k = k.map(|k| core::count("k", k)).transpose().map_err(Error)?;
    let quotas = counts("per_class_k", per_class_k)?;
    let (i, l, s) = (borrowed("indices", &indices)?, borrowed("labels", &labels)?, borrowed("scores", &scores)?);
    let sel = py.detach(|| core::reduce_candidates(i, l, s, k, quotas, largest)).map_err(Error)?;
    Ok(selection_out(py, sel))
}

/// quantile(p, q, per_class) -> float64 array of length 1 (global) or C (per class)
#[pyfunction]
#[pyo3(signature = (p, q, per_class=false))]
fn quantile<'py>(py: Python<'py>, p: ProbArray<'py>, q: f64, per_class: bool) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let v = match p {
        ProbArray::F32(a) => {
            let view = a.as_array();
            py.detach(|| core::quantile(&Matrix::new(view)?, q, per_class))
        }
        ProbArray::F64(a) => {
            let view = a.as_array();
            py.detach(|| core::quantile(&Matrix::new(view)?, q, per_class))
        }
    }
    .map_err(Error)?;
    Ok(v.into_pyarray(py))
}

#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    core::set_num_threads(n).map_err(|e| Error(e).into())
}

#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    core::get_num_threads().map_err(|e| Error(e).into())
}

// ---------------------------------------------------------------------------------------------
// diverse batches: distances between feature rows (distance.rs, kcenter.rs in the core)
// ---------------------------------------------------------------------------------------------

/// A matrix of feature rows of either supported dtype, borrowed without a copy.
#[derive(FromPyObject)]
enum FeatureArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

/// Borrow a C-contiguous 2-D array as feature rows (the kernels module passes it so).
fn points<'a, T: Prob + Element>(name: &'static str, a: &'a PyReadonlyArray2<'_, T>) -> PyResult<core::Points<'a, T>> {
    let (n, d) = a.as_array().dim();
    let data = a.as_slice().map_err(|_| param_err(name, "must be a C-contiguous 2-D array"))?;
    core::Points::new(name, data, n, d).map_err(|e| Error(e).into())
}

fn same_dtype_err(name: &'static str) -> PyErr {
    param_err(name, "must have the pool's dtype (float32 or float64)")
}

/// min_distance_update(pool, centers, current_min, nearest=None, center_offset=0): in place
#[pyfunction]
#[pyo3(signature = (pool, centers, current_min, nearest=None, center_offset=0))]
fn min_distance_update<'py>(
    py: Python<'py>,
    pool: FeatureArray<'py>,
    centers: FeatureArray<'py>,
    mut current_min: PyReadwriteArray1<'py, f64>,
    nearest: Option<PyReadwriteArray1<'py, i64>>,
    center_offset: i64,
) -> PyResult<()> {
    let mins = current_min.as_slice_mut().map_err(|_| param_err("current_min", "must be a contiguous 1-D array"))?;
    let mut nearest = nearest;
    let near = match nearest.as_mut() {
        Some(a) => Some(a.as_slice_mut().map_err(|_| param_err("nearest", "must be a contiguous 1-D array"))?),
        None => None,
    };
    match (pool, centers) {
        (FeatureArray::F32(p), FeatureArray::F32(c)) => {
            let (p, c) = (points("the pool", &p)?, points("centers", &c)?);
            py.detach(|| core::min_distance_update(&p, &c, mins, near, center_offset))
        }
        (FeatureArray::F64(p), FeatureArray::F64(c)) => {
            let (p, c) = (points("the pool", &p)?, points("centers", &c)?);
            py.detach(|| core::min_distance_update(&p, &c, mins, near, center_offset))
        }
        _ => return Err(same_dtype_err("centers")),
    }
    .map_err(|e| Error(e).into())
}

/// kcenter_greedy(pool, centers, k, exclude=None) -> (indices, squared distances at pick)
#[pyfunction]
#[pyo3(signature = (pool, centers, k, exclude=None))]
fn kcenter_greedy<'py>(
    py: Python<'py>,
    pool: FeatureArray<'py>,
    centers: FeatureArray<'py>,
    k: i64,
    exclude: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>)> {
    let k = core::count("k", k).map_err(Error)?;
    let exclude = exclude.as_ref().map(|e| borrowed("exclude", e)).transpose()?;
    let picks = match (pool, centers) {
        (FeatureArray::F32(p), FeatureArray::F32(c)) => {
            let (p, c) = (points("the pool", &p)?, points("centers", &c)?);
            py.detach(|| core::kcenter_greedy(&p, &c, k, exclude))
        }
        (FeatureArray::F64(p), FeatureArray::F64(c)) => {
            let (p, c) = (points("the pool", &p)?, points("centers", &c)?);
            py.detach(|| core::kcenter_greedy(&p, &c, k, exclude))
        }
        _ => return Err(same_dtype_err("centers")),
    }
    .map_err(Error)?;
    Ok((picks.indices.into_pyarray(py), picks.distances.into_pyarray(py)))
}

/// kmeans_pp_factored(a, h, k, draws, exclude=None) -> indices in pick order
#[pyfunction]
#[pyo3(signature = (a, h, k, draws, exclude=None))]
fn kmeans_pp_factored<'py>(
    py: Python<'py>,
    a: FeatureArray<'py>,
    h: FeatureArray<'py>,
    k: i64,
    draws: PyReadonlyArray1<'py, f64>,
    exclude: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let k = core::count("k", k).map_err(Error)?;
    let draws = borrowed("draws", &draws)?;
    let exclude = exclude.as_ref().map(|e| borrowed("exclude", e)).transpose()?;
    let picks = match (a, h) {
        (FeatureArray::F32(a), FeatureArray::F32(h)) => {
            let (a, h) = (points("the gradient factor", &a)?, points("the embedding", &h)?);
            py.detach(|| core::kmeans_pp_factored(&a, &h, k, draws, exclude))
        }
        (FeatureArray::F64(a), FeatureArray::F64(h)) => {
            let (a, h) = (points("the gradient factor", &a)?, points("the embedding", &h)?);
            py.detach(|| core::kmeans_pp_factored(&a, &h, k, draws, exclude))
        }
        _ => return Err(same_dtype_err("h")),
    }
    .map_err(Error)?;
    Ok(picks.into_pyarray(py))
}

/// ranked_batch(candidates, uncertainty, labeled, n, n_unlabeled) -> (positions, scores)
#[pyfunction]
fn ranked_batch<'py>(
    py: Python<'py>,
    candidates: FeatureArray<'py>,
    uncertainty: PyReadonlyArray1<'py, f64>,
    labeled: FeatureArray<'py>,
    n: i64,
    n_unlabeled: i64,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>)> {
    let n = core::count("n", n).map_err(Error)?;
    let n_unlabeled = core::count("n_unlabeled", n_unlabeled).map_err(Error)?;
    let u = borrowed("uncertainty", &uncertainty)?;
    let picks = match (candidates, labeled) {
        (FeatureArray::F32(c), FeatureArray::F32(l)) => {
            let (c, l) = (points("the candidates", &c)?, points("the labeled rows", &l)?);
            py.detach(|| core::ranked_batch(&c, u, &l, n, n_unlabeled))
        }
        (FeatureArray::F64(c), FeatureArray::F64(l)) => {
            let (c, l) = (points("the candidates", &c)?, points("the labeled rows", &l)?);
            py.detach(|| core::ranked_batch(&c, u, &l, n, n_unlabeled))
        }
        _ => return Err(same_dtype_err("labeled")),
    }
    .map_err(Error)?;
    Ok((picks.positions.into_pyarray(py), picks.scores.into_pyarray(py)))
}

/// Register the diverse-batch functions.
fn add_distance_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(min_distance_update, m)?)?;
    m.add_function(wrap_pyfunction!(kcenter_greedy, m)?)?;
    m.add_function(wrap_pyfunction!(kmeans_pp_factored, m)?)?;
    m.add_function(wrap_pyfunction!(ranked_batch, m)?)?;
    Ok(())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    m.add_function(wrap_pyfunction!(select, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(quantile, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add("ENV_NUM_THREADS", core::ENV_NUM_THREADS)?;
    m.add("MAX_NUM_THREADS", core::max_threads())?;
    m.add("MAX_ROWS", core::MAX_ROWS)?;
    sinkhorn::register(m)?;
    add_distance_functions(m)?;
    Ok(())
}
