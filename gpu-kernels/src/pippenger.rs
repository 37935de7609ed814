//! The host side of the GPU MSMs, shared by the CUDA and wgpu backends, which run the same
//! bucket method (`cuda/msm.cu`, `wgpu/msm.wgsl`): the window tables of resident bases, the plan
//! of one MSM (window width, windows, bucket groups), the levels of the bucket reduction, and
//! the final sum over the groups.

use halo2curves::bn256::G1;
use halo2curves::group::Group;

use crate::layout::{xyzz_to_affine, XYZZ_WORDS};
use crate::Error;

/// Entries of the bucket list summed by one accumulation thread (`CHUNK` in the kernels).
pub const CHUNK: u64 = 32;

/// Points of a window table a thread of `msm_table` makes (`TABLE_BATCH` in the kernels): they
/// share one inversion (Montgomery's trick), about 55 multiplications a point instead of 390.
pub const TABLE_BATCH: u32 = 8;

/// Threads of a block of the bucket offsets' scan, and the consecutive counts each takes
/// (`SCAN_THREADS`, `SCAN_ITEMS` in the kernels).
pub const SCAN_THREADS: u32 = 256;
/// See [`SCAN_THREADS`].
pub const SCAN_ITEMS: u32 = 8;
/// Counts per scan block.
pub const SCAN_BLOCK: u32 = SCAN_THREADS * SCAN_ITEMS;

/// Buckets a thread of the first reduction level sums (at most; fewer where a window has
/// fewer). One thread does about 2·16 additions and 4 doublings; at c = 16 (n = 2^20) the first
/// level runs 16 windows × 2^15 / 16 = 32 K threads, about as many as an H100 holds at once at
/// that kernel's registers.
const FIRST_SEGMENT: u32 = 16;

/// Pairs a thread of a later reduction level folds into one (at most). Those levels run a few
/// thousand threads or fewer, too few to fill a GPU, so each takes about as long as one thread's
/// chain of `3·L` additions and `log L` doublings: per bit of pairs reduced, 3L/log L + 1 point
/// operations, 13 at L = 16, 7 at L = 4 (and at L = 2, with twice the launches). From 2^15
/// pairs (one group of 20-bit windows, n = 2^20) that is 8 levels of 14 operations where 4 of
/// 16 took about 180.
const LEVEL_FAN_IN: u32 = 4;

/// The widest window. A device with small bindings bounds it further through `max_points`
/// (the wgpu kernels keep all buckets in one binding).
const MAX_WINDOW_BITS: u32 = 24;

/// Bytes of one affine base on the device (`x`, `y`).
pub const AFFINE_BYTES: u64 = 64;

/// The most window tables resident bases get (a table a window down to 8-bit windows).
pub const MAX_TABLES: u32 = 32;

/// Environment variable bounding the number of window tables of resident bases (1: the bases
/// alone, no precomputation), to compare on a device or to save device memory; unset,
/// the backend chooses within its memory budget (the model of `base_tables`).
pub const MSM_TABLES_ENV: &str = "ZKML_MSM_TABLES";

/// What a bucket costs next to an entry in [`window_bits`]' model, counted in mixed additions
/// (one per nonzero digit): its reduction takes two full XYZZ additions (14 multiplications
/// against 10) and, per 16 buckets, four doublings and three additions at the next level.
const BUCKET_COST: u64 = 3;

/// Environment variable that fixes the window width of the GPU MSMs over the bases alone (4 to
/// 24 bits, no window tables), to compare widths on a device; unset, a cost model chooses
/// (`window_bits`).
pub const MSM_WINDOW_BITS_ENV: &str = "ZKML_MSM_WINDOW_BITS";

