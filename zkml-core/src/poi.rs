//! Proof of Intelligence: compile a model, set up keys, prove an inference, verify it.

use std::path::Path;

use zkml_circuits::halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;
use zkml_circuits::halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use zkml_circuits::prover;
use zkml_circuits::srs::Srs;
use zkml_circuits::{MsmBackend, ProverParams};
use zkml_circuits::shape::DEFAULT_MAX_PROOF_BYTES;
use zkml_circuits::poseidon::commit;
use zkml_circuits::{InputVisibility, NetworkCircuit, OutputVisibility, Trace};

use crate::artifacts::{
    field_from_hex, field_to_hex, files, read_file, read_json, write_atomic, write_json, CompiledModel,
    ParamVisibility, ProofFile, Settings, SrsOrigin, FORMAT_VERSION,
};
#[cfg(feature = "onnx")]
use crate::calibrate::calibrate;
use crate::error::{Error, Result};
#[cfg(feature = "onnx")]
use crate::onnx::OnnxModel;
use crate::quantize::{check_input, dequantize, quantize_input};
use crate::srs::{load_srs, obtain_srs, save_srs, SrsSource};

/// Choices made at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Who sees the input: nobody, everyone, or its Poseidon commitment.
    pub input_visibility: InputVisibility,
    /// Who sees the output: everyone, or its Poseidon commitment.
    pub output_visibility: OutputVisibility,
    /// Whether the weights are baked into the circuit, private, or private and committed.
    pub param_visibility: ParamVisibility,
    /// The layout search prefers the fastest-proving layout whose proofs fit in this many
    /// bytes; more columns prove faster (smaller `k`) but add commitments and evaluations.
    pub max_proof_bytes: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            input_visibility: InputVisibility::Private,
            output_visibility: OutputVisibility::Public,
            param_visibility: ParamVisibility::Fixed,
            max_proof_bytes: DEFAULT_MAX_PROOF_BYTES,
        }
    }
}

/// Imports an ONNX model, calibrates it on `samples`, and lays out its circuit.
#[cfg(feature = "onnx")]
pub fn compile(onnx: &[u8], samples: &[Vec<f32>], options: &CompileOptions) -> Result<CompiledModel> {
    let model = OnnxModel::from_bytes(onnx)?;
    let (network, fidelity) = calibrate(&model, samples)?;
    let (circuit, k) = NetworkCircuit::compile(
        network,
        options.param_visibility,
        options.input_visibility,
        options.output_visibility,
        options.max_proof_bytes,
    )?;
    let settings = Settings {
        version: FORMAT_VERSION,
        k,
        scale_bits: circuit.network.scale_bits,
        shift: circuit.network.shift,
        range_bits: circuit.network.range_bits,
        input_shape: model.float.input_shape.clone(),
        output_len: model.float.output_len(),
        input_visibility: options.input_visibility,
        output_visibility: options.output_visibility,
        param_visibility: options.param_visibility,
        shape: circuit.shape,
        params_commitment: (options.param_visibility == ParamVisibility::Hashed)
            .then(|| field_to_hex(&circuit.params_commitment())),
        network_digest: blake3::hash(&crate::artifacts::network_bytes(&circuit.network)).to_hex().to_string(),
        fidelity,
        srs: None,
    };
    Ok(CompiledModel { settings, network: circuit.network })
}

impl CompiledModel {
    /// The key-generation circuit (no witness).
    pub fn circuit(&self) -> NetworkCircuit {
        NetworkCircuit {
            shape: self.settings.shape,
            network: self.network.clone(),
            input_visibility: self.settings.input_visibility,
            output_visibility: self.settings.output_visibility,
            param_visibility: self.settings.param_visibility,
            trace: None,
        }
    }

    /// Runs the quantized network on a float input.
    pub fn run(&self, input: &[f32]) -> Result<Trace> {
        check_input(input, self.settings.input_len())?;
        Ok(self.network.forward(&quantize_input(input, self.settings.scale_bits))?)
    }

    /// The quantized network's outputs as floats.
    pub fn predict(&self, input: &[f32]) -> Result<Vec<f32>> {
        Ok(dequantize(self.run(input)?.output(), self.settings.scale_bits))
    }
}

/// Proving material: the SRS (with the backend its commitments run on) and the proving key
/// (which holds the verifying key).
pub struct Keys {
    /// KZG parameters at the circuit's size, and where their MSMs run.
    pub params: ProverParams,
    /// The proving key.
    pub pk: ProvingKey<G1Affine>,
}

/// Generates the verifying and proving keys. `params` is an SRS (MSMs on the CPU) or
/// [`ProverParams`] on a backend; `progress` is told each step as it starts.
pub fn setup(model: &CompiledModel, params: impl Into<ProverParams>, mut progress: impl FnMut(&str)) -> Result<Keys> {
    let params = params.into();
    let circuit = model.circuit();
    progress("verifying key");
    let vk = prover::keygen_verifying_key(&params, &circuit)?;
    progress("proving key");
    let pk = prover::keygen_proving_key(&params, vk, &circuit)?;
    Ok(Keys { params, pk })
}

