//! zkml-core: prove that a neural network produced an output (Proof of Intelligence) and that a
//! node stores what it committed to (Proof of Space), with Halo2 (KZG on BN254).
//!
//! The pipeline, one module per step:
//! - [`quantize`]: fixed-point conversion between floats and the circuit's integers;
//! - [`onnx`]: import an ONNX model into a [`float_model::FloatModel`];
//! - [`calibrate`]: choose fixed-point scales from sample inputs and report fidelity;
//! - [`poi`]: compile to a circuit, set up keys, prove and verify inferences;
//! - [`space`]: Proof of Space — plots, initialization and epoch storage proofs, compressed
//!   storage proofs;
//! - [`consensus`]: epoch tasks, submission verification and reward splitting for nodes;
//! - [`srs`]: KZG parameters from a file or the cached insecure development SRS;
//! - [`artifacts`]: settings, keys and proof files; [`data`]: EZKL-format input files;
//! - [`fixtures`]: seeded synthetic MLPs as ONNX files;
//! - [`kernels`] (feature `gpu`): the MSM and NTT backends (CPU, CUDA, wgpu) and their `auto`
//!   selection; key generation and proving commit through one ([`poi::setup_dir`],
//!   [`poi::Keys::use_backend`]).
//!
//! ```no_run
//! use zkml_core::{compile, prove, setup, verify, CompileOptions, VerifierKeys};
//! # fn main() -> zkml_core::Result<()> {
//! let onnx = std::fs::read("model.onnx").unwrap();
//! let samples = zkml_core::data::read_input_data("input.json".as_ref())?;
//! let model = compile(&onnx, &samples, &CompileOptions::default())?;
//! println!("k = {}, {}", model.settings.k, model.settings.fidelity);
//! let (srs, _) = zkml_core::srs::obtain_srs(&zkml_core::srs::SrsSource::InsecureDev, model.settings.k)?;
//! let keys = setup(&model, srs, |_| {})?;
//! let proof = prove(&model, &keys, &samples[0])?;
//! let verifier = VerifierKeys { srs: keys.srs().clone(), vk: keys.vk().clone() };
//! verify(&model.settings, &verifier, &proof)?;
//! # Ok(()) }
//! ```

pub mod artifacts;
#[cfg(feature = "onnx")]
pub mod calibrate;
pub mod consensus;
pub mod data;
mod error;
#[cfg(feature = "onnx")]
pub mod fixtures;
#[cfg(feature = "onnx")]
pub mod float_model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod poi;
pub mod quantize;
pub mod space;
pub mod srs;

#[cfg(feature = "gpu")]
pub use zkml_gpu_kernels as kernels;

pub use artifacts::{CompiledModel, ParamVisibility, Settings};
pub use error::{Error, Result};
#[cfg(feature = "onnx")]
pub use poi::compile;
pub use poi::{
    input_commitment, output_commitment, prove, setup, setup_dir, verify, CompileOptions, Keys, Proof, VerifierKeys,
};
pub use zkml_circuits::{Error as CircuitError, InputVisibility, OutputVisibility, ProverParams};
