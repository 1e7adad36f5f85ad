//! The one error type of the kernels. The binding layer maps each variant to a
//! `pseudolabel.exceptions` class.

use std::fmt;

/// What is wrong with a probability value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    NaN,
    Infinite,
    OutOfRange,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// A probability is NaN, infinite, or outside [0, 1]. `row`/`col` are the first offender
    /// in row-major order.
    InvalidProbability { row: usize, col: usize, value: f64, problem: ValueProblem },
    /// The input array has an unusable shape.
    Shape(String),
    /// A parameter is invalid; `name` is the parameter's Python name and `message` reads
    /// as its continuation ("k" + "must not be negative, got -1").
    Parameter { name: &'static str, message: String },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::InvalidProbability { row, col, value, problem } => {
                let what = match problem {
                    ValueProblem::NaN => "NaN".to_string(),
                    ValueProblem::Infinite => format!("{value} (not finite)"),
                    ValueProblem::OutOfRange => format!("{value}, outside [0, 1]"),
                };
                write!(f, "invalid probability at row {row}, column {col}: {what}")
            }
            KernelError::Shape(msg) => write!(f, "{msg}"),
            KernelError::Parameter { name, message } => write!(f, "{name} {message}"),
        }
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;

/// A parameter error: `name` followed by `message` reads as one sentence.
pub(crate) fn param(name: &'static str, message: impl Into<String>) -> KernelError {
    KernelError::Parameter { name, message: message.into() }
}
