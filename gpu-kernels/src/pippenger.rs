//! The host side of the GPU MSMs, shared by the CUDA and wgpu backends, which run the same
//! bucket method (`cuda/msm.cu`, `wgpu/msm.wgsl`): the window width for a size, the number of
//! signed-digit windows, the bucket-reduction segments, and the final sum over the windows.

use halo2curves::bn256::G1;
use halo2curves::group::Group;

use crate::layout::{xyzz_to_affine, XYZZ_WORDS};
use crate::Error;

/// Entries of the bucket list summed by one accumulation thread (`CHUNK` in the kernels).
pub const CHUNK: u64 = 32;

/// Buckets per reduction segment (at most; fewer when a window has fewer buckets). One thread
/// reduces a segment: 2·SEGMENT additions, then up to c − 1 doublings for the segment's first
/// digit. At c = 16 (n ≥ 2^20), 16 gives 16 windows × 2^15 / 16 = 32 K threads, about as many as
/// an H100 holds at once at that kernel's 222 registers, each with a shorter chain than with 32.
const SEGMENT: u32 = 16;

/// Window width for `n` points: about `log n − 4` bits (≈ 32 entries a bucket), within 4..=16.
pub fn window_bits(n: usize) -> u32 {
    let log_n = usize::BITS - n.max(1).leading_zeros();
    log_n.saturating_sub(4).clamp(4, 16)
}

/// Number of signed-digit windows covering a 254-bit scalar with width `c`: the top window then
/// holds fewer than `c − 1` bits and never carries out.
pub fn windows(c: u32) -> u32 {
    254 / c + 1
}

/// Buckets per reduction segment for window width `c`.
pub fn segment_len(c: u32) -> u32 {
    SEGMENT.min(1 << (c - 1))
}

/// Reduction segments per window for window width `c`.
pub fn segments_per_window(c: u32) -> u32 {
    (1 << (c - 1)) / segment_len(c)
}

/// `Σ_w 2^{c·w}·S_w` from the window sums `S_w` (XYZZ words, lowest window first), by Horner
/// from the top window.
pub fn combine_windows(sums: &[u32], c: u32) -> Result<G1, Error> {
    let mut acc = G1::identity();
    for window in sums.chunks(XYZZ_WORDS).rev() {
        for _ in 0..c {
            acc = acc.double();
        }
        acc += xyzz_to_affine(window)?;
    }
    Ok(acc)
}