/// Window width for `n` points over the bases alone: the `c` in `4..=24` with the least work in
/// the model `windows(c) · (n + 3 · 2^{c−1})`, one mixed addition per digit plus the reduction
/// of every bucket, among those whose buckets and reduction levels take at most `max_points`
/// points ([`bucket_points`]; a wgpu device bounds one binding). Up to n = 2^20 that is within a
/// bit of `log n − 4` (about 32 entries a bucket); above, it passes 16 bits: 17 at 2^22 (15
/// windows instead of 16), 20 at 2^24 (13 windows; 12% less work in the model than 16 windows
/// of 16 bits). [`MSM_WINDOW_BITS_ENV`] overrides the model; a width it names that is out of
/// range or does not fit is an error.
pub fn window_bits(n: usize, max_points: u64) -> Result<u32, Error> {
    if let Ok(value) = std::env::var(MSM_WINDOW_BITS_ENV) {
        let c = value.parse::<u32>().ok().filter(|c| (4..=MAX_WINDOW_BITS).contains(c)).ok_or_else(|| {
            Error::InvalidInput(format!("{MSM_WINDOW_BITS_ENV}={value}: expected a window width from 4 to {MAX_WINDOW_BITS} bits"))
        })?;
        if bucket_points(c, windows(c)) > max_points {
            return Err(Error::InvalidInput(format!(
                "{MSM_WINDOW_BITS_ENV}={c}: the buckets of {c}-bit windows take {} points, more than the device's {max_points}",
                bucket_points(c, windows(c))
            )));
        }
        return Ok(c);
    }
    let cost = |c: &u32| MsmPlan::over_bases(*c).cost(n);
    Ok((4..=MAX_WINDOW_BITS).filter(|&c| bucket_points(c, windows(c)) <= max_points).min_by_key(cost).unwrap_or(4))
}

/// Points the buckets of `groups` bucket groups of window width `c` and their reduction levels
/// take.
pub fn bucket_points(c: u32, groups: u32) -> u64 {
    ((groups as u64) << (c - 1)) + reduction_levels(c, groups).1
}

/// Window tables of resident bases: table `j` holds `2^{bits·j}·P_i` for every base `P_i`
/// (table 0 is the bases), built on the device when the bases are loaded.
///
/// Pippenger over `W` windows keeps `W` sets of buckets, one a window, and weights window `w`
/// by `2^{c·w}` at the end. With the tables, window `w`'s digit of `k_i` can select
/// `2^{c·w}·P_i` instead, so windows that read different tables share one set of buckets: the
/// digits are as many, the buckets to reduce `F` times fewer (`F` tables). The bases are fixed
/// (the SRS), so the tables are made once; they let the width grow (fewer windows) where the
/// reduction of `W` sets of buckets would cost too much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseTables {
    /// The window width the tables are made for.
    pub bits: u32,
    /// Number of tables, 1 (the bases alone) up to the windows of `bits`.
    pub count: u32,
}

impl BaseTables {
    /// The bases alone.
    pub const NONE: BaseTables = BaseTables { bits: 0, count: 1 };
}

/// The tables for `n` resident bases: the width and count with the least work for an MSM of all
/// `n` in the model of [`window_bits`] (`windows · n + 3 · groups · 2^{c−1}`), whose tables
/// take at most `max_bytes` ([`AFFINE_BYTES`] a point) and whose buckets at most `max_points`
/// points; at most [`MAX_TABLES`] tables, or as many as [`MSM_TABLES_ENV`] allows. [`NONE`]
/// where no table pays: at 2^20 bases, 13 tables of 20-bit windows (872 MB), 17% less work than
/// 16 windows of 16 bits over the bases alone; at 2^16, 16 of 16 bits (26% less); at 2^24,
/// 12 of 22 bits (12.9 GB; 13% less).
///
/// [`NONE`]: BaseTables::NONE
pub fn base_tables(n: usize, max_bytes: u64, max_points: u64) -> Result<BaseTables, Error> {
    let limit = match std::env::var(MSM_TABLES_ENV) {
        Ok(value) => value.parse::<u32>().ok().filter(|&t| t >= 1).ok_or_else(|| {
            Error::InvalidInput(format!("{MSM_TABLES_ENV}={value}: expected the most window tables, at least 1"))
        })?,
        Err(_) => MAX_TABLES,
    };
    if n == 0 {
        return Ok(BaseTables::NONE);
    }
    let plain = MsmPlan::over_bases(window_bits(n, max_points)?);
    let (mut best, mut best_cost) = (BaseTables::NONE, plain.cost(n));
    for bits in 4..=MAX_WINDOW_BITS {
        for count in 2..=windows(bits).min(limit).min(MAX_TABLES) {
            // Entries keep a point's index in 31 bits.
            if count as u64 * n as u64 * AFFINE_BYTES > max_bytes || count as u64 * n as u64 >= 1 << 31 {
                break;
            }
            let plan = MsmPlan::with_tables(BaseTables { bits, count });
            if bucket_points(bits, plan.groups) <= max_points && plan.cost(n) < best_cost {
                (best, best_cost) = (BaseTables { bits, count }, plan.cost(n));
            }
        }
    }
    Ok(best)
}