/// Sets up a compiled model directory: gets the SRS, generates the keys, writes them beside the
/// model and records where the SRS came from in `settings.json`. `progress` is told each step.
///
/// With a `backend`, the SRS bases are uploaded to it and key generation's MSMs run there.
pub fn setup_dir(dir: &Path, source: &SrsSource, backend: Option<&dyn MsmBackend>, mut progress: impl FnMut(&str)) -> Result<Keys> {
    let mut model = CompiledModel::load(dir)?;
    progress("srs");
    let (srs, _) = obtain_srs(source, model.settings.k)?;
    let params = match backend {
        Some(backend) => {
            progress("uploading the SRS");
            ProverParams::on_backend(srs, backend)?
        }
        None => srs.into(),
    };
    let keys = setup(&model, params, &mut progress)?;
    progress("writing keys");
    keys.save(dir)?;
    model.settings.srs = Some(match source {
        SrsSource::InsecureDev => SrsOrigin::InsecureDev,
        SrsSource::File(path) => SrsOrigin::File(path.clone()),
    });
    model.save(dir)?;
    Ok(keys)
}

impl Keys {
    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// The SRS.
    pub fn srs(&self) -> &Srs {
        self.params.srs()
    }

    /// Moves the prover's MSMs to `backend` (uploading the SRS bases to it).
    pub fn use_backend(&mut self, backend: &dyn MsmBackend) -> Result<()> {
        Ok(self.params.use_backend(backend)?)
    }

    /// Writes `kzg.srs`, `vk.bin` and `pk.bin` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_srs(self.srs(), &dir.join(files::SRS))?;
        write_atomic(&dir.join(files::VK), &prover::verifying_key_bytes(self.vk()))?;
        write_atomic(&dir.join(files::PK), &prover::proving_key_bytes(&self.pk))
    }

    /// Reads the keys written by [`Keys::save`].
    pub fn load(dir: &Path, settings: &Settings) -> Result<Self> {
        let srs = load_srs(&dir.join(files::SRS), settings.k)?;
        let path = dir.join(files::PK);
        let pk = prover::read_proving_key::<NetworkCircuit>(&read_file(&path)?, settings.shape)
            .map_err(|e| Error::Artifact { path, reason: e.to_string() })?;
        Ok(Self { params: srs.into(), pk })
    }
}

/// What a verifier needs: the SRS and the verifying key.
pub struct VerifierKeys {
    /// KZG parameters (only the first G1 point and the G2 points are used).
    pub srs: Srs,
    /// The verifying key.
    pub vk: VerifyingKey<G1Affine>,
}

impl VerifierKeys {
    /// Reads `kzg.srs` and `vk.bin` from `dir`.
    pub fn load(dir: &Path, settings: &Settings) -> Result<Self> {
        let srs = load_srs(&dir.join(files::SRS), settings.k)?;
        let path = dir.join(files::VK);
        let vk = prover::read_verifying_key::<NetworkCircuit>(&read_file(&path)?, settings.shape)
            .map_err(|e| Error::Artifact { path, reason: e.to_string() })?;
        Ok(Self { srs, vk })
    }
}

/// A proof of one inference.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    /// The compiled network it is for.
    pub network_digest: String,
    /// halo2 proof bytes.
    pub proof: Vec<u8>,
    /// Public instances: the input (public) or its commitment (hashed), then the quantized
    /// outputs or their commitment.
    pub instances: Vec<Fr>,
    /// The outputs as floats. With a hashed output the prover may leave them out (empty);
    /// when present they must match the commitment.
    pub outputs: Vec<f32>,
}

impl Proof {
    /// The input's commitment, when the model's input is hashed.
    pub fn input_commitment(&self, settings: &Settings) -> Option<Fr> {
        (settings.input_visibility == InputVisibility::Hashed).then(|| self.instances.first().copied()).flatten()
    }

    /// The weights' commitment, when the model's parameters are hashed.
    pub fn params_commitment(&self, settings: &Settings) -> Option<Fr> {
        (settings.param_visibility == ParamVisibility::Hashed).then(|| self.instances.get(settings.input_instances()).copied()).flatten()
    }

    /// The output's commitment, when the model's output is hashed.
    pub fn output_commitment(&self, settings: &Settings) -> Option<Fr> {
        (settings.output_visibility == OutputVisibility::Hashed).then(|| self.instances.last().copied()).flatten()
    }
}

/// The Poseidon commitment of a float input as the circuit computes it (quantized at the
/// model's scale): what a verifier who knows the input compares with
/// [`Proof::input_commitment`].
pub fn input_commitment(settings: &Settings, input: &[f32]) -> Result<Fr> {
    check_input(input, settings.input_len())?;
    Ok(commit_quantized(&quantize_input(input, settings.scale_bits)))
}

