//! Errors of the kernel crate.

/// What can go wrong choosing or running a backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested backend cannot run here (not built, no device, no driver).
    #[error("backend '{backend}' is unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// Why.
        reason: String,
    },
    /// The input cannot be transformed (size not a power of two, too large for the device).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The device failed while running a kernel.
    #[error("device error: {0}")]
    Device(String),
}
