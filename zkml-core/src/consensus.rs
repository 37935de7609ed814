//! Epoch helpers for node software: derive an epoch's tasks, verify a node's submission, and
//! split rewards. No networking: the node owns transport and storage of submissions.
//!
//! An [`Epoch`] is a number and a beacon. From them each node gets
//! - a Proof-of-Intelligence task per registered model: an input derived from the beacon, the
//!   epoch, the model and the node's key ([`Epoch::poi_task`]), so a node can neither choose an
//!   easy input nor reuse another node's or another epoch's proof;
//! - the Proof-of-Space challenges of each of its registered units
//!   ([`crate::space::epoch_challenges`] with the epoch beacon).
//!
//! [`EpochVerifier::verify`] checks a [`Submission`] and returns the node's [`Contribution`]:
//! compute units (the rows, `2^k`, of every proved circuit) and space (the bytes of every unit
//! whose storage proof verified). A submission is all or nothing: one bad proof rejects it with
//! a [`Rejection`] naming the proof and the reason, so padding a submission with junk or with
//! someone else's proofs never pays.
//!
//! [`split_rewards`] divides an epoch's reward in proportion to verified contribution; see its
//! docs for the formula and why splitting a node or repeating a proof gains nothing.

use std::collections::{HashMap, HashSet};

use zkml_circuits::halo2_proofs::halo2curves::bn256::G1Affine;
use zkml_circuits::halo2_proofs::plonk::VerifyingKey;
use zkml_circuits::srs::Srs;
use zkml_circuits::InputVisibility;

use crate::artifacts::Settings;
use crate::error::{Error, Result};
use crate::poi::{self, Proof, VerifierKeys};
use crate::quantize::quantize_input;
use crate::space::{
    verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof, Registration, SpaceParams,
    StorageProof,
};

/// A model's identity: BLAKE3 of its verifying key and compiled-network digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelId(pub [u8; 32]);

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", hex::encode(&self.0[..8]))
    }
}

/// A model nodes are asked to prove inferences of.
pub struct RegisteredModel {
    /// Its identity.
    pub id: ModelId,
    /// Its compiled settings.
    pub settings: Settings,
    /// What verifying its proofs takes.
    pub keys: VerifierKeys,
}

impl RegisteredModel {
    /// Registers a compiled model. Its input must be public: the verifier checks that each
    /// proof's input is the epoch's challenge input.
    pub fn new(settings: Settings, keys: VerifierKeys) -> Result<RegisteredModel> {
        if settings.input_visibility != InputVisibility::Public {
            return Err(Error::InvalidParameters(
                "a model used for epoch tasks must be compiled with a public input".into(),
            ));
        }
        let mut h = blake3::Hasher::new_derive_key("zkml epoch model id");
        h.update(&zkml_circuits::prover::verifying_key_bytes(&keys.vk));
        h.update(settings.network_digest.as_bytes());
        Ok(RegisteredModel { id: ModelId(*h.finalize().as_bytes()), settings, keys })
    }
}

/// An epoch: a number and the beacon published for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Epochs count up from 0.
    pub number: u64,
    /// The epoch's public randomness.
    pub beacon: Beacon,
}

/// A Proof-of-Intelligence task: prove the model's output on this input.
#[derive(Clone, Debug, PartialEq)]
pub struct PoiTask {
    /// The model.
    pub model: ModelId,
    /// The challenge input: one value per model input, uniform in `[0, 1)` on a grid of 2^-16
    /// (exact in the fixed-point encoding). Register models calibrated on that range.
    pub input: Vec<f32>,
}

impl Epoch {
    /// The task of the node with key `node_key` for `model` in this epoch.
    pub fn poi_task(&self, model: &RegisteredModel, node_key: &[u8]) -> PoiTask {
        let mut h = blake3::Hasher::new_derive_key("zkml epoch poi input");
        h.update(&self.beacon.0);
        h.update(&self.number.to_le_bytes());
        h.update(&model.id.0);
        h.update(&(node_key.len() as u64).to_le_bytes());
        h.update(node_key);
        let mut stream = h.finalize_xof();
        let input = (0..model.settings.input_len())
            .map(|_| {
                let mut b = [0u8; 2];
                stream.fill(&mut b);
                f32::from(u16::from_le_bytes(b)) / 65536.0
            })
            .collect();
        PoiTask { model: model.id, input }
    }
}

