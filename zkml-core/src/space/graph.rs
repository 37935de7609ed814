//! The plot's dependency graph, derived deterministically from the parameter set.
//!
//! Within a layer, node `v` depends on `v − 1` and on `drg_parents − 1` earlier nodes chosen
//! by bucket sampling (a bucket `i` uniform in `1..=⌊log2 v⌋+1`, then a distance uniform in
//! `[2^(i−1), 2^i)`, capped at `v`): short and long edges at every scale, the depth-robust
//! construction of Alwen–Blocki–Pietrzak (ePrint 2017/443) as used by Filecoin's SDR. Across
//! layers, node `v` depends on `expander_parents` uniformly random nodes of the previous layer.
//! The edges are the same for every replica (they depend only on the parameters); the labels
//! differ because every label hashes the replica id.

use super::SpaceParams;

/// Edges of the plot graph.
#[derive(Clone, Debug)]
pub struct Graph {
    params: SpaceParams,
    key: [u8; 32],
}

impl Graph {
    /// The graph of a parameter set.
    pub fn new(params: &SpaceParams) -> Graph {
        let mut h = blake3::Hasher::new_derive_key("zkml posp-v1 graph");
        h.update(&params.digest());
        Graph { params: *params, key: *h.finalize().as_bytes() }
    }

    /// Writes `v`'s in-layer parents to `drg` and its previous-layer parents to `expander`.
    /// Node 0 has no in-layer parents; every node has `expander_parents` expander parents
    /// (unused in layer 0).
    pub fn parents(&self, v: u64, drg: &mut Vec<u64>, expander: &mut Vec<u64>) {
        drg.clear();
        expander.clear();
        let mut stream = blake3::Hasher::new_keyed(&self.key).update(&v.to_le_bytes()).finalize_xof();
        let mut word = || {
            let mut b = [0u8; 4];
            stream.fill(&mut b);
            u32::from_le_bytes(b) as u64
        };
        if v > 0 {
            drg.push(v - 1);
            let buckets = 64 - v.leading_zeros() as u64; // ⌊log2 v⌋ + 1
            for _ in 1..self.params.drg_parents {
                let i = 1 + word() % buckets;
                let low = 1u64 << (i - 1);
                let high = (1u64 << i).min(v + 1);
                // Two words give 64 bits, enough for any unit size without modulo bias to speak of.
                let r = (word() << 32) | word();
                drg.push(v - (low + r % (high - low)));
            }
        }
        let nodes = self.params.nodes();
        for _ in 0..self.params.expander_parents {
            let r = (word() << 32) | word();
            expander.push(r % nodes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_earlier_and_in_range() {
        let params = SpaceParams::testing(10);
        let g = Graph::new(&params);
        let (mut drg, mut exp) = (Vec::new(), Vec::new());
        let mut long_edges = 0;
        for v in 0..params.nodes() {
            g.parents(v, &mut drg, &mut exp);
            assert_eq!(drg.len(), if v == 0 { 0 } else { params.drg_parents as usize });
            assert_eq!(exp.len(), params.expander_parents as usize);
            assert!(drg.iter().all(|p| *p < v));
            assert!(exp.iter().all(|p| *p < params.nodes()));
            long_edges += drg.iter().filter(|p| v - **p > 64).count();
        }
        assert!(long_edges > 1000, "bucket sampling yields long edges ({long_edges})");
        let (mut again, mut exp2) = (Vec::new(), Vec::new());
        g.parents(500, &mut drg, &mut exp);
        g.parents(500, &mut again, &mut exp2);
        assert_eq!((drg, exp), (again, exp2), "deterministic");
    }
}
