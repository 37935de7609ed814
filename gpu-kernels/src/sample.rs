//! Inputs for tests and benchmarks: many distinct curve points, cheaply.

use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::group::Curve;
use rayon::prelude::*;

/// `[(start + i)·G for i < n]`: distinct points (for `n` below the group order) made by one
/// scalar multiplication and then additions per parallel chunk, normalized to affine in batches.
pub fn bases(n: usize, start: Fr) -> Vec<G1Affine> {
    const CHUNK: usize = 1 << 12;
    let g = G1::generator();
    let mut out = vec![G1Affine::default(); n];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut p = g * (start + Fr::from((c * CHUNK) as u64));
        let projective: Vec<G1> = (0..chunk.len())
            .map(|_| {
                let q = p;
                p += g;
                q
            })
            .collect();
        G1::batch_normalize(&projective, chunk);
    });
    out
}
