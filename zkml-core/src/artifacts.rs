//! Artifacts and their files: a compiled model directory (`settings.json`, `network.json`,
//! then `kzg.srs`, `vk.bin`, `pk.bin` after setup) and proof files.
//!
//! Every file is written to a temporary name, synced, then renamed, so an interrupted run never
//! leaves a half-written artifact under the final name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;
use zkml_circuits::{CircuitShape, InputVisibility, OutputVisibility, QuantizedNetwork};

use crate::error::{Error, Result};

/// Version of the settings, network and proof file formats. Version 2: networks of sparse
/// affine and product layers with function tables, sign-and-magnitude requantization, hashed
/// visibility; version 1 (chains of dense layers) is refused.
pub const FORMAT_VERSION: u32 = 2;

/// File names inside a compiled model directory.
pub mod files {
    /// Circuit settings (JSON).
    pub const SETTINGS: &str = "settings.json";
    /// The quantized network (JSON).
    pub const NETWORK: &str = "network.json";
    /// KZG parameters at the circuit's size (halo2 format).
    pub const SRS: &str = "kzg.srs";
    /// Verifying key (halo2 raw bytes).
    pub const VK: &str = "vk.bin";
    /// Proving key (halo2 raw bytes).
    pub const PK: &str = "pk.bin";
}

/// How well the quantized network reproduces the float model on the calibration samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FidelityReport {
    /// Number of samples compared.
    pub samples: usize,
    /// Largest absolute output error.
    pub max_abs_error: f64,
    /// Mean absolute output error.
    pub mean_abs_error: f64,
    /// Samples whose arg-max output agrees.
    pub top1_agreement: usize,
}

impl std::fmt::Display for FidelityReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fidelity over {} sample(s): max |err| {:.3e}, mean |err| {:.3e}, top-1 agreement {}/{}",
            self.samples, self.max_abs_error, self.mean_abs_error, self.top1_agreement, self.samples
        )
    }
}

pub use zkml_circuits::ParamVisibility;

/// Where the SRS of a set of keys came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum SrsOrigin {
    /// The insecure development SRS: its secret is public.
    InsecureDev,
    /// A params file given by the user.
    File(PathBuf),
}

/// Everything the later steps need to know about a compiled circuit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// File format version.
    pub version: u32,
    /// The circuit has `2^k` rows.
    pub k: u32,
    /// Fractional bits of inputs, activations and outputs.
    pub scale_bits: u32,
    /// Fractional bits of the weights.
    pub shift: u32,
    /// Requantized values lie in `±2^range_bits`.
    pub range_bits: u32,
    /// The model's input shape (batch 1).
    pub input_shape: Vec<usize>,
    /// Number of output values.
    pub output_len: usize,
    /// Input visibility.
    pub input_visibility: InputVisibility,
    /// Output visibility.
    #[serde(default)]
    pub output_visibility: OutputVisibility,
    /// Parameter visibility.
    pub param_visibility: ParamVisibility,
    /// The column layout.
    pub shape: CircuitShape,
    /// With hashed parameters: the weights' Poseidon commitment (canonical hex), which every
    /// proof of this model carries as an instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_commitment: Option<String>,
    /// BLAKE3 of `network.json`: ties proofs to the compiled network.
    pub network_digest: String,
    /// Fidelity measured at calibration.
    pub fidelity: FidelityReport,
    /// Set by setup: where the keys' SRS came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srs: Option<SrsOrigin>,
}

impl Settings {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of public instances a proof carries.
    pub fn instance_len(&self) -> usize {
        self.input_instances() + usize::from(self.param_visibility == ParamVisibility::Hashed) + self.output_instances()
    }

    /// Number of instances the input takes: its values, one commitment, or none.
    pub fn input_instances(&self) -> usize {
        match self.input_visibility {
            InputVisibility::Public => self.input_len(),
            InputVisibility::Hashed => 1,
            InputVisibility::Private => 0,
        }
    }

    /// Number of instances the output takes: its values, or one commitment.
    pub fn output_instances(&self) -> usize {
        match self.output_visibility {
            OutputVisibility::Public => self.output_len,
            OutputVisibility::Hashed => 1,
        }
    }
}

/// A proof file: proof bytes, public instances, and the outputs they encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    /// File format version.
    pub version: u32,
    /// The compiled network this proof is for.
    pub network_digest: String,
    /// Proof bytes (hex).
    pub proof: String,
    /// Public instances: 32-byte little-endian canonical field elements (hex).
    pub instances: Vec<String>,
    /// The model outputs, dequantized (they must match the instances).
    pub outputs: Vec<f32>,
}

/// Encodes a field element as canonical little-endian hex.
pub fn field_to_hex(v: &Fr) -> String {
    hex::encode(v.to_repr())
}

/// Decodes canonical little-endian hex; rejects wrong lengths and values ≥ p.
pub fn field_from_hex(s: &str) -> Option<Fr> {
    let bytes: [u8; 32] = hex::decode(s).ok()?.try_into().ok()?;
    Option::from(Fr::from_repr(bytes))
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], for content produced by `write` (buffered).
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::io::BufWriter::new(fs::File::create(&tmp)?);
        write(&mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(Error::io(path))
}

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(Error::io(path))
}

/// Reads and parses a JSON file.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read_file(path)?)
        .map_err(|e| Error::Artifact { path: path.to_owned(), reason: format!("invalid JSON: {e}") })
}

/// Serializes to pretty JSON and writes atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("artifacts serialize to JSON");
    write_atomic(path, &bytes)
}

/// A compiled model: settings plus the quantized network.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledModel {
    /// Circuit settings.
    pub settings: Settings,
    /// The integer network.
    pub network: QuantizedNetwork,
}

impl CompiledModel {
    /// Writes `settings.json` and `network.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        write_atomic(&dir.join(files::NETWORK), &network_bytes(&self.network))?;
        write_json(&dir.join(files::SETTINGS), &self.settings)
    }

    /// Reads a compiled model directory and checks that its parts belong together.
    pub fn load(dir: &Path) -> Result<Self> {
        let settings_path = dir.join(files::SETTINGS);
        let settings: Settings = read_json(&settings_path)?;
        if settings.version != FORMAT_VERSION {
            return Err(Error::Artifact {
                path: settings_path,
                reason: format!("format version {} is not supported (expected {FORMAT_VERSION})", settings.version),
            });
        }
        let network_path = dir.join(files::NETWORK);
        let bytes = read_file(&network_path)?;
        if blake3::hash(&bytes).to_hex().as_str() != settings.network_digest {
            return Err(Error::Artifact {
                path: network_path,
                reason: "does not match the digest in settings.json (files from different compilations?)".into(),
            });
        }
        let network: QuantizedNetwork = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Artifact { path: network_path.clone(), reason: format!("invalid JSON: {e}") })?;
        network.validate()?;
        settings.shape.validate(&network)?;
        if !(zkml_circuits::shape::MIN_K..=zkml_circuits::shape::MAX_K).contains(&settings.k) {
            return Err(Error::Artifact { path: settings_path, reason: format!("k = {} is out of range", settings.k) });
        }
        Ok(Self { settings, network })
    }
}

/// The canonical bytes of a network (what `network_digest` hashes).
pub fn network_bytes(network: &QuantizedNetwork) -> Vec<u8> {
    serde_json::to_vec(network).expect("networks serialize to JSON")
}
