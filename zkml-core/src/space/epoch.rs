//! Epoch storage proofs: the unit still holds its last layer.
//!
//! For an epoch beacon, `t` distinct leaves are challenged (see [`epoch_challenges`]); the
//! prover answers each with the label and its Merkle path to `comm_r`, read from disk. A prover
//! that deleted a fraction δ of the labels answers all `t` with probability about `(1 − δ)^t`,
//! unless it recomputes the missing labels — which means relabelling sequentially through the
//! layers (see the module docs of [`super`]).

use std::collections::HashSet;

use rayon::prelude::*;
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::storage::Opening;

use super::codec::{Decoder, Encoder, Kind};
#[cfg(feature = "plot")]
use super::plot::Plot;
use super::registration::Registration;
use super::tree::root_from_path;
use super::{distinct_indices, tags, Beacon, SpaceParams};
use crate::error::{Error, Result};

/// One epoch's storage proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageProof {
    /// The epoch beacon it answers.
    pub beacon: Beacon,
    /// One opening per challenge, in challenge order.
    pub openings: Vec<Opening>,
}

/// The challenged leaves of an epoch, shared by prover, native verifier and the compressed
/// proof's verifier: `seed = hash2(EPOCH, beacon, hash2(EPOCH, comm_r, replica_id))`, then
/// distinct indices from `hash2(EPOCH_INDEX, seed, j)` for `j = 0, 1, …`.
pub fn epoch_challenges(registration: &Registration, beacon: &Beacon) -> Vec<u64> {
    let tag = Fr::from(tags::EPOCH);
    let h = zkml_circuits::poseidon::hash2;
    let seed = h(tag, beacon.to_field(), h(tag, registration.comm_r, registration.replica_id().0));
    distinct_indices(seed, tags::EPOCH_INDEX, &registration.params, registration.params.epoch_challenges)
}

#[cfg(feature = "plot")]
impl Plot {
    /// Answers the epoch challenges of `beacon` from the stored last layer.
    pub fn prove_storage(&self, beacon: &Beacon) -> Result<StorageProof> {
        let tree = self.replica_tree()?;
        let openings = epoch_challenges(self.registration(), beacon)
            .into_iter()
            .map(|index| {
                let (leaf, siblings) = tree.open_leaf(index)?;
                Ok(Opening { index, leaf, siblings })
            })
            .collect::<Result<_>>()?;
        Ok(StorageProof { beacon: *beacon, openings })
    }
}

/// Checks a storage proof for the epoch of `beacon` against a registration. Every way a proof
/// can be wrong is named in the error.
pub fn verify_storage(registration: &Registration, beacon: &Beacon, proof: &StorageProof) -> Result<()> {
    let params = &registration.params;
    let reject = |reason: String| Err(Error::Rejected(reason));
    if proof.beacon != *beacon {
        return reject("the proof answers another epoch's beacon".into());
    }
    if proof.openings.len() != params.epoch_challenges as usize {
        return reject(format!("{} openings, expected {}", proof.openings.len(), params.epoch_challenges));
    }
    let mut seen = HashSet::new();
    for (j, o) in proof.openings.iter().enumerate() {
        if o.index >= params.nodes() {
            return reject(format!("opening {j}: index {} is outside the unit's {} leaves", o.index, params.nodes()));
        }
        if !seen.insert(o.index) {
            return reject(format!("opening {j}: index {} is opened twice", o.index));
        }
        if o.siblings.len() != params.log_nodes as usize {
            return reject(format!("opening {j}: path of {} siblings, expected {}", o.siblings.len(), params.log_nodes));
        }
    }
    let challenges = epoch_challenges(registration, beacon);
    if let Some(j) = (0..challenges.len()).find(|j| proof.openings[*j].index != challenges[*j]) {
        return reject(format!("opening {j}: index {} was not challenged (expected {})", proof.openings[j].index, challenges[j]));
    }
    proof.openings.par_iter().enumerate().try_for_each(|(j, o)| {
        if root_from_path(o.leaf, o.index, &o.siblings) == registration.comm_r {
            Ok(())
        } else {
            reject(format!("opening {j}: leaf {} does not open comm_r", o.index))
        }
    })
}

impl StorageProof {
    /// Canonical bytes (a [`Kind::StorageProof`] artifact) for parameters `params`.
    pub fn to_bytes(&self, params: &SpaceParams) -> Vec<u8> {
        let mut e = Encoder::proof(Kind::StorageProof, params, &self.beacon);
        e.u32(self.openings.len() as u32);
        for o in &self.openings {
            e.u64(o.index).fr(&o.leaf).u32(o.siblings.len() as u32);
            o.siblings.iter().for_each(|s| {
                e.fr(s);
            });
        }
        e.finish()
    }

    /// Reads a proof made under `params`. Lengths are bounded by the parameters but not
    /// required to match them: [`verify_storage`] says what is wrong with a proof.
    pub fn from_bytes(bytes: &[u8], params: &SpaceParams) -> Result<StorageProof> {
        let (mut d, beacon) = Decoder::proof(bytes, Kind::StorageProof, "storage proof", params)?;
        let count = d.len(params.epoch_challenges as usize)?;
        let mut openings = Vec::with_capacity(count);
        for _ in 0..count {
            let (index, leaf) = (d.u64()?, d.fr()?);
            let siblings = (0..d.len(params.log_nodes as usize)?).map(|_| d.fr()).collect::<Result<_>>()?;
            openings.push(Opening { index, leaf, siblings });
        }
        d.finish()?;
        Ok(StorageProof { beacon, openings })
    }
}
