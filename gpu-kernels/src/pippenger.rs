//! The host side of the GPU MSMs, shared by the CUDA and wgpu backends, which run the same
//! bucket method (`cuda/msm.cu`, `wgpu/msm.wgsl`): the window width for a size, the number of
//! signed-digit windows, the levels of the bucket reduction, and the final sum over the windows.

use halo2curves::bn256::G1;
use halo2curves::group::Group;

use crate::layout::{xyzz_to_affine, XYZZ_WORDS};
use crate::Error;

/// Entries of the bucket list summed by one accumulation thread (`CHUNK` in the kernels).
pub const CHUNK: u64 = 32;

/// Threads of a block of the bucket offsets' scan, and the consecutive counts each takes
/// (`SCAN_THREADS`, `SCAN_ITEMS` in the kernels).
pub const SCAN_THREADS: u32 = 256;
/// See [`SCAN_THREADS`].
pub const SCAN_ITEMS: u32 = 8;
/// Counts per scan block.
pub const SCAN_BLOCK: u32 = SCAN_THREADS * SCAN_ITEMS;

/// Inputs a reduction thread sums (at most; fewer where a level has fewer). One thread does
/// about 2·16 additions and 4 doublings; at c = 16 (n = 2^20) the first level runs 16 windows ×
/// 2^15 / 16 = 32 K threads, about as many as an H100 holds at once at that kernel's registers.
const SEGMENT: u32 = 16;

/// The widest window: 13 windows of 2^19 buckets (at n = 2^24) keep the buckets, 872 MB of XYZZ
/// points, inside one 2 GiB storage binding of the wgpu kernels.
const MAX_WINDOW_BITS: u32 = 20;

/// What a bucket costs next to an entry in [`window_bits`]' model, counted in mixed additions
/// (one per nonzero digit): its reduction takes two full XYZZ additions (14 multiplications
/// against 10) and, per 16 buckets, four doublings and three additions at the next level.
const BUCKET_COST: u64 = 3;

/// Environment variable that fixes the window width of the GPU MSMs (4 to 20 bits), to compare
/// widths on a device; unset, [`window_bits`] chooses by its model.
pub const MSM_WINDOW_BITS_ENV: &str = "ZKML_MSM_WINDOW_BITS";

/// Window width for `n` points: the `c` in `4..=20` with the least work in the model
/// `windows(c) · (n + 3 · 2^{c−1})`, one mixed addition per digit plus the reduction of every
/// bucket, among those whose buckets and reduction levels take at most `max_points` points
/// ([`bucket_points`]; a wgpu device bounds one binding). Up to n = 2^20 that is within a bit of
/// `log n − 4` (about 32 entries a bucket); above, it passes 16 bits: 17 at 2^22 (15 windows
/// instead of 16), 20 at 2^24 (13 windows; 12% less work in the model than 16 windows of 16
/// bits). [`MSM_WINDOW_BITS_ENV`] overrides the model; a width it names that is out of range or
/// does not fit is an error.
pub fn window_bits(n: usize, max_points: u64) -> Result<u32, Error> {
    if let Ok(value) = std::env::var(MSM_WINDOW_BITS_ENV) {
        let c = value.parse::<u32>().ok().filter(|c| (4..=MAX_WINDOW_BITS).contains(c)).ok_or_else(|| {
            Error::InvalidInput(format!("{MSM_WINDOW_BITS_ENV}={value}: expected a window width from 4 to {MAX_WINDOW_BITS} bits"))
        })?;
        if bucket_points(c) > max_points {
            return Err(Error::InvalidInput(format!(
                "{MSM_WINDOW_BITS_ENV}={c}: the buckets of {c}-bit windows take {} points, more than the device's {max_points}",
                bucket_points(c)
            )));
        }
        return Ok(c);
    }
    let cost = |c: &u32| windows(*c) as u64 * (n as u64 + (BUCKET_COST << (c - 1)));
    Ok((4..=MAX_WINDOW_BITS).filter(|&c| bucket_points(c) <= max_points).min_by_key(cost).unwrap_or(4))
}

/// Points the buckets of window width `c` and its reduction levels take.
pub fn bucket_points(c: u32) -> u64 {
    let w = windows(c);
    ((w as u64) << (c - 1)) + reduction_levels(c, w).1
}

/// Number of signed-digit windows covering a 254-bit scalar with width `c`: the top window then
/// holds fewer than `c − 1` bits and never carries out.
pub fn windows(c: u32) -> u32 {
    254 / c + 1
}

