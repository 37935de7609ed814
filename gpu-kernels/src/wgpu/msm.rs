//! MSM through wgpu: the bases and their window tables stay in a storage buffer, and each call
//! runs the passes of `msm.wgsl` on scalars on the device (uploaded by the call, or already
//! there: [`WgpuBases::msm_resident`]); the host plan is shared with CUDA (`pippenger.rs`).

use std::sync::Mutex;

use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::group::Group;

use super::{Dispatch, WgpuBackend, WgpuValues, WORKGROUP};
use crate::backend::{MsmBackend, NttBackend, ResidentBases};
use crate::layout::{base_words, XYZZ_WORDS};
use crate::pippenger::{base_tables, bucket_points, combine_groups, msm_plan, reduction_levels, BaseTables, MsmPlan, CHUNK, SCAN_BLOCK, SCAN_THREADS, TABLE_BATCH};
use crate::Error;

/// Bases resident on a wgpu device with their window tables, and the work buffers of the last
/// MSM size.
pub struct WgpuBases {
    backend: WgpuBackend,
    /// `tables.count` tables of `len` affine points, table 0 the bases.
    points: wgpu::Buffer,
    tables: BaseTables,
    len: usize,
    scratch: Mutex<Option<Scratch>>,
}

/// Work buffers of one MSM size (`points`: the buckets, then from `levels_at` the pairs of the
/// reduction levels; `first` and `last`: the chunks' partial sums).
struct Scratch {
    n: usize,
    counts: wgpu::Buffer,
    offsets: wgpu::Buffer,
    /// Each nonzero digit's rank in its bucket, window-major (`msm_digits`).
    ranks: wgpu::Buffer,
    totals: wgpu::Buffer,
    entries: wgpu::Buffer,
    points: wgpu::Buffer,
    first: wgpu::Buffer,
    last: wgpu::Buffer,
    levels_at: u32,
}

impl MsmBackend for WgpuBackend {
    fn describe(&self) -> String {
        NttBackend::describe(self)
    }

    fn load_bases(&self, bases: &[G1Affine]) -> Result<Box<dyn ResidentBases>, Error> {
        Ok(Box::new(self.load_resident(bases)?))
    }
}

impl WgpuBackend {
    /// Uploads `bases` once and makes their window tables (`pippenger::base_tables`, within one
    /// binding), compiling the MSM kernels on first use; MSMs over them then take only scalars.
    pub fn load_resident(&self, bases: &[G1Affine]) -> Result<WgpuBases, Error> {
        // Entries keep the point index in 31 bits.
        if bases.len() >= 1 << 31 {
            return Err(Error::InvalidInput(format!("{} bases exceed the 2^31 the MSM kernels index", bases.len())));
        }
        let k = self.msm_kernels()?;
        let len = bases.len();
        let max_bytes = self.gpu.max_bytes;
        // Kernels index words with 32 bits.
        let tables = base_tables(len, max_bytes.min(u32::MAX as u64 + 1), max_points(max_bytes))?;
        let points = self.checked("uploading bases", || {
            let base_words = base_words(bases);
            let points = self.buffer("bases", base_words.len() as u64 * tables.count as u64)?;
            // The tables, poisoned in the tests until msm_table writes them (see `scratch`).
            #[cfg(test)]
            self.gpu.queue.write_buffer(&points, 0, &vec![0xa5; points.size() as usize]);
            self.write(&points, 0, bytemuck::cast_slice(&base_words))?;
            let passes: Vec<Dispatch> = (1..tables.count)
                .map(|j| Dispatch {
                    kernel: &k.table,
                    params: MsmParams { c: tables.bits, table_len: len as u32, table_index: j, ..Default::default() }.words(),
                    buffers: vec![(13, &points)],
                    threads: (len as u64).div_ceil(TABLE_BATCH as u64),
                    workgroup: WORKGROUP,
                })
                .collect();
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, &passes);
            self.finish(encoder, &[], &mut [])?;
            Ok(points)
        })?;
        Ok(WgpuBases { backend: self.clone(), points, tables, len, scratch: Mutex::new(None) })
    }
}