/// A storage proof in either form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpaceProof {
    /// Checked natively.
    Native(StorageProof),
    /// One halo2 proof.
    Compressed(CompressedProof),
}

/// One inference proof of a submission.
#[derive(Clone, Debug, PartialEq)]
pub struct InferenceSubmission {
    /// The model proved.
    pub model: ModelId,
    /// The proof of the epoch's task.
    pub proof: Proof,
}

/// One storage proof of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSubmission {
    /// Which of the node's units.
    pub unit_index: u64,
    /// The proof for the epoch's beacon.
    pub proof: SpaceProof,
}

/// Everything a node submits for an epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The epoch it is for.
    pub epoch: u64,
    /// The node's public key.
    pub node_key: Vec<u8>,
    /// Inference proofs, at most one per model.
    pub inferences: Vec<InferenceSubmission>,
    /// Storage proofs, at most one per unit.
    pub storage: Vec<StorageSubmission>,
}

/// What a verified submission earns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Contribution {
    /// Rows (`2^k`) of every circuit whose inference proof verified.
    pub compute_units: u64,
    /// Bytes of every unit whose storage proof verified.
    pub space_bytes: u64,
}

/// Why a submission was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The submission is for another epoch (a replay, or a late one).
    #[error("submission for epoch {got}, the current epoch is {expected}")]
    WrongEpoch {
        /// The epoch being verified.
        expected: u64,
        /// The epoch the submission names.
        got: u64,
    },
    /// The node was already credited this epoch.
    #[error("this node already has a verified submission this epoch")]
    DuplicateSubmission,
    /// Nothing was submitted.
    #[error("the submission holds no proofs")]
    Empty,
    /// The model is not registered.
    #[error("model {0} is not registered")]
    UnknownModel(ModelId),
    /// The same model appears twice.
    #[error("model {0} is proved twice")]
    DuplicateInference(ModelId),
    /// An inference proof failed.
    #[error("inference for model {model}: {reason}")]
    Inference {
        /// The model.
        model: ModelId,
        /// What is wrong.
        reason: String,
    },
    /// The unit is not registered to this node.
    #[error("unit {0} is not registered to this node")]
    UnknownUnit(u64),
    /// The same unit appears twice.
    #[error("unit {0} is submitted twice")]
    DuplicateUnit(u64),
    /// A storage proof failed.
    #[error("unit {unit}: {reason}")]
    Storage {
        /// The unit.
        unit: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The units registered on the network, each checked by its initialization proof.
#[derive(Default)]
pub struct UnitRegistry {
    units: HashMap<(Vec<u8>, u64), Registration>,
    roots: HashSet<[u8; 32]>,
}

impl UnitRegistry {
    /// An empty registry.
    pub fn new() -> UnitRegistry {
        UnitRegistry::default()
    }

    /// Registers a unit after checking its initialization proof for `init_beacon` (a beacon
    /// published after the commitments were announced). A unit index registered twice, or a
    /// `comm_r` already registered by anyone, is refused.
    pub fn register(&mut self, registration: Registration, init_beacon: &Beacon, init_proof: &InitProof) -> Result<()> {
        use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;
        let key = (registration.identity.node_key.clone(), registration.identity.unit_index);
        if self.units.contains_key(&key) {
            return Err(Error::Rejected(format!("unit {} of this node is already registered", key.1)));
        }
        if self.roots.contains(&registration.comm_r.to_repr()) {
            return Err(Error::Rejected("this comm_r is already registered".into()));
        }
        verify_init(&registration, init_beacon, init_proof)?;
        self.roots.insert(registration.comm_r.to_repr());
        self.units.insert(key, registration);
        Ok(())
    }

    /// The registration of a node's unit.
    pub fn get(&self, node_key: &[u8], unit_index: u64) -> Option<&Registration> {
        self.units.get(&(node_key.to_vec(), unit_index))
    }
}

/// Verifies submissions for one epoch and remembers who was credited.
pub struct EpochVerifier<'a> {
    epoch: Epoch,
    models: &'a [RegisteredModel],
    units: &'a UnitRegistry,
    storage_keys: Vec<(SpaceParams, &'a Srs, &'a VerifyingKey<G1Affine>)>,
    credited: HashSet<Vec<u8>>,
}

