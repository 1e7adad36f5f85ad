//! The one conversion from the kernels' error enum to `pseudolabel.exceptions`.

use pseudolabel_core::KernelError;
use pyo3::PyErr;

pyo3::import_exception!(pseudolabel.exceptions, InputError);
pyo3::import_exception!(pseudolabel.exceptions, ProbabilityError);
pyo3::import_exception!(pseudolabel.exceptions, ParameterError);

pub struct Error(pub KernelError);

impl From<KernelError> for Error {
    fn from(e: KernelError) -> Self {
        Error(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.0.to_string();
        match e.0 {
            KernelError::InvalidProbability { .. } => ProbabilityError::new_err(msg),
            KernelError::Shape(_) => InputError::new_err(msg),
            KernelError::Parameter { .. } => ParameterError::new_err(msg),
        }
    }
}

pub fn param_err(name: &'static str, message: impl Into<String>) -> PyErr {
    Error(KernelError::Parameter { name, message: message.into() }).into()
}
