//! BN254 kernels for the prover, on the CPU and on GPUs. Knows nothing of circuits.
//!
//! - [`backend`]: the [`NttBackend`] interface, backend requests and `auto` selection;
//! - [`cpu`]: the CPU backend (halo2curves), also the reference for the others;
//! - [`wgpu`] (feature `wgpu`): WGSL kernels for any Vulkan/Metal/DX12 device.
//!
//! MSM and the CUDA backend are next; see `BENCHMARKS.md` for measured speeds.

pub mod backend;
pub mod cpu;
mod error;
#[cfg(feature = "wgpu")]
pub mod wgpu;

pub use backend::{select, BackendRequest, NttBackend, Selection};
pub use error::Error;
pub use halo2curves::bn256::Fr;
