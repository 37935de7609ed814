//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in zkml-core, each with what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX file could not be parsed at all.
    #[error("malformed ONNX model: {0}")]
    MalformedModel(String),
    /// A node uses an operator (or a form of one) that cannot be compiled.
    #[error("node '{node}' (op {op}): {reason}")]
    UnsupportedOp {
        /// Node name (or its first output when unnamed).
        node: String,
        /// ONNX operator type.
        op: String,
        /// Why it cannot be compiled.
        reason: String,
    },
    /// The model as a whole cannot be compiled (inputs, outputs, shapes).
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    /// Input data is unusable (shape, NaN, file format).
    #[error("input data: {0}")]
    Data(String),
    /// An artifact (settings, key, proof file) is missing or malformed.
    #[error("{path}: {reason}")]
    Artifact {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// Proof-of-Space parameters are unusable.
    #[error("invalid space parameters: {0}")]
    InvalidParameters(String),
    /// A binary artifact could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// Which artifact.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A plot directory cannot be used (damaged, incomplete, or another replica's).
    #[error("plot {path}: {reason}")]
    Plot {
        /// The plot directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A Proof-of-Space proof was checked and rejected.
    #[error("space proof rejected: {0}")]
    Rejected(String),
    /// Circuit construction, proving or verification failed.
    #[error(transparent)]
    Circuit(#[from] zkml_circuits::Error),
    /// A compute backend (CUDA, wgpu) could not be used.
    #[error("backend: {0}")]
    Backend(String),
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}