/// One launch of the bucket reduction (`msm_reduce_level` in both backends).
///
/// A window's sum `Σ_b (b+1)·B_b` over its `N = 2^{c−1}` buckets is reduced in levels. The first
/// splits the buckets into segments of `L` and writes, per segment `j`, the pair
/// `T_j = Σ_r (r+1)·B_{jL+r}` (a running sum from the top bucket) and `S_j = L·Σ_r B_{jL+r}`;
/// then `Σ_b (b+1)·B_b = Σ_j T_j + Σ_j j·S_j`. Every later level takes the pairs of the one
/// before and keeps that form, `Σ_j T_j + Σ_j j·S_j`, with `L` times fewer pairs:
/// `T'_i = Σ_r (T_{iL+r} + r·S_{iL+r})` and `S'_i = L·Σ_r S_{iL+r}`. The last level leaves
/// one pair, whose `T` is the window sum. Each input costs two or three additions, each segment
/// `log L` doublings, and no thread multiplies by its segment's position, which a single level
/// of segments would (up to `c − 1` doublings a segment, then a tree over the segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReductionLevel {
    /// Whether this level reads the buckets (the first) rather than pairs.
    pub reads_buckets: bool,
    /// Inputs per window: the buckets at the first level, the pairs of the level before later.
    pub inputs: u32,
    /// Inputs per thread (a power of two dividing `inputs`).
    pub segment_len: u32,
    /// Where the level reads its pairs (unused by the first level), in points from the start of
    /// the level buffer: all `T`s, then all `S`s, segment-major (`j·windows + w`).
    pub input_at: u32,
    /// Where it writes its pairs, in the same layout (the `S`s only if a level follows).
    pub output_at: u32,
}

impl ReductionLevel {
    /// Segments per window, the pairs this level writes.
    pub fn segments(&self) -> u32 {
        self.inputs / self.segment_len
    }
}

/// The reduction levels for window width `c` with `windows` windows, and the points the level
/// buffer takes. The window sums are the first `windows` points of the last level's output.
pub fn reduction_levels(c: u32, windows: u32) -> (Vec<ReductionLevel>, u64) {
    let mut levels = Vec::new();
    let (mut inputs, mut input_at, mut output_at) = (1u32 << (c - 1), 0u32, 0u32);
    loop {
        let segment_len = SEGMENT.min(inputs);
        let level = ReductionLevel { reads_buckets: levels.is_empty(), inputs, segment_len, input_at, output_at };
        levels.push(level);
        let segments = level.segments();
        if segments == 1 {
            return (levels, output_at as u64 + windows as u64);
        }
        input_at = output_at;
        output_at += 2 * segments * windows;
        inputs = segments;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_widths() {
        if std::env::var_os(MSM_WINDOW_BITS_ENV).is_some() {
            eprintln!("skipping: {MSM_WINDOW_BITS_ENV} fixes the width");
            return;
        }
        let widths: Vec<u32> = [1usize, 1 << 10, 1 << 16, 1 << 20, 1 << 22, 1 << 24, 1 << 26].map(|n| window_bits(n, u64::MAX).unwrap()).to_vec();
        assert_eq!(widths, [4, 7, 13, 16, 17, 20, 20]);
        // A device whose bindings hold 128 MiB (lavapipe): 2^20 buckets of 128 bytes at most.
        let cap = (128 << 20) / 128;
        assert_eq!(window_bits(1 << 21, cap).unwrap(), 16);
        assert!(bucket_points(17) > cap && bucket_points(16) <= cap);
    }

    /// Each level reads what the one before wrote, segments divide their inputs, the last level
    /// leaves one pair a window, and no two levels' outputs overlap inside the buffer.
    #[test]
    fn reduction_levels_chain() {
        let (levels, _) = reduction_levels(16, 16);
        let shape: Vec<(u32, u32)> = levels.iter().map(|l| (l.inputs, l.segment_len)).collect();
        assert_eq!(shape, [(1 << 15, 16), (1 << 11, 16), (1 << 7, 16), (8, 8)]);
        assert_eq!(reduction_levels(5, 51).0.len(), 1, "16 buckets: one segment, one level");
        for c in 4..=MAX_WINDOW_BITS {
            let w = windows(c);
            let (levels, points) = reduction_levels(c, w);
            assert!(levels[0].reads_buckets && levels[0].inputs == 1 << (c - 1));
            let mut end = 0u64;
            for (i, pair) in levels.windows(2).enumerate() {
                let (level, next) = (pair[0], pair[1]);
                assert!(!next.reads_buckets && next.inputs == level.segments() && next.input_at == level.output_at, "c={c}, level {i}");
                assert!(level.inputs % level.segment_len == 0 && level.segment_len.is_power_of_two());
                end = level.output_at as u64 + 2 * (level.segments() * w) as u64;
                assert!(next.output_at as u64 >= end, "c={c}, level {i}");
            }
            let last = levels.last().unwrap();
            assert_eq!(last.segments(), 1, "c={c}");
            assert!(points == last.output_at as u64 + w as u64 && points >= end);
        }
    }
}
