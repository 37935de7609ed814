//! Labels: `label[l][v] = H(params ‖ replica_id ‖ l ‖ v ‖ in-layer parents' labels ‖
//! previous layer's expander parents' labels)`, BLAKE3 reduced to a field element.
//!
//! A layer is computed node by node: each label needs its predecessor's, so labelling (and
//! recomputing a deleted label) is sequential by construction; see the module docs of
//! [`super`] for what that costs a cheating prover.

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

use super::graph::Graph;
use super::identity::wide_field;
use super::{ReplicaId, SpaceParams};

/// Computes labels of one replica.
#[derive(Clone, Debug)]
pub struct Labeler {
    graph: Graph,
    /// A hasher that has absorbed the domain, the parameters and the replica id.
    base: blake3::Hasher,
}

impl Labeler {
    /// The labeler of `replica` under `params`.
    pub fn new(params: &SpaceParams, replica: &ReplicaId) -> Labeler {
        let mut base = blake3::Hasher::new_derive_key("zkml posp-v1 label");
        base.update(&params.digest());
        base.update(&replica.0.to_repr());
        Labeler { graph: Graph::new(params), base }
    }

    /// The graph the labels follow.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The label of node `v` in `layer` from its parents' labels (`expander` is ignored in
    /// layer 0).
    pub fn label(&self, layer: u32, v: u64, drg: impl IntoIterator<Item = Fr>, expander: impl IntoIterator<Item = Fr>) -> Fr {
        let reprs = |labels: &mut dyn Iterator<Item = Fr>| labels.map(|l| l.to_repr()).collect::<Vec<_>>();
        let (drg, expander) = (reprs(&mut drg.into_iter()), reprs(&mut expander.into_iter()));
        self.hash(layer, v, drg.iter(), expander.iter())
    }

    /// The label hash over parents given as canonical bytes.
    fn hash<'a>(
        &self,
        layer: u32,
        v: u64,
        drg: impl Iterator<Item = &'a [u8; 32]>,
        expander: impl Iterator<Item = &'a [u8; 32]>,
    ) -> Fr {
        let mut h = self.base.clone();
        h.update(&layer.to_le_bytes());
        h.update(&v.to_le_bytes());
        for p in drg {
            h.update(p);
        }
        if layer > 0 {
            for p in expander {
                h.update(p);
            }
        }
        wide_field(&h)
    }

    /// Computes a whole layer from the previous one (`None` for layer 0), calling
    /// `progress(v)` before node `v`. Parents are hashed from their canonical bytes, converted
    /// once per label rather than once per use.
    pub fn layer(&self, layer: u32, previous: Option<&[Fr]>, nodes: u64, mut progress: impl FnMut(u64)) -> Vec<Fr> {
        debug_assert_eq!(layer == 0, previous.is_none());
        let previous: Vec<[u8; 32]> = previous.unwrap_or(&[]).iter().map(|l| l.to_repr()).collect();
        let mut labels: Vec<Fr> = Vec::with_capacity(nodes as usize);
        let mut reprs: Vec<[u8; 32]> = Vec::with_capacity(nodes as usize);
        let (mut drg, mut exp) = (Vec::new(), Vec::new());
        for v in 0..nodes {
            progress(v);
            self.graph.parents(v, &mut drg, &mut exp);
            let drg_labels = drg.iter().map(|p| &reprs[*p as usize]);
            let exp_labels = exp.iter().filter(|_| layer > 0).map(|p| &previous[*p as usize]);
            let label = self.hash(layer, v, drg_labels, exp_labels);
            labels.push(label);
            reprs.push(label.to_repr());
        }
        labels
    }
}
