//! Halo2 circuits for quantized neural networks and storage proofs, and the KZG proving pipeline
//! around them.
//!
//! - [`quantized`]: the integer network the circuit proves, and its reference executor.
//! - [`chips`]: the gates (sparse multiply-accumulate, requantization with range checks,
//!   Poseidon rounds, tensor commitments, Merkle path steps).
//! - [`lookup`]: nonlinear functions read from tables (sigmoid, tanh, exp, GELU, ...).
//! - [`shape`]: the column layout, chosen to minimise area (columns × 2^k).
//! - [`network`]: the whole network as one [`halo2_proofs::plonk::Circuit`].
//! - [`poseidon`]: the Poseidon permutation (BN254, width 3) natively; its chip is in [`chips`].
//! - [`storage`]: many Poseidon Merkle openings against one root (Proof of Space epochs).
//! - [`srs`]: KZG parameters, including a fast insecure development SRS.
//! - [`commitment`]: KZG whose prover MSMs run on a chosen backend (CPU, CUDA).
//! - [`prover`]: key generation, proving, verification, key/proof bytes.

pub mod chips;
pub mod commitment;
mod error;
pub mod lookup;
pub mod network;
pub mod poseidon;
pub mod prover;
pub mod quantized;
pub mod shape;
pub mod srs;
pub mod storage;

pub use commitment::ProverParams;
pub use error::Error;
pub use zkml_gpu_kernels::MsmBackend;
pub use halo2_proofs;
pub use network::{InputVisibility, NetworkCircuit, OutputVisibility, ParamVisibility};
pub use quantized::{Activation, Layer, LayerOp, QuantizedNetwork, Trace};
pub use shape::CircuitShape;