/// `MsmParams` of msm.wgsl, field for field; a kernel reads only some of them, the rest are 0.
#[derive(Clone, Copy, Default)]
struct MsmParams {
    n: u32,
    c: u32,
    windows: u32,
    write_entries: u32,
    n_buckets: u32,
    scan_blocks: u32,
    scalars_split: u32,
    level_first: u32,
    level_inputs: u32,
    level_len: u32,
    level_in: u32,
    level_out: u32,
    groups: u32,
    tables: u32,
    table_len: u32,
    table_index: u32,
}

impl MsmParams {
    /// The words of the uniform buffer, in the WGSL struct's order.
    fn words(&self) -> Vec<u32> {
        vec![
            self.n,
            self.c,
            self.windows,
            self.write_entries,
            self.n_buckets,
            self.scan_blocks,
            self.scalars_split,
            self.level_first,
            self.level_inputs,
            self.level_len,
            self.level_in,
            self.level_out,
            self.groups,
            self.tables,
            self.table_len,
            self.table_index,
        ]
    }
}

/// Points the buckets and reduction levels may take on a device: they share one binding.
fn max_points(max_bytes: u64) -> u64 {
    max_bytes / (XYZZ_WORDS as u64 * 4)
}

impl WgpuBases {
    /// `Σ scalars_i · bases_i` for scalars already on the device (as [`WgpuBackend::upload`]
    /// leaves them), over the first `scalars.len()` bases.
    pub fn msm_resident(&self, scalars: &WgpuValues) -> Result<G1, Error> {
        let n = scalars.len();
        if n > self.len {
            return Err(Error::InvalidInput(format!("{n} scalars for {} resident bases", self.len)));
        }
        if n == 0 {
            return Ok(G1::identity());
        }
        let plan = self.plan(n)?;
        let mut guard = self.scratch.lock().map_err(|_| Error::Device("MSM scratch poisoned".into()))?;
        let sums = self.backend.checked("msm", || {
            if !matches!(guard.as_ref(), Some(s) if s.n == n) {
                *guard = None; // free the old buffers before allocating new ones
                *guard = Some(self.scratch(n, &plan)?);
            }
            self.group_sums(guard.as_ref().unwrap(), scalars, &plan)
        })?;
        drop(guard);
        combine_groups(&sums, &plan)
    }

    /// The window tables made for these bases (one: the bases alone).
    pub fn tables(&self) -> BaseTables {
        self.tables
    }

    /// How an MSM of `n` scalars over these bases runs: its window width, windows, tables and
    /// bucket groups (within the device's largest binding).
    pub fn plan(&self, n: usize) -> Result<MsmPlan, Error> {
        msm_plan(n, self.tables, max_points(self.backend.gpu.max_bytes))
    }

    fn scratch(&self, n: usize, plan: &MsmPlan) -> Result<Scratch, Error> {
        let gpu = &self.backend;
        let buckets = plan.buckets() as u64;
        let entries = n as u64 * plan.windows as u64;
        let chunks = entries.div_ceil(CHUNK);
        let points = bucket_points(plan.c, plan.groups);
        // Kernels index words with 32 bits.
        if points.max(chunks) * XYZZ_WORDS as u64 > u32::MAX as u64 || entries > u32::MAX as u64 {
            return Err(Error::InvalidInput(format!("an MSM of {n} points is too large for the wgpu kernels")));
        }
        let scratch = Scratch {
            n,
            counts: gpu.buffer("counts", buckets)?,
            offsets: gpu.buffer("offsets", buckets)?,
            ranks: gpu.buffer("ranks", entries)?,
            totals: gpu.buffer("totals", buckets.div_ceil(SCAN_BLOCK as u64) + 1)?,
            entries: gpu.buffer("entries", entries)?,
            points: gpu.buffer("points", points * XYZZ_WORDS as u64)?,
            first: gpu.buffer("first", chunks * XYZZ_WORDS as u64)?,
            last: gpu.buffer("last", chunks * XYZZ_WORDS as u64)?,
            levels_at: buckets as u32,
        };
        // The tests fill the scratch with 0xa5 bytes: zeros read as the identity point (ZZ = 0)
        // and would hide a read of something no kernel wrote. `counts` is cleared before each MSM;
        // everything else is written before it is read.
        #[cfg(test)]
        for buffer in [&scratch.offsets, &scratch.ranks, &scratch.totals, &scratch.entries, &scratch.points, &scratch.first, &scratch.last] {
            gpu.gpu.queue.write_buffer(buffer, 0, &vec![0xa5; buffer.size() as usize]);
        }
        Ok(scratch)
    }