/// How one MSM runs: `windows` signed digits of width `c` a scalar; window `w` reads table
/// `w mod tables` and adds into bucket group `w / tables`. Over the bases alone `tables` is 1
/// and every window has its own group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsmPlan {
    /// Window width in bits.
    pub c: u32,
    /// Digits a scalar.
    pub windows: u32,
    /// Window tables the MSM reads (windows a group).
    pub tables: u32,
    /// Bucket groups, each `2^{c−1}` buckets, weighted by `2^{c·tables·g}` in the final sum.
    pub groups: u32,
}

impl MsmPlan {
    /// Width `c` over the bases alone.
    pub fn over_bases(c: u32) -> Self {
        MsmPlan { c, windows: windows(c), tables: 1, groups: windows(c) }
    }

    /// Over all of `tables`.
    pub fn with_tables(tables: BaseTables) -> Self {
        let w = windows(tables.bits);
        MsmPlan { c: tables.bits, windows: w, tables: tables.count, groups: w.div_ceil(tables.count) }
    }

    /// Buckets in all groups.
    pub fn buckets(&self) -> u32 {
        self.groups << (self.c - 1)
    }

    /// Work for `n` points in mixed additions: one a digit, [`BUCKET_COST`] a bucket.
    fn cost(&self, n: usize) -> u64 {
        self.windows as u64 * n as u64 + ((BUCKET_COST * self.groups as u64) << (self.c - 1))
    }
}

