//! How field elements and points sit in GPU memory, shared by the CUDA and wgpu backends.
//!
//! Both backends take field elements exactly as halo2curves stores them: Montgomery form,
//! 8 little-endian `u32` limbs (halo2curves keeps one `[u64; 4]`), so nothing is converted on
//! the host. An affine base is `x` then `y` (16 words; the identity is `(0, 0)`); a sum read
//! back is XYZZ: `x, y, zz, zzz` (32 words, the identity has `zz = 0`).

use halo2curves::bn256::{Fq, Fr, G1Affine};
use halo2curves::ff::{Field, PrimeField};
use halo2curves::group::prime::PrimeCurveAffine;
use halo2curves::serde::SerdeObject;
use halo2curves::CurveAffine;
use rayon::prelude::*;

use crate::Error;

/// `u32` words of one field element.
pub const FIELD_WORDS: usize = 8;
/// `u32` words of one XYZZ point.
pub const XYZZ_WORDS: usize = 4 * FIELD_WORDS;

/// A prime field's constants for Montgomery arithmetic on 8 × 32-bit limbs, derived from
/// halo2curves so that the kernels' copies cannot drift.
pub struct MontgomeryConstants {
    /// The modulus `p`.
    pub modulus: [u32; 8],
    /// `2p`, the bound of the kernels' lazily reduced values (`p < 2^254`: it fits 8 limbs).
    pub twice_modulus: [u32; 8],
    /// `−p⁻¹ mod 2^32`.
    pub inv: u32,
    /// One in Montgomery form, `2^256 mod p`.
    pub one: [u32; 8],
}

fn limbs(bytes: &[u8]) -> [u32; 8] {
    std::array::from_fn(|i| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
}

/// The constants of `F` (halo2curves' BN254 fields: little-endian representations).
pub fn montgomery_constants<F: PrimeField + SerdeObject>() -> MontgomeryConstants {
    let mut modulus = limbs((-F::ONE).to_repr().as_ref());
    modulus[0] += 1; // p − 1 is even: no carry
    // Newton iteration for p⁻¹ mod 2^32 (each step doubles the correct low bits).
    let mut inv = 1u32;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(modulus[0].wrapping_mul(inv)));
    }
    let twice_modulus = std::array::from_fn(|i| (modulus[i] << 1) | if i > 0 { modulus[i - 1] >> 31 } else { 0 });
    MontgomeryConstants { modulus, twice_modulus, inv: inv.wrapping_neg(), one: limbs(&F::ONE.to_raw_bytes()) }
}

/// Field elements as the `u32` words the kernels read, without a copy.
pub fn words(values: &[Fr]) -> &[u32] {
    // SAFETY: `Fr` is 32 bytes of plain integers without padding, aligned at least as strictly
    // as `u32` (both checked by `check_layout`, which every backend runs when it opens).
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), values.len() * FIELD_WORDS) }
}

/// Field elements as words to be overwritten by a device download.
pub fn words_mut(values: &mut [Fr]) -> &mut [u32] {
    // SAFETY: as in `words`; every bit pattern the device writes back is a valid `[u64; 4]`.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), values.len() * FIELD_WORDS) }
}

/// Checks that halo2curves lays `Fr` out as [`words`] assumes; `backend` names the caller in
/// the error.
pub fn check_layout(backend: &'static str) -> Result<(), Error> {
    let samples = [Fr::ONE, -Fr::ONE, Fr::from(0x1234_5678_9abc_def0)];
    let ok = std::mem::size_of::<Fr>() == 32
        && std::mem::align_of::<Fr>() >= 4
        && samples.iter().all(|v| {
            let w = words(std::slice::from_ref(v));
            let raw = v.to_raw_bytes();
            (0..FIELD_WORDS).all(|i| w[i].to_le_bytes() == raw[4 * i..4 * i + 4])
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Unavailable { backend, reason: "halo2curves' Fr layout is not 4 little-endian u64 limbs".into() })
    }
}

/// Affine bases as device words (`x` then `y`, Montgomery form).
pub fn base_words(bases: &[G1Affine]) -> Vec<u32> {
    bases
        .par_iter()
        .flat_map_iter(|p| {
            let mut raw = p.x.to_raw_bytes();
            raw.extend(p.y.to_raw_bytes());
            raw.chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect::<Vec<_>>()
        })
        .collect()
}

fn fq(words: &[u32]) -> Fq {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    Fq::from_raw_bytes_unchecked(&bytes)
}

/// An XYZZ point read back from a device, checked to be on the curve.
pub fn xyzz_to_affine(words: &[u32]) -> Result<G1Affine, Error> {
    let (x, y, zz, zzz) = (fq(&words[0..8]), fq(&words[8..16]), fq(&words[16..24]), fq(&words[24..32]));
    if zz.is_zero_vartime() {
        return Ok(G1Affine::identity());
    }
    let (zz_inv, zzz_inv) = (zz.invert().unwrap(), zzz.invert().unwrap());
    Option::from(G1Affine::from_xy(x * zz_inv, y * zzz_inv))
        .ok_or_else(|| Error::Device("the GPU returned a point that is not on the curve".into()))
}