    /// Records and runs every pass, returning the group sums (XYZZ words).
    fn group_sums(&self, s: &Scratch, scalars: &WgpuValues, plan: &MsmPlan) -> Result<Vec<u32>, Error> {
        let n = scalars.len() as u32;
        let (c, w, groups) = (plan.c, plan.windows, plan.groups);
        let n_buckets = plan.buckets();
        let scan_blocks = n_buckets.div_ceil(SCAN_BLOCK);
        let chunks = (n as u64 * w as u64).div_ceil(CHUNK);
        let (levels, _) = reduction_levels(c, groups);
        let k = self.backend.msm_kernels()?;
        let common = MsmParams {
            n,
            c,
            windows: w,
            n_buckets,
            scan_blocks,
            scalars_split: scalars.split as u32,
            groups,
            tables: plan.tables,
            table_len: self.len as u32,
            ..Default::default()
        };
        let params = |write_entries: u32| MsmParams { write_entries, ..common }.words();
        let dispatch = |kernel, params, buffers, threads: u64| Dispatch { kernel, params, buffers, threads, workgroup: WORKGROUP };
        let digit_buffers = vec![(1, &scalars.low), (11, &scalars.high), (3, &s.counts), (4, &s.entries), (6, &s.offsets), (12, &s.ranks)];
        let count = [
            dispatch(&k.digits, params(0), digit_buffers.clone(), n as u64),
            Dispatch {
                workgroup: SCAN_THREADS,
                ..dispatch(&k.scan_blocks, params(0), vec![(5, &s.counts), (6, &s.offsets), (7, &s.totals)], (scan_blocks * SCAN_THREADS) as u64)
            },
            Dispatch { workgroup: SCAN_THREADS, ..dispatch(&k.scan_totals, params(0), vec![(7, &s.totals)], SCAN_THREADS as u64) },
            dispatch(&k.scan_add, params(0), vec![(6, &s.offsets), (7, &s.totals)], n_buckets as u64),
        ];
        let mut sum = vec![
            dispatch(&k.digits, params(1), digit_buffers, n as u64),
            dispatch(
                &k.accumulate,
                params(0),
                vec![(2, &self.points), (4, &s.entries), (5, &s.counts), (6, &s.offsets), (7, &s.totals), (8, &s.points), (9, &s.first), (10, &s.last)],
                chunks,
            ),
            dispatch(&k.join, params(0), vec![(5, &s.counts), (6, &s.offsets), (8, &s.points), (9, &s.first), (10, &s.last)], n_buckets as u64),
        ];
        for l in &levels {
            let level = MsmParams {
                level_first: l.reads_buckets as u32,
                level_inputs: l.inputs,
                level_len: l.segment_len,
                level_in: s.levels_at + l.input_at,
                level_out: s.levels_at + l.output_at,
                ..common
            };
            sum.push(dispatch(&k.reduce_level, level.words(), vec![(5, &s.counts), (8, &s.points)], (groups * l.segments()) as u64));
        }
        let mut encoder = self.backend.gpu.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&s.counts, 0, None);
        self.backend.record(&mut encoder, &count);
        self.backend.record(&mut encoder, &sum);
        // The group sums are the first `groups` points of the last level's output.
        let sums_at = (s.levels_at + levels.last().unwrap().output_at) as u64;
        let mut sums = vec![0; groups as usize * XYZZ_WORDS];
        self.backend.finish(encoder, &[(&s.points, sums_at * XYZZ_WORDS as u64, groups as u64 * XYZZ_WORDS as u64)], &mut sums)?;
        Ok(sums)
    }
}

impl ResidentBases for WgpuBases {
    fn len(&self) -> usize {
        self.len
    }

    fn msm(&self, scalars: &[Fr]) -> Result<G1, Error> {
        if scalars.len() > self.len {
            return Err(Error::InvalidInput(format!("{} scalars for {} resident bases", scalars.len(), self.len)));
        }
        self.msm_resident(&self.backend.upload(scalars)?)
    }
}