/// The plan of an MSM of `n` points over bases with `tables`: over the tables where that is less
/// work than the best width over the bases alone ([`window_bits`], which also answers when
/// [`MSM_WINDOW_BITS_ENV`] fixes the width), else over the bases alone.
pub fn msm_plan(n: usize, tables: BaseTables, max_points: u64) -> Result<MsmPlan, Error> {
    let plain = MsmPlan::over_bases(window_bits(n, max_points)?);
    if tables.count > 1 && std::env::var_os(MSM_WINDOW_BITS_ENV).is_none() {
        let over_tables = MsmPlan::with_tables(tables);
        if over_tables.cost(n) < plain.cost(n) && bucket_points(over_tables.c, over_tables.groups) <= max_points {
            return Ok(over_tables);
        }
    }
    Ok(plain)
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

/// The reduction levels for window width `c` with `windows` bucket groups (the windows over the
/// bases alone), and the points the level buffer takes. The groups' sums are the first `windows`
/// points of the last level's output.
pub fn reduction_levels(c: u32, windows: u32) -> (Vec<ReductionLevel>, u64) {
    let mut levels = Vec::new();
    let (mut inputs, mut input_at, mut output_at) = (1u32 << (c - 1), 0u32, 0u32);
    loop {
        let segment_len = if levels.is_empty() { FIRST_SEGMENT } else { LEVEL_FAN_IN }.min(inputs);
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

/// `Σ_g 2^{s·g}·S_g` from the group sums `S_g` (XYZZ words, lowest group first) with
/// `s = c · tables` bits between groups, by Horner from the top group.
pub fn combine_groups(sums: &[u32], plan: &MsmPlan) -> Result<G1, Error> {
    let mut acc = G1::identity();
    for group in sums.chunks(XYZZ_WORDS).rev() {
        for _ in 0..plan.c * plan.tables {
            acc = acc.double();
        }
        acc += xyzz_to_affine(group)?;
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
        assert_eq!(widths, [4, 7, 13, 16, 17, 20, 22]);
        // A device whose bindings hold 128 MiB (lavapipe): 2^20 buckets of 128 bytes at most.
        let cap = (128 << 20) / 128;
        assert_eq!(window_bits(1 << 21, cap).unwrap(), 16);
        assert!(bucket_points(17, windows(17)) > cap && bucket_points(16, windows(16)) <= cap);
    }

    /// The tables the model picks, within a memory budget, and the plans over them: the tables
    /// for the full size, the bases alone for an MSM much smaller than the bases.
    #[test]
    fn window_tables() {
        if std::env::var_os(MSM_TABLES_ENV).is_some() || std::env::var_os(MSM_WINDOW_BITS_ENV).is_some() {
            eprintln!("skipping: {MSM_TABLES_ENV} or {MSM_WINDOW_BITS_ENV} is set");
            return;
        }
        let tables = |log_n: u32, max_bytes: u64| base_tables(1 << log_n, max_bytes, u64::MAX).unwrap();
        assert_eq!(tables(16, u64::MAX), BaseTables { bits: 16, count: 16 });
        assert_eq!(tables(20, u64::MAX), BaseTables { bits: 20, count: 13 });
        assert_eq!(tables(24, u64::MAX), BaseTables { bits: 22, count: 12 });
        let full = MsmPlan::with_tables(tables(20, u64::MAX));
        assert_eq!((full.windows, full.groups, full.buckets()), (13, 1, 1 << 19));
        // 4 tables of 2^20 points: groups of 4 windows; no room for a second table: none.
        let four = tables(20, (4 * AFFINE_BYTES) << 20);
        assert!(four.count == 4 && MsmPlan::with_tables(four).groups == windows(four.bits).div_ceil(4), "{four:?}");
        assert_eq!(tables(20, ((2 * AFFINE_BYTES) << 20) - 1), BaseTables::NONE);
        // Against 16 windows of 16 bits over the bases, each with its own buckets.
        let plain = MsmPlan::over_bases(16);
        assert!(full.cost(1 << 20) * 100 < plain.cost(1 << 20) * 84);
        assert_eq!(msm_plan(1 << 20, tables(20, u64::MAX), u64::MAX).unwrap(), full);
        assert_eq!(msm_plan(1 << 10, tables(20, u64::MAX), u64::MAX).unwrap(), MsmPlan::over_bases(7));
        assert_eq!(msm_plan(1 << 20, BaseTables::NONE, u64::MAX).unwrap(), plain);
        // A device whose buckets must fit 2^20 points takes no 20-bit tables.
        let small = base_tables(1 << 20, u64::MAX, 1 << 20).unwrap();
        assert!(bucket_points(small.bits, MsmPlan::with_tables(small).groups) <= 1 << 20, "{small:?}");
    }

    /// Each level reads what the one before wrote, segments divide their inputs, the last level
    /// leaves one pair a window, and no two levels' outputs overlap inside the buffer.
    #[test]
    fn reduction_levels_chain() {
        let (levels, _) = reduction_levels(16, 16);
        let shape: Vec<(u32, u32)> = levels.iter().map(|l| (l.inputs, l.segment_len)).collect();
        assert_eq!(shape, [(1 << 15, 16), (1 << 11, 4), (1 << 9, 4), (1 << 7, 4), (1 << 5, 4), (8, 4), (2, 2)]);
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