/// The Poseidon commitment of float outputs (as [`Proof::outputs`] states them).
pub fn output_commitment(settings: &Settings, outputs: &[f32]) -> Result<Fr> {
    check_input(outputs, settings.output_len)?;
    Ok(commit_quantized(&quantize_input(outputs, settings.scale_bits)))
}

fn commit_quantized(values: &[i64]) -> Fr {
    commit(&values.iter().map(|v| zkml_circuits::chips::field(*v as i128)).collect::<Vec<_>>())
}

/// Proves `output = model(input)` for one float input.
pub fn prove(model: &CompiledModel, keys: &Keys, input: &[f32]) -> Result<Proof> {
    let trace = model.run(input)?;
    let (circuit, trace, instances) = model.circuit().with_input(&trace.input)?;
    let proof = prover::prove(&keys.params, &keys.pk, circuit, &instances)?;
    Ok(Proof {
        network_digest: model.settings.network_digest.clone(),
        proof,
        instances,
        outputs: dequantize(trace.output(), model.settings.scale_bits),
    })
}

/// Reads a field element as a signed 64-bit integer (the range quantized values live in).
fn signed_value(v: &Fr) -> Option<i64> {
    let small = |x: Fr| -> Option<i64> {
        let repr = x.to_repr();
        let bytes = repr.as_ref();
        bytes[8..].iter().all(|b| *b == 0).then(|| i64::from_le_bytes(bytes[..8].try_into().unwrap())).filter(|v| *v >= 0)
    };
    small(*v).or_else(|| small(-*v).map(|m| -m))
}

/// Verifies a proof against a compiled model's settings and verifying key.
///
/// Checks, in order: the proof is for this network, the instance count, that the stated float
/// outputs are exactly the instances' outputs (or, with a hashed output, match its commitment
/// when stated), and then the proof itself with halo2's verifier.
pub fn verify(settings: &Settings, keys: &VerifierKeys, proof: &Proof) -> Result<()> {
    let reject = |reason: String| Err(Error::Circuit(zkml_circuits::Error::Verification(reason)));
    if proof.network_digest != settings.network_digest {
        return reject("the proof was made for a different compiled model".into());
    }
    if proof.instances.len() != settings.instance_len() {
        return reject(format!(
            "the proof carries {} public values, the model has {}",
            proof.instances.len(),
            settings.instance_len()
        ));
    }
    if settings.param_visibility == ParamVisibility::Hashed {
        let expected = settings.params_commitment.as_deref().and_then(field_from_hex);
        if expected.is_none() || proof.params_commitment(settings) != expected {
            return reject("the proof's parameter commitment is not the model's".into());
        }
    }
    let outputs = &proof.instances[proof.instances.len() - settings.output_instances()..];
    match settings.output_visibility {
        OutputVisibility::Public => {
            let quantized: Option<Vec<i64>> = outputs.iter().map(signed_value).collect();
            let Some(quantized) = quantized else {
                return reject("an output instance is not a quantized value".into());
            };
            if dequantize(&quantized, settings.scale_bits) != proof.outputs {
                return reject("the stated outputs differ from the proven public outputs".into());
            }
        }
        OutputVisibility::Hashed if proof.outputs.is_empty() => {}
        OutputVisibility::Hashed => {
            if output_commitment(settings, &proof.outputs).ok() != Some(outputs[0]) {
                return reject("the stated outputs do not match the proven output commitment".into());
            }
        }
    }
    Ok(prover::verify(&keys.srs, &keys.vk, &proof.proof, &proof.instances)?)
}

impl Proof {
    /// The proof file form.
    pub fn to_file(&self) -> ProofFile {
        ProofFile {
            version: FORMAT_VERSION,
            network_digest: self.network_digest.clone(),
            proof: hex::encode(&self.proof),
            instances: self.instances.iter().map(field_to_hex).collect(),
            outputs: self.outputs.clone(),
        }
    }

    /// Decodes a proof file; rejects bad hex and non-canonical field elements.
    pub fn from_file(file: &ProofFile) -> std::result::Result<Self, String> {
        if file.version != FORMAT_VERSION {
            return Err(format!("proof format version {} is not supported (expected {FORMAT_VERSION})", file.version));
        }
        let proof = hex::decode(&file.proof).map_err(|e| format!("proof is not hex: {e}"))?;
        let instances = file
            .instances
            .iter()
            .enumerate()
            .map(|(i, s)| field_from_hex(s).ok_or_else(|| format!("instance {i} is not a canonical 32-byte field element")))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self { network_digest: file.network_digest.clone(), proof, instances, outputs: file.outputs.clone() })
    }

    /// Writes the proof file (JSON) atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, &self.to_file())
    }

    /// Reads a proof file.
    pub fn load(path: &Path) -> Result<Self> {
        let file: ProofFile = read_json(path)?;
        Self::from_file(&file).map_err(|reason| Error::Artifact { path: path.to_owned(), reason })
    }
}
