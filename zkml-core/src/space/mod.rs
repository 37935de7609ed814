//! Proof of Space: a node proves it keeps a unit of storage that only it could have filled.
//!
//! The construction (SDR-lite) is:
//! - [`NodeIdentity`] → [`ReplicaId`]: every label depends on the node key, unit index,
//!   network, registration beacon and [`SpaceParams`];
//! - [`labels`]: `layers` layers of `2^log_nodes` labels, each label hashing its predecessor,
//!   bucket-sampled earlier labels of its layer and random labels of the previous layer
//!   ([`graph`]), so labels cannot be computed independently of one another;
//! - [`plot`] (feature `plot`): plotting keeps the last layer on disk with its Poseidon Merkle tree (`comm_r`)
//!   and, until the initialization proof, all layers with a Poseidon tree over per-node
//!   column digests (`comm_c`);
//! - [`init`]: the one-time initialization proof opens the columns of challenged nodes and
//!   their parents; the verifier recomputes their labels;
//! - [`epoch`]: each epoch, `t` leaves chosen from a beacon are opened against `comm_r`
//!   ([`epoch::verify_storage`] checks them natively);
//! - [`snark`]: the `t` openings compressed into one halo2 proof.
//!
//! A unit's public record is its [`Registration`]; [`crate::consensus`] combines these proofs
//! with inference proofs into epochs. The construction, parameters and formats are described
//! in `docs/proof-of-space.md`.
//!
//! Every artifact has a versioned binary format ([`codec`]). Every hash is domain-separated
//! (BLAKE3 derive-key contexts; Poseidon tags in [`tags`]) and includes the parameter set.
//!
//! **What deleting costs.** A label of the last layer depends, through the graph, on most of
//! the unit's earlier labels; a prover that kept only part of the last layer and is challenged
//! on a missing label must relabel sequentially (each label needs its predecessor). The
//! benchmark (`zkml space bench`) measures the sequential labelling rate; BENCHMARKS.md compares
//! it with an epoch's response deadline.

pub mod codec;
pub mod epoch;
pub mod graph;
mod identity;
pub mod init;
pub mod labels;
mod params;
#[cfg(feature = "plot")]
pub mod plot;
mod registration;
pub mod snark;
pub mod tree;

pub use epoch::{epoch_challenges, verify_storage, StorageProof};
pub use identity::{Beacon, NodeIdentity, ReplicaId};
pub use init::{init_challenges, verify_init, InitProof};
pub use params::{challenges_for, SpaceParams};
#[cfg(feature = "plot")]
pub use plot::{Plot, PlotStage};
pub use registration::{column_digest, Registration};
pub use snark::{compress, verify_compressed, CompressedProof, StorageKeys};

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

/// Poseidon domain tags (the capacity element of each hash's permutation). Tag 1 is the Merkle
/// parent, [`zkml_circuits::chips::merkle::NODE_TAG`].
pub mod tags {
    /// The epoch challenge seed.
    pub const EPOCH: u64 = 2;
    /// Epoch challenge indices.
    pub const EPOCH_INDEX: u64 = 3;
    /// The initialization challenge seed.
    pub const INIT: u64 = 4;
    /// Initialization challenge indices.
    pub const INIT_INDEX: u64 = 5;
}

/// `count` distinct node indices: the low `log_nodes` bits of `hash2(tag, seed, j)` for
/// `j = 0, 1, …`, skipping repeats. `count ≤ nodes / 2` (checked by [`SpaceParams::validate`])
/// keeps the expected number of draws below `2·count`.
fn distinct_indices(seed: Fr, tag: u64, params: &SpaceParams, count: u32) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count as usize);
    let mask = params.nodes() - 1;
    let mut j = 0u64;
    while out.len() < count as usize {
        let h = zkml_circuits::poseidon::hash2(Fr::from(tag), seed, Fr::from(j));
        let index = u64::from_le_bytes(h.to_repr()[..8].try_into().expect("8 bytes")) & mask;
        if seen.insert(index) {
            out.push(index);
        }
        j += 1;
    }
    out
}