impl<'a> EpochVerifier<'a> {
    /// A verifier for `epoch` over the registered models and units.
    pub fn new(epoch: Epoch, models: &'a [RegisteredModel], units: &'a UnitRegistry) -> EpochVerifier<'a> {
        EpochVerifier { epoch, models, units, storage_keys: Vec::new(), credited: HashSet::new() }
    }

    /// Accepts compressed storage proofs for units with parameters `params`, checked with
    /// these keys (see [`crate::space::snark`]).
    pub fn with_storage_keys(mut self, params: SpaceParams, srs: &'a Srs, vk: &'a VerifyingKey<G1Affine>) -> Self {
        self.storage_keys.push((params, srs, vk));
        self
    }

    /// The epoch being verified.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// Verifies a node's submission; on success the node is credited and cannot submit again
    /// this epoch.
    pub fn verify(&mut self, submission: &Submission) -> Result<Contribution, Rejection> {
        if submission.epoch != self.epoch.number {
            return Err(Rejection::WrongEpoch { expected: self.epoch.number, got: submission.epoch });
        }
        if self.credited.contains(&submission.node_key) {
            return Err(Rejection::DuplicateSubmission);
        }
        if submission.inferences.is_empty() && submission.storage.is_empty() {
            return Err(Rejection::Empty);
        }
        let mut contribution = Contribution::default();
        let mut models_seen = HashSet::new();
        for inference in &submission.inferences {
            if !models_seen.insert(inference.model) {
                return Err(Rejection::DuplicateInference(inference.model));
            }
            contribution.compute_units += self.verify_inference(&submission.node_key, inference)?;
        }
        let mut units_seen = HashSet::new();
        for storage in &submission.storage {
            if !units_seen.insert(storage.unit_index) {
                return Err(Rejection::DuplicateUnit(storage.unit_index));
            }
            contribution.space_bytes += self.verify_space(&submission.node_key, storage)?;
        }
        self.credited.insert(submission.node_key.clone());
        Ok(contribution)
    }

    fn verify_inference(&self, node_key: &[u8], inference: &InferenceSubmission) -> Result<u64, Rejection> {
        let model = self
            .models
            .iter()
            .find(|m| m.id == inference.model)
            .ok_or(Rejection::UnknownModel(inference.model))?;
        let reject = |reason: String| Rejection::Inference { model: model.id, reason };
        let task = self.epoch.poi_task(model, node_key);
        let expected_input: Vec<_> = quantize_input(&task.input, model.settings.scale_bits)
            .into_iter()
            .map(|v| zkml_circuits::chips::field(v as i128))
            .collect();
        let instances = &inference.proof.instances;
        if instances.len() < expected_input.len() || instances[..expected_input.len()] != expected_input[..] {
            return Err(reject(
                "the proven input is not this node's challenge input for this epoch (replayed or copied?)".into(),
            ));
        }
        poi::verify(&model.settings, &model.keys, &inference.proof).map_err(|e| reject(e.to_string()))?;
        Ok(1u64 << model.settings.k)
    }

    fn verify_space(&self, node_key: &[u8], storage: &StorageSubmission) -> Result<u64, Rejection> {
        let unit = storage.unit_index;
        let registration = self.units.get(node_key, unit).ok_or(Rejection::UnknownUnit(unit))?;
        let reject = |e: Error| Rejection::Storage { unit, reason: e.to_string() };
        match &storage.proof {
            SpaceProof::Native(proof) => verify_storage(registration, &self.epoch.beacon, proof).map_err(reject)?,
            SpaceProof::Compressed(proof) => {
                let (_, srs, vk) = self
                    .storage_keys
                    .iter()
                    .find(|(p, _, _)| *p == registration.params)
                    .ok_or_else(|| Rejection::Storage {
                        unit,
                        reason: "compressed proofs are not accepted for these space parameters".into(),
                    })?;
                verify_compressed(registration, srs, vk, &self.epoch.beacon, proof).map_err(reject)?
            }
        }
        Ok(registration.params.unit_bytes())
    }
}

