//! The binding of the Sinkhorn allocation kernel (`pseudolabel_core::sinkhorn`).

use numpy::{Element, IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pseudolabel_core as core;
use pseudolabel_core::{Matrix, Prob, SinkhornParams};
use pyo3::prelude::*;

use crate::errors::{param_err, Error};

#[derive(FromPyObject)]
enum ProbArray<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

type AllocationArrays<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

fn run<T: Prob + Element>(
    py: Python<'_>,
    p: PyReadonlyArray2<'_, T>,
    keep: Option<&[bool]>,
    params: &SinkhornParams,
) -> Result<core::Allocation, Error> {
    let view = p.as_array();
    Ok(py.detach(|| core::sinkhorn(&Matrix::new(view)?, keep, params))?)
}

/// sinkhorn(p, upper, lower, rho, regularization, n_iter, keep=None) -> (plan, row_scale, col_scale)
#[pyfunction]
#[pyo3(signature = (p, upper, lower, rho, regularization, n_iter, keep=None))]
#[allow(clippy::too_many_arguments)]
fn sinkhorn<'py>(
    py: Python<'py>,
    p: ProbArray<'py>,
    upper: PyReadonlyArray1<'py, f64>,
    lower: PyReadonlyArray1<'py, f64>,
    rho: f64,
    regularization: f64,
    n_iter: i64,
    keep: Option<PyReadonlyArray1<'py, bool>>,
) -> PyResult<AllocationArrays<'py>> {
    let n_iter = usize::try_from(n_iter).map_err(|_| param_err("n_iter", format!("must be >= 1, got {n_iter}")))?;
    let params = SinkhornParams {
        upper: upper.as_array().to_vec(),
        lower: lower.as_array().to_vec(),
        rho,
        regularization,
        n_iter,
    };
    let keep_slice = match keep.as_ref() {
        Some(k) => Some(k.as_slice().map_err(|_| param_err("keep", "must be a contiguous 1-D array"))?),
        None => None,
    };
    let (n, c, out) = match p {
        ProbArray::F32(a) => {
            let (n, c) = a.as_array().dim();
            (n, c, run(py, a, keep_slice, &params)?)
        }
        ProbArray::F64(a) => {
            let (n, c) = a.as_array().dim();
            (n, c, run(py, a, keep_slice, &params)?)
        }
    };
    let plan = ndarray::Array2::from_shape_vec((n, c), out.plan)
        .map_err(|e| param_err("p", format!("plan has the wrong size: {e}")))?;
    Ok((plan.into_pyarray(py), out.row_scale.into_pyarray(py), out.col_scale.into_pyarray(py)))
}

/// Add this file's functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sinkhorn, m)?)?;
    Ok(())
}
