//! Compressed epoch proofs: one halo2 proof of all `t` openings ([`StorageCircuit`]), checked
//! by the stock verifier against the instances (`comm_r`, beacon, replica id, the challenged
//! indices) that the verifier derives itself.

use zkml_circuits::halo2_proofs::halo2curves::bn256::G1Affine;
use zkml_circuits::halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use zkml_circuits::halo2_proofs::poly::commitment::Params;
use zkml_circuits::prover;
use zkml_circuits::srs::Srs;
use zkml_circuits::ProverParams;
use zkml_circuits::storage::{StorageCircuit, StorageShape};

use super::codec::{Decoder, Encoder, Kind};
use super::epoch::{epoch_challenges, verify_storage, StorageProof};
use super::registration::Registration;
use super::{Beacon, SpaceParams};
use crate::artifacts::{read_file, write_atomic};
use crate::error::{Error, Result};

/// The storage circuit's shape for a parameter set.
pub fn storage_shape(params: &SpaceParams) -> StorageShape {
    StorageShape { depth: params.log_nodes as usize, openings: params.epoch_challenges as usize }
}

/// Proving key (and SRS) of the storage circuit of one parameter set.
pub struct StorageKeys {
    /// KZG parameters at the circuit's `k`, and where their MSMs run.
    pub params: ProverParams,
    /// The proving key.
    pub pk: ProvingKey<G1Affine>,
}

impl StorageKeys {
    /// Generates the keys of `params`' storage circuit; `srs` (an SRS, or [`ProverParams`] on a
    /// backend) must have exactly `storage_shape(params).k()` rows' worth of points.
    pub fn generate(params: &SpaceParams, srs: impl Into<ProverParams>) -> Result<StorageKeys> {
        let prover_params = srs.into();
        let srs = prover_params.srs();
        params.validate()?;
        let shape = storage_shape(params);
        if srs.k() != shape.k() {
            return Err(Error::InvalidParameters(format!(
                "the storage circuit needs an SRS of k = {}, this one has k = {}",
                shape.k(),
                srs.k()
            )));
        }
        let circuit = StorageCircuit { shape, openings: None };
        let vk = prover::keygen_verifying_key(&prover_params, &circuit)?;
        let pk = prover::keygen_proving_key(&prover_params, vk, &circuit)?;
        Ok(StorageKeys { params: prover_params, pk })
    }

    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// The SRS.
    pub fn srs(&self) -> &Srs {
        self.params.srs()
    }

    /// Moves the prover's MSMs to `backend` (uploading the SRS bases to it).
    pub fn use_backend(&mut self, backend: &dyn zkml_circuits::MsmBackend) -> Result<()> {
        Ok(self.params.use_backend(backend)?)
    }
}

/// Reads a verifying key of `params`' storage circuit.
pub fn read_storage_vk(bytes: &[u8], params: &SpaceParams) -> Result<VerifyingKey<G1Affine>> {
    Ok(prover::read_verifying_key::<StorageCircuit>(bytes, storage_shape(params))?)
}

/// A storage proof compressed into one halo2 proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedProof {
    /// The epoch beacon it answers.
    pub beacon: Beacon,
    /// The halo2 (KZG, SHPLONK) proof bytes.
    pub proof: Vec<u8>,
}

/// Compresses a storage proof (checked natively first, for a precise error).
pub fn compress(registration: &Registration, keys: &StorageKeys, proof: &StorageProof) -> Result<CompressedProof> {
    verify_storage(registration, &proof.beacon, proof)?;
    let indices: Vec<u64> = proof.openings.iter().map(|o| o.index).collect();
    let circuit = StorageCircuit::new(storage_shape(&registration.params), proof.openings.clone())?;
    let instances = instances(registration, &proof.beacon, &indices);
    let bytes = prover::prove(&keys.params, &keys.pk, circuit, &instances)?;
    Ok(CompressedProof { beacon: proof.beacon, proof: bytes })
}