/// How an epoch's reward is divided between compute and space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewardWeights {
    /// Weight of the compute pool.
    pub compute: u64,
    /// Weight of the space pool.
    pub space: u64,
}

/// Splits `total` (in the smallest currency unit) among nodes in proportion to their verified
/// contributions.
///
/// The reward is cut into a compute pool `total · w_c / (w_c + w_s)` and a space pool (the
/// rest); a pool nobody contributed to goes to the other. Node `i` gets
/// `⌊pool_c · C_i / ΣC⌋ + ⌊pool_s · S_i / ΣS⌋` (`C`: compute units, `S`: space bytes). The
/// rounding remainder, less than one unit per node and pool, is not paid out.
///
/// Fairness: a node's share is linear in its contribution, so splitting it into several nodes
/// (whose contributions add up to the same) cannot gain anything, and rounding only loses;
/// a proof counted twice is impossible because the verifier rejects duplicate units, duplicate
/// models and a second submission from the same node, and a unit's `comm_r` can be registered
/// once.
pub fn split_rewards(total: u64, weights: RewardWeights, contributions: &[Contribution]) -> Vec<u64> {
    let sum_c: u128 = contributions.iter().map(|c| u128::from(c.compute_units)).sum();
    let sum_s: u128 = contributions.iter().map(|c| u128::from(c.space_bytes)).sum();
    let (wc, ws) = (u128::from(weights.compute), u128::from(weights.space));
    let total = u128::from(total);
    let (pool_c, pool_s) = match (sum_c > 0 && wc > 0, sum_s > 0 && ws > 0) {
        (true, true) => {
            let c = total * wc / (wc + ws);
            (c, total - c)
        }
        (true, false) => (total, 0),
        (false, true) => (0, total),
        (false, false) => (0, 0),
    };
    contributions
        .iter()
        .map(|c| {
            let share = |pool: u128, mine: u64, sum: u128| (pool * u128::from(mine)).checked_div(sum).unwrap_or(0);
            (share(pool_c, c.compute_units, sum_c) + share(pool_s, c.space_bytes, sum_s)) as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(compute_units: u64, space_bytes: u64) -> Contribution {
        Contribution { compute_units, space_bytes }
    }

    #[test]
    fn rewards_on_hand_computed_cases() {
        let even = RewardWeights { compute: 1, space: 1 };
        // Pools of 500 each; compute 1:3, space 2:2.
        assert_eq!(split_rewards(1000, even, &[c(1, 2), c(3, 2)]), vec![125 + 250, 375 + 250]);
        // Weights 3:1 → pools 750 / 250; nobody stores → all 1000 to compute.
        let w = RewardWeights { compute: 3, space: 1 };
        assert_eq!(split_rewards(1000, w, &[c(1, 0), c(1, 0)]), vec![500, 500]);
        assert_eq!(split_rewards(1000, w, &[c(1, 1), c(0, 3)]), vec![750 + 62, 187]);
        // Rounding never pays more than the total.
        let r = split_rewards(100, even, &[c(1, 1), c(1, 1), c(1, 1)]);
        assert_eq!(r, vec![32, 32, 32]);
        assert!(r.iter().sum::<u64>() <= 100);
        // Nothing verified: nothing paid.
        assert_eq!(split_rewards(1000, even, &[c(0, 0)]), vec![0]);
    }

    #[test]
    fn splitting_a_node_does_not_pay() {
        let even = RewardWeights { compute: 1, space: 1 };
        let whole = split_rewards(1_000_003, even, &[c(40, 700), c(25, 300)]);
        let split = split_rewards(1_000_003, even, &[c(20, 350), c(20, 350), c(25, 300)]);
        assert!(split[0] + split[1] <= whole[0], "{split:?} vs {whole:?}");
        assert_eq!(split[2], whole[1]);
    }
}
