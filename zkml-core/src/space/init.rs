//! The one-time initialization proof: the plot's layers were computed honestly.
//!
//! After `comm_r` and `comm_c` are registered, a beacon published later picks
//! `init_challenges` distinct nodes. For each, the prover opens the columns (all layers) of the
//! node and of all its parents against `comm_c`, and the node's last-layer label against
//! `comm_r`. The verifier recomputes each layer's label of the node from its parents' labels, so
//! a plot whose labels were not derived from the graph (or whose `comm_r` does not commit the
//! last layer) fails at a challenged node. Re-plotting to grind the challenges does not help:
//! the commitments are fixed before the beacon is known.

use std::collections::BTreeSet;

use rayon::prelude::*;
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;

use super::codec::{Decoder, Encoder, Kind};
use super::graph::Graph;
use super::labels::Labeler;
#[cfg(feature = "plot")]
use super::plot::Plot;
use super::registration::{column_digest, Registration};
use super::tree::root_from_path;
use super::{distinct_indices, tags, Beacon, SpaceParams};
use crate::error::{Error, Result};

/// One node's labels in every layer, opened against `comm_c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnOpening {
    /// The node.
    pub node: u64,
    /// Its label in each layer.
    pub labels: Vec<Fr>,
    /// Siblings of its column digest in the column tree, leaf level first.
    pub path: Vec<Fr>,
}

/// The answer to one initialization challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOpening {
    /// Columns of the challenged node and its parents, in increasing node order.
    pub columns: Vec<ColumnOpening>,
    /// Siblings of the node's last-layer label in the replica tree.
    pub replica_path: Vec<Fr>,
}

/// The initialization proof of a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitProof {
    /// The beacon that chose the challenges.
    pub beacon: Beacon,
    /// One opening per challenge, in challenge order.
    pub openings: Vec<InitOpening>,
}

/// The challenged nodes: `seed = hash2(INIT, beacon, hash2(INIT, hash2(INIT, comm_r, comm_c),
/// replica_id))`, then distinct indices from `hash2(INIT_INDEX, seed, j)`.
pub fn init_challenges(registration: &Registration, beacon: &Beacon) -> Vec<u64> {
    let tag = Fr::from(tags::INIT);
    let h = zkml_circuits::poseidon::hash2;
    let commitments = h(tag, registration.comm_r, registration.comm_c);
    let seed = h(tag, beacon.to_field(), h(tag, commitments, registration.replica_id().0));
    distinct_indices(seed, tags::INIT_INDEX, &registration.params, registration.params.init_challenges)
}

/// The nodes whose columns answer a challenge at `v`: `v` and its parents, sorted, distinct.
fn column_nodes(graph: &Graph, params: &SpaceParams, v: u64) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let (mut drg, mut exp) = (Vec::new(), Vec::new());
    graph.parents(v, &mut drg, &mut exp);
    if params.layers == 1 {
        exp.clear();
    }
    let nodes: BTreeSet<u64> = std::iter::once(v).chain(drg.iter().copied()).chain(exp.iter().copied()).collect();
    (nodes.into_iter().collect(), drg, exp)
}

