//! MSM through wgpu: the bases stay in a storage buffer, and each call runs the passes of
//! `msm.wgsl` on scalars on the device (uploaded by the call, or already there:
//! [`WgpuBases::msm_resident`]); the host plan is shared with CUDA (`pippenger.rs`).

use std::sync::Mutex;

use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::group::Group;

use super::{Dispatch, WgpuBackend, WgpuValues, WORKGROUP};
use crate::backend::{MsmBackend, NttBackend, ResidentBases};
use crate::layout::{base_words, XYZZ_WORDS};
use crate::pippenger::{bucket_points, combine_windows, reduction_levels, window_bits, windows, CHUNK, SCAN_BLOCK, SCAN_THREADS};
use crate::Error;

/// Bases resident on a wgpu device, with the work buffers of the last MSM size.
pub struct WgpuBases {
    backend: WgpuBackend,
    bases: wgpu::Buffer,
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
    /// Uploads `bases` once (compiling the MSM kernels on first use); MSMs over them then take
    /// only scalars.
    pub fn load_resident(&self, bases: &[G1Affine]) -> Result<WgpuBases, Error> {
        // Entries keep the point index in 31 bits.
        if bases.len() >= 1 << 31 {
            return Err(Error::InvalidInput(format!("{} bases exceed the 2^31 the MSM kernels index", bases.len())));
        }
        self.msm_kernels()?;
        let buffer = self.checked("uploading bases", || self.buffer_with("bases", &base_words(bases)))?;
        Ok(WgpuBases { backend: self.clone(), bases: buffer, len: bases.len(), scratch: Mutex::new(None) })
    }
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
        // The buckets and reduction levels share one binding.
        let c = window_bits(n, self.backend.gpu.max_bytes / (XYZZ_WORDS as u64 * 4))?;
        let mut guard = self.scratch.lock().map_err(|_| Error::Device("MSM scratch poisoned".into()))?;
        let sums = self.backend.checked("msm", || {
            if !matches!(guard.as_ref(), Some(s) if s.n == n) {
                *guard = None; // free the old buffers before allocating new ones
                *guard = Some(self.scratch(n, c)?);
            }
            self.window_sums(guard.as_ref().unwrap(), scalars, c)
        })?;
        drop(guard);
        combine_windows(&sums, c)
    }

    fn scratch(&self, n: usize, c: u32) -> Result<Scratch, Error> {
        let gpu = &self.backend;
        let w = windows(c) as u64;
        let buckets = w << (c - 1);
        let entries = n as u64 * w;
        let chunks = entries.div_ceil(CHUNK);
        let points = bucket_points(c);
        // Kernels index words with 32 bits.
        if points.max(chunks) * XYZZ_WORDS as u64 > u32::MAX as u64 || entries > u32::MAX as u64 {
            return Err(Error::InvalidInput(format!("an MSM of {n} points is too large for the wgpu kernels")));
        }
        Ok(Scratch {
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
        })
    }

    /// Records and runs every pass, returning the window sums (XYZZ words).
    fn window_sums(&self, s: &Scratch, scalars: &WgpuValues, c: u32) -> Result<Vec<u32>, Error> {
        let n = scalars.len() as u32;
        let w = windows(c);
        let n_buckets = w << (c - 1);
        let scan_blocks = n_buckets.div_ceil(SCAN_BLOCK);
        let chunks = (n as u64 * w as u64).div_ceil(CHUNK);
        let (levels, _) = reduction_levels(c, w);
        let k = self.backend.msm_kernels()?;
        // MsmParams in msm.wgsl: the common fields, then a reduction level's (zero elsewhere).
        let level_params = |write_entries: u32, level: [u32; 5]| {
            [vec![n, c, w, write_entries, n_buckets, scan_blocks, scalars.split as u32], level.to_vec()].concat()
        };
        let params = |write_entries: u32| level_params(write_entries, [0; 5]);
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
                vec![(2, &self.bases), (4, &s.entries), (5, &s.counts), (6, &s.offsets), (7, &s.totals), (8, &s.points), (9, &s.first), (10, &s.last)],
                chunks,
            ),
            dispatch(&k.join, params(0), vec![(5, &s.counts), (6, &s.offsets), (8, &s.points), (9, &s.first), (10, &s.last)], n_buckets as u64),
        ];
        for l in &levels {
            let level = [l.reads_buckets as u32, l.inputs, l.segment_len, s.levels_at + l.input_at, s.levels_at + l.output_at];
            sum.push(dispatch(&k.reduce_level, level_params(0, level), vec![(5, &s.counts), (8, &s.points)], (w * l.segments()) as u64));
        }
        let mut encoder = self.backend.gpu.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&s.counts, 0, None);
        self.backend.record(&mut encoder, &count);
        self.backend.record(&mut encoder, &sum);
        // The window sums are the first `w` points of the last level's output.
        let sums_at = (s.levels_at + levels.last().unwrap().output_at) as u64;
        self.backend.finish(encoder, &[(&s.points, sums_at * XYZZ_WORDS as u64, w as u64 * XYZZ_WORDS as u64)])
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