fn instances(registration: &Registration, beacon: &Beacon, indices: &[u64]) -> Vec<zkml_circuits::halo2_proofs::halo2curves::bn256::Fr> {
    StorageCircuit::instances(registration.comm_r, beacon.to_field(), registration.replica_id().0, indices)
}

/// Verifies a compressed proof for the epoch of `beacon` with the stock halo2 verifier.
pub fn verify_compressed(
    registration: &Registration,
    srs: &Srs,
    vk: &VerifyingKey<G1Affine>,
    beacon: &Beacon,
    proof: &CompressedProof,
) -> Result<()> {
    if proof.beacon != *beacon {
        return Err(Error::Rejected("the compressed proof answers another epoch's beacon".into()));
    }
    let instances = instances(registration, beacon, &epoch_challenges(registration, beacon));
    prover::verify(srs, vk, &proof.proof, &instances).map_err(|e| Error::Rejected(format!("compressed proof: {e}")))
}

/// Largest halo2 proof a decoder accepts.
const MAX_PROOF_BYTES: usize = 1 << 20;

impl CompressedProof {
    /// Canonical bytes (a [`Kind::CompressedProof`] artifact) for parameters `params`.
    pub fn to_bytes(&self, params: &SpaceParams) -> Vec<u8> {
        Encoder::proof(Kind::CompressedProof, params, &self.beacon).bytes(&self.proof).finish()
    }

    /// Reads a compressed proof made under `params`.
    pub fn from_bytes(bytes: &[u8], params: &SpaceParams) -> Result<CompressedProof> {
        let (mut d, beacon) = Decoder::proof(bytes, Kind::CompressedProof, "compressed storage proof", params)?;
        let proof = d.bytes(MAX_PROOF_BYTES)?;
        d.finish()?;
        Ok(CompressedProof { beacon, proof })
    }
}

/// File names of a storage-circuit key directory.
pub mod files {
    /// The parameter set the keys are for.
    pub const PARAMS: &str = "params.bin";
    /// KZG parameters at the circuit's `k` (halo2 format).
    pub const SRS: &str = "kzg.srs";
    /// Verifying key.
    pub const VK: &str = "vk.bin";
    /// Proving key.
    pub const PK: &str = "pk.bin";
}

impl StorageKeys {
    /// Writes the keys, their SRS and the parameter set into `dir` (created if needed).
    pub fn save(&self, dir: &std::path::Path, params: &SpaceParams) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        crate::srs::save_srs(self.srs(), &dir.join(files::SRS))?;
        write_atomic(&dir.join(files::VK), &prover::verifying_key_bytes(self.vk()))?;
        write_atomic(&dir.join(files::PK), &prover::proving_key_bytes(&self.pk))?;
        write_atomic(&dir.join(files::PARAMS), &params.to_bytes())
    }

    /// Loads the proving keys of `params` from `dir`.
    pub fn load(dir: &std::path::Path, params: &SpaceParams) -> Result<StorageKeys> {
        let srs = load_key_dir_srs(dir, params)?;
        let pk = prover::read_proving_key::<StorageCircuit>(&read_file(&dir.join(files::PK))?, storage_shape(params))?;
        Ok(StorageKeys { params: srs.into(), pk })
    }
}

/// Loads what a verifier of compressed proofs under `params` needs from a key directory.
pub fn load_verifier(dir: &std::path::Path, params: &SpaceParams) -> Result<(Srs, VerifyingKey<G1Affine>)> {
    let srs = load_key_dir_srs(dir, params)?;
    let vk = read_storage_vk(&read_file(&dir.join(files::VK))?, params)?;
    Ok((srs, vk))
}

fn load_key_dir_srs(dir: &std::path::Path, params: &SpaceParams) -> Result<Srs> {
    let path = dir.join(files::PARAMS);
    if SpaceParams::from_bytes(&read_file(&path)?)? != *params {
        return Err(Error::Artifact { path, reason: "these keys are for other space parameters".into() });
    }
    crate::srs::load_srs(&dir.join(files::SRS), storage_shape(params).k())
}
