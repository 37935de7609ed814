//! Errors of the circuits crate.

/// What can go wrong while building, proving or verifying a network circuit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The quantized network is inconsistent (dimensions, parameters).
    #[error("invalid network: {0}")]
    InvalidNetwork(String),
    /// The input vector has the wrong length.
    #[error("the input has {got} values but the model expects {expected}")]
    InputLength {
        /// Values the model takes.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A value left the range the circuit was calibrated for.
    #[error(
        "layer '{layer}': value {value} is outside the calibrated range ±2^{range_bits}; \
         recalibrate with sample inputs that cover this input"
    )]
    OutOfRange {
        /// Layer (node) name.
        layer: String,
        /// The offending integer.
        value: i128,
        /// The bound's bit width.
        range_bits: u32,
    },
    /// A witness does not fit the circuit it is meant for.
    #[error("invalid witness: {0}")]
    InvalidWitness(String),
    /// The SRS is unusable.
    #[error("SRS: {0}")]
    Srs(String),
    /// A key or proof could not be decoded.
    #[error("cannot decode {0}")]
    Decode(String),
    /// The verifier rejected the proof.
    #[error("proof rejected: {0}")]
    Verification(String),
    /// The MSM backend failed (while loading the SRS bases).
    #[error("MSM backend: {0}")]
    Backend(String),
    /// halo2 failed during key generation or proving.
    #[error("halo2: {0}")]
    Halo2(#[from] halo2_proofs::plonk::Error),
}
