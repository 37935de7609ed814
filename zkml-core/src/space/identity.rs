//! Who a unit belongs to: [`NodeIdentity`] → [`ReplicaId`], and [`Beacon`]s.

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::FromUniformBytes;

use super::SpaceParams;

/// A node's registration of one storage unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The network the unit is registered on.
    pub network_id: [u8; 32],
    /// The node's public key, in whatever encoding the network uses.
    pub node_key: Vec<u8>,
    /// Which of the node's units this is.
    pub unit_index: u64,
    /// The beacon current when the unit was registered (so plots cannot be made in advance).
    pub registration_beacon: Beacon,
}

/// The replica id: every label of a plot depends on it, which binds the plot to one node key,
/// unit, network, registration time and parameter set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaId(pub Fr);

/// Longest node key accepted (bounds decoding).
pub const MAX_NODE_KEY_BYTES: usize = 1024;

impl NodeIdentity {
    /// `replica_id = H("posp-v1" ‖ params ‖ network_id ‖ node_key ‖ unit_index ‖ beacon)`, with
    /// BLAKE3 (in key-derivation mode for domain separation, every field length-delimited)
    /// reduced to a field element from 64 output bytes.
    pub fn replica_id(&self, params: &SpaceParams) -> ReplicaId {
        let mut h = blake3::Hasher::new_derive_key("zkml posp-v1 replica id");
        h.update(&params.digest());
        h.update(&self.network_id);
        h.update(&(self.node_key.len() as u64).to_le_bytes());
        h.update(&self.node_key);
        h.update(&self.unit_index.to_le_bytes());
        h.update(&self.registration_beacon.0);
        ReplicaId(wide_field(&h))
    }
}

/// 32 bytes of public randomness (e.g. a drand round), published at a known time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beacon(pub [u8; 32]);

impl Beacon {
    /// The beacon as a field element (as the storage circuit takes it).
    pub fn to_field(&self) -> Fr {
        let mut h = blake3::Hasher::new_derive_key("zkml posp-v1 beacon");
        h.update(&self.0);
        wide_field(&h)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Beacon, String> {
        let bytes = hex::decode(s.trim()).map_err(|e| format!("beacon: not hex ({e})"))?;
        let n = bytes.len();
        Ok(Beacon(bytes.try_into().map_err(|_| format!("beacon: {n} bytes, expected 32 (64 hex digits)"))?))
    }
}

/// A uniformly distributed field element from a hasher's 64-byte output.
pub(super) fn wide_field(h: &blake3::Hasher) -> Fr {
    let mut wide = [0u8; 64];
    h.finalize_xof().fill(&mut wide);
    Fr::from_uniform_bytes(&wide)
}
