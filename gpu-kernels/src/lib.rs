//! BN254 kernels for the prover, on the CPU and on GPUs. Knows nothing of circuits.
//!
//! - [`backend`]: the [`NttBackend`] and [`MsmBackend`] interfaces, backend requests, `auto`
//!   selection and the survey of what runs here;
//! - [`cpu`]: the CPU backend (halo2curves), also the reference for the others;
//! - [`cuda`] (feature `cuda`): CUDA kernels compiled at run time by NVRTC (NTT and MSM);
//! - [`wgpu`] (feature `wgpu`): WGSL kernels for any Vulkan/Metal/DX12 device (NTT and MSM);
//! - `layout` (internal): field elements and points in GPU memory, shared by the GPU backends;
//! - `pippenger` (internal): the host side of the GPU MSMs (the window tables of resident bases,
//!   the plan of an MSM, the levels of the bucket reduction, the final sum);
//! - [`sample`]: many distinct curve points, cheaply, for tests and benchmarks.
//!
//! See `BENCHMARKS.md` for measured speeds.

pub mod backend;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod layout;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod pippenger;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub use pippenger::{BaseTables, MsmPlan, MSM_TABLES_ENV, MSM_WINDOW_BITS_ENV};
pub mod sample;
#[cfg(feature = "wgpu")]
pub mod wgpu;

pub use backend::{select, survey, BackendRequest, BackendStatus, KernelTime, MsmBackend, NttBackend, ResidentBases, Selection, Survey, Transform, NTT_TILES_ENV};
pub use error::Error;
pub use halo2curves::bn256::{Fr, G1Affine, G1};
pub use halo2curves::ff::Field;
