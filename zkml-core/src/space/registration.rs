//! [`Registration`]: what a verifier knows about a unit, and the column digests behind
//! `comm_c`.

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

use super::codec::{Decoder, Encoder, Kind};
use super::identity::{wide_field, MAX_NODE_KEY_BYTES};
use super::{Beacon, NodeIdentity, ReplicaId, SpaceParams};
use crate::error::Result;

/// What a verifier knows about a unit: its parameters, owner and commitments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The parameter set.
    pub params: SpaceParams,
    /// The owner and unit.
    pub identity: NodeIdentity,
    /// Poseidon Merkle root of the last layer.
    pub comm_r: Fr,
    /// Poseidon Merkle root of the column digests (all layers of each node).
    pub comm_c: Fr,
}

impl Registration {
    /// The replica id the plot was made for.
    pub fn replica_id(&self) -> ReplicaId {
        self.identity.replica_id(&self.params)
    }

    /// Canonical bytes (a [`Kind::Registration`] artifact).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(Kind::Registration);
        self.params.encode(&mut e);
        let id = &self.identity;
        e.raw(&id.network_id).bytes(&id.node_key).u64(id.unit_index).raw(&id.registration_beacon.0);
        e.fr(&self.comm_r).fr(&self.comm_c).finish()
    }

    /// Reads a registration.
    pub fn from_bytes(bytes: &[u8]) -> Result<Registration> {
        let mut d = Decoder::new(bytes, Kind::Registration, "registration")?;
        let params = SpaceParams::decode(&mut d)?;
        let identity = NodeIdentity {
            network_id: d.array()?,
            node_key: d.bytes(MAX_NODE_KEY_BYTES)?,
            unit_index: d.u64()?,
            registration_beacon: Beacon(d.array()?),
        };
        let registration = Registration { params, identity, comm_r: d.fr()?, comm_c: d.fr()? };
        d.finish()?;
        Ok(registration)
    }
}

/// Digest of one node's labels across all layers: `c = label[0]`, then
/// `c = column_step(c, label[l])` for each later layer.
pub fn column_digest(labels: &[Fr]) -> Fr {
    labels[1..].iter().fold(labels[0], |c, l| column_step(c, *l))
}

/// One step of a column digest: BLAKE3 (derive-key context `zkml posp-v1 column`) of
/// `c ‖ label`, reduced to a field element. Columns are only ever opened natively (the labels
/// themselves are BLAKE3), so BLAKE3 keeps plotting cheap: a Poseidon permutation per layer
/// and node would cost several times the labelling itself.
pub fn column_step(c: Fr, label: Fr) -> Fr {
    let mut h = blake3::Hasher::new_derive_key("zkml posp-v1 column");
    h.update(&c.to_repr());
    h.update(&label.to_repr());
    wide_field(&h)
}