#[cfg(feature = "plot")]
impl Plot {
    /// Makes the initialization proof for `beacon` (needs the layers: before
    /// [`Plot::discard_layers`]).
    pub fn prove_init(&self, beacon: &Beacon) -> Result<InitProof> {
        let registration = self.registration();
        let params = &registration.params;
        let (column_tree, layers) = self.columns()?;
        let replica_tree = self.replica_tree()?;
        let graph = Graph::new(params);
        let openings = init_challenges(registration, beacon)
            .into_iter()
            .map(|v| {
                let (nodes, _, _) = column_nodes(&graph, params, v);
                let columns = nodes
                    .into_iter()
                    .map(|node| {
                        let (_, path) = column_tree.open_leaf(node)?;
                        Ok(ColumnOpening { node, labels: layers.column(node)?, path })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let (_, replica_path) = replica_tree.open_leaf(v)?;
                Ok(InitOpening { columns, replica_path })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InitProof { beacon: *beacon, openings })
    }
}

/// Checks an initialization proof against a registration and the beacon the verifier expects.
pub fn verify_init(registration: &Registration, beacon: &Beacon, proof: &InitProof) -> Result<()> {
    let params = &registration.params;
    let reject = |reason: String| Err(Error::Rejected(reason));
    if proof.beacon != *beacon {
        return reject("the initialization proof answers another beacon".into());
    }
    let challenges = init_challenges(registration, beacon);
    if proof.openings.len() != challenges.len() {
        return reject(format!("{} openings, expected {}", proof.openings.len(), challenges.len()));
    }
    let graph = Graph::new(params);
    let labeler = Labeler::new(params, &registration.replica_id());
    let layers = params.layers as usize;
    let depth = params.log_nodes as usize;
    challenges.par_iter().zip(&proof.openings).enumerate().try_for_each(|(j, (&v, opening))| {
        let (nodes, drg, exp) = column_nodes(&graph, params, v);
        let found: Vec<u64> = opening.columns.iter().map(|c| c.node).collect();
        if found != nodes {
            return reject(format!("challenge {j} (node {v}) opens columns {found:?}, expected {nodes:?}"));
        }
        for c in &opening.columns {
            if c.labels.len() != layers || c.path.len() != depth {
                return reject(format!("challenge {j}: column of node {} has the wrong length", c.node));
            }
            if root_from_path(column_digest(&c.labels), c.node, &c.path) != registration.comm_c {
                return reject(format!("challenge {j}: column of node {} does not open comm_c", c.node));
            }
        }
        let column = |node: u64| &opening.columns[nodes.binary_search(&node).expect("listed")].labels;
        let own = column(v);
        for (layer, label) in own.iter().enumerate() {
            let drg_labels = drg.iter().map(|p| column(*p)[layer]);
            let exp_labels = exp.iter().filter(|_| layer > 0).map(|p| column(*p)[layer - 1]);
            if labeler.label(layer as u32, v, drg_labels, exp_labels) != *label {
                return reject(format!("challenge {j}: the label of node {v} in layer {layer} is not derived from its parents"));
            }
        }
        if opening.replica_path.len() != depth
            || root_from_path(own[layers - 1], v, &opening.replica_path) != registration.comm_r
        {
            return reject(format!("challenge {j}: the last-layer label of node {v} does not open comm_r"));
        }
        Ok(())
    })
}

/// Longest proof a decoder accepts, in openings (a bound before allocation).
const MAX_OPENINGS: usize = 1 << 16;

impl InitProof {
    /// Canonical bytes (a [`Kind::InitProof`] artifact) for parameters `params`.
    pub fn to_bytes(&self, params: &SpaceParams) -> Vec<u8> {
        let mut e = Encoder::proof(Kind::InitProof, params, &self.beacon);
        e.u32(self.openings.len() as u32);
        for o in &self.openings {
            e.u32(o.columns.len() as u32);
            for c in &o.columns {
                e.u64(c.node);
                c.labels.iter().chain(&c.path).for_each(|x| {
                    e.fr(x);
                });
            }
            o.replica_path.iter().for_each(|x| {
                e.fr(x);
            });
        }
        e.finish()
    }

    /// Reads a proof made under `params` (which fix every length).
    pub fn from_bytes(bytes: &[u8], params: &SpaceParams) -> Result<InitProof> {
        let (mut d, beacon) = Decoder::proof(bytes, Kind::InitProof, "initialization proof", params)?;
        let count = d.len(MAX_OPENINGS)?;
        let max_columns = 1 + (params.drg_parents + params.expander_parents) as usize;
        let mut openings = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let columns = (0..d.len(max_columns)?)
                .map(|_| {
                    let node = d.u64()?;
                    let labels = (0..params.layers).map(|_| d.fr()).collect::<Result<_>>()?;
                    let path = (0..params.log_nodes).map(|_| d.fr()).collect::<Result<_>>()?;
                    Ok(ColumnOpening { node, labels, path })
                })
                .collect::<Result<_>>()?;
            let replica_path = (0..params.log_nodes).map(|_| d.fr()).collect::<Result<_>>()?;
            openings.push(InitOpening { columns, replica_path });
        }
        d.finish()?;
        Ok(InitProof { beacon, openings })
    }
}
