//! KZG structured reference strings: halo2's params file format, and a fast *insecure*
//! development SRS.
//!
//! A development SRS is derived from a secret drawn from a fixed, published seed: anyone can
//! recompute the secret and forge proofs. It exists so that tests, demos and benchmarks do not
//! wait for a ceremony file; never verify anything of value against it.
//!
//! Generation computes the powers `s^i` and the Lagrange evaluations `L_i(s)` as scalars, then
//! multiplies the generator by all of them with a fixed-base window table (32 windows of 8 bits,
//! so each point costs 32 mixed additions). halo2's own `ParamsKZG::setup` does one full scalar
//! multiplication per point, which is about an order of magnitude slower.

use std::io;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1};
use halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve, Group};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

use crate::Error;

/// KZG parameters over BN254, as halo2 uses them.
pub type Srs = ParamsKZG<Bn256>;

/// Seed of the development SRS secret. Public on purpose: the secret is known to everyone.
pub const DEV_SRS_SEED: u64 = 0x7a6b_6d6c_2d64_6576; // "zkml-dev"

/// Largest `k` a BN254 evaluation domain supports.
pub const MAX_SRS_K: u32 = Fr::S;

/// Multiples `j · 256^w · G` for every 8-bit window `w` and digit `j`.
struct FixedBaseTable {
    windows: Vec<Vec<G1Affine>>,
}

impl FixedBaseTable {
    fn new(base: G1) -> Self {
        let mut windows = Vec::with_capacity(32);
        let mut window_base = base;
        for _ in 0..32 {
            let mut row = vec![G1::identity(); 256];
            for j in 1..256 {
                row[j] = row[j - 1] + window_base;
            }
            let mut affine = vec![G1Affine::identity(); 256];
            G1::batch_normalize(&row, &mut affine);
            windows.push(affine);
            window_base = row[255] + window_base; // 256 · window_base
        }
        Self { windows }
    }

    /// `[s]G` for every scalar, in parallel.
    fn mul_all(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut out = vec![G1Affine::identity(); scalars.len()];
        out.par_chunks_mut(4096).zip(scalars.par_chunks(4096)).for_each(|(out, scalars)| {
            let projective: Vec<G1> = scalars
                .iter()
                .map(|s| {
                    let bytes = s.to_repr();
                    let mut acc = G1::identity();
                    for (window, digit) in self.windows.iter().zip(bytes.as_ref()) {
                        if *digit != 0 {
                            acc += window[*digit as usize];
                        }
                    }
                    acc
                })
                .collect();
            G1::batch_normalize(&projective, out);
        });
        out
    }
}

/// Generates the insecure development SRS of size `2^k` (deterministic in `k`).
pub fn dev_srs(k: u32) -> Result<Srs, Error> {
    if k > MAX_SRS_K {
        return Err(Error::Srs(format!("k = {k} exceeds BN254's largest domain 2^{MAX_SRS_K}")));
    }
    let n = 1usize << k;
    let mut rng = ChaCha20Rng::seed_from_u64(DEV_SRS_SEED);
    let s = Fr::random(&mut rng);

    let mut powers = vec![Fr::ONE; n];
    for i in 1..n {
        powers[i] = powers[i - 1] * s;
    }
    // L_i(s) = ω^i (s^n − 1) / (n (s − ω^i)) for the domain halo2 uses at this k.
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let mut omega_powers = vec![Fr::ONE; n];
    for i in 1..n {
        omega_powers[i] = omega_powers[i - 1] * omega;
    }
    let mut lagrange: Vec<Fr> = omega_powers.iter().map(|w| s - w).collect();
    lagrange.iter_mut().batch_invert();
    let factor = (s.pow_vartime([n as u64]) - Fr::ONE) * Fr::from(n as u64).invert().unwrap();
    lagrange.par_iter_mut().zip(omega_powers.par_iter()).for_each(|(l, w)| *l *= factor * w);

    let table = FixedBaseTable::new(G1::generator());
    let g = table.mul_all(&powers);
    let g_lagrange = table.mul_all(&lagrange);
    let g2 = G2Affine::generator();
    let s_g2 = (g2 * s).to_affine();
    // `from_parts` is a method; a size-1 setup is the cheapest receiver.
    Ok(Srs::setup(0, ChaCha20Rng::seed_from_u64(0)).from_parts(k, g, Some(g_lagrange), g2, s_g2))
}

/// Reads params in halo2's format (`ParamsKZG::write`), checking every point, and shrinks
/// them to `k` if they are larger.
pub fn read_srs(reader: &mut impl io::Read, k: u32) -> Result<Srs, Error> {
    let mut srs = Srs::read_custom(reader, SerdeFormat::RawBytes)
        .map_err(|e| Error::Srs(format!("not a valid halo2 KZG params file: {e}")))?;
    if srs.k() < k {
        return Err(Error::Srs(format!("the SRS has 2^{} points but the circuit needs 2^{k}", srs.k())));
    }
    if srs.k() > k {
        srs.downsize(k);
    }
    Ok(srs)
}

/// Writes params in halo2's format.
pub fn write_srs(srs: &Srs, writer: &mut impl io::Write) -> io::Result<()> {
    srs.write_custom(writer, SerdeFormat::RawBytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::poly::commitment::ParamsProver;

    #[test]
    fn dev_srs_matches_the_definition() {
        let k = 4;
        let srs = dev_srs(k).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(DEV_SRS_SEED);
        let s = Fr::random(&mut rng);
        let g = srs.get_g();
        assert_eq!(g[0], G1Affine::generator());
        assert_eq!(g[3], (G1Affine::generator() * s.pow_vartime([3])).to_affine());
        assert_eq!(srs.s_g2(), (G2Affine::generator() * s).to_affine());
        // The Lagrange basis commits the same polynomial as the monomial basis.
        let reference = Srs::setup(0, ChaCha20Rng::seed_from_u64(0)).from_parts(k, g.to_vec(), None, srs.g2(), srs.s_g2());
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_srs(&srs, &mut a).unwrap();
        write_srs(&reference, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn read_rejects_truncated_params() {
        let srs = dev_srs(3).unwrap();
        let mut bytes = Vec::new();
        write_srs(&srs, &mut bytes).unwrap();
        assert!(read_srs(&mut &bytes[..bytes.len() - 1], 3).is_err());
        assert!(read_srs(&mut &bytes[..], 4).is_err());
        let back = read_srs(&mut &bytes[..], 2).unwrap();
        assert_eq!(back.k(), 2);
    }
}
