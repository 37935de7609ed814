//! The CUDA backend: kernels in `bn254.cuh`, `ntt.cu` and `msm.cu` (see `README.md` beside
//! them), compiled at run time by NVRTC for the device at hand and cached on disk.
//!
//! Nothing of CUDA is linked: `libcuda` and `libnvrtc` are opened when [`CudaBackend::new`] is
//! called, after checking that they exist, so a binary built on a machine without a GPU runs on
//! one with a GPU, and reports a clear error (never a panic) on one without.
//!
//! Field elements cross the bus as halo2curves stores them: Montgomery form, 8 little-endian
//! `u32` limbs. No conversion happens on the host.

mod compile;
#[cfg(test)]
mod host;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, LaunchArgs, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::ff::Field;
use halo2curves::group::Group;

pub use compile::{source, CACHE_DIR_ENV, NVRTC_OPTIONS_ENV};

use crate::backend::{coset_power_tables, factors_in_first_pass, log_size, ntt_array_passes, ntt_first_pass_blocks, ntt_passes, ntt_tiles_requested, root_of_unity, KernelTime, MsmBackend, NttBackend, NttPass, ResidentBases, Transform, TwiddleTables, BIT_REVERSE_TILE_BITS, NTT_FIRST_PASS_THREADS, NTT_TILE_LOG, NTT_TILE_THREADS};
use crate::layout::{base_words, check_layout, words, words_mut, FIELD_WORDS, XYZZ_WORDS};
use crate::pippenger::{base_tables, combine_groups, msm_plan, reduction_levels, BaseTables, MsmPlan, CHUNK, SCAN_BLOCK, SCAN_THREADS, TABLE_BATCH};
use crate::Error;

/// Threads per block of the element-wise kernels.
const BLOCK: u32 = 256;
/// Threads per block of `msm_accumulate` (`ACCUMULATE_BLOCK` in msm.cu), compiled for four
/// resident blocks an SM (`MSM_ACCUMULATE_MIN_BLOCKS`, 128 registers a thread): 16 warps to hide
/// the latency of its chains of dependent multiplications.
const ACCUMULATE_BLOCK: u32 = 128;

fn device_error(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::Device(format!("{what}: {e}"))
}

fn grid(threads: u64) -> LaunchConfig {
    grid_of_blocks(threads, BLOCK)
}

fn grid_of_blocks(threads: u64, block: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (threads.div_ceil(block as u64).max(1) as u32, 1, 1), block_dim: (block, 1, 1), shared_mem_bytes: 0 }
}

/// A kernel of the module and its name (profiles report time per kernel).
struct Kernel {
    name: &'static str,
    function: CudaFunction,
}

/// The kernels of the module.
struct Kernels {
    ntt_bit_reverse_pass: [Kernel; 3],
    bit_reverse_tiles: Kernel,
    ntt_pass: [Kernel; 3],
    ntt_tile: Kernel,
    fill_powers: Kernel,
    scale_by_powers: Kernel,
    scale: Kernel,
    msm_table: Kernel,
    msm_digits: Kernel,
    scan_blocks: Kernel,
    scan_totals: Kernel,
    scan_add: Kernel,
    msm_accumulate: Kernel,
    msm_join: Kernel,
    msm_reduce_level: Kernel,
}

struct Device {
    stream: Arc<CudaStream>,
    name: String,
    kernels: Kernels,
    /// Twiddle tables `ω^i` (`i < n/2`) by (log n, inverse), resident once made.
    twiddles: TwiddleTables<CudaSlice<u32>>,
    /// Whether the module came from the disk cache.
    cached: bool,
    /// While a profile runs: each launch so far.
    profile: Mutex<Option<Vec<TimedLaunch>>>,
}

/// A kernel launched while a profile runs, and the events recorded before and after it.
struct TimedLaunch {
    kernel: &'static str,
    start: CudaEvent,
    end: CudaEvent,
}

impl Device {
    /// Starts a launch of `kernel` on the device's stream.
    fn launch<'a>(&'a self, kernel: &'a Kernel) -> Launch<'a> {
        Launch { device: self, kernel: kernel.name, args: self.stream.launch_builder(&kernel.function) }
    }
}

/// A kernel launch being prepared: [`Launch::arg`] for each parameter, then [`Launch::run`].
struct Launch<'a> {
    device: &'a Device,
    kernel: &'static str,
    args: LaunchArgs<'a>,
}

impl<'a> Launch<'a> {
    fn arg<A>(&mut self, arg: A) -> &mut Self
    where
        LaunchArgs<'a>: PushKernelArg<A>,
    {
        self.args.arg(arg);
        self
    }

    /// Queues the kernel over `cfg` (`what` names the work in an error); while a profile runs,
    /// between two timing events.
    ///
    /// # Safety
    /// The arguments must be the kernel's parameters, in order and of their types, and `cfg`
    /// must keep the kernel's memory accesses within its buffers.
    unsafe fn run(&mut self, cfg: LaunchConfig, what: &str) -> Result<(), Error> {
        let mut profile = self.device.profile.lock().unwrap_or_else(|e| e.into_inner());
        if profile.is_some() {
            self.args.record_kernel_launch(CUevent_flags::CU_EVENT_DEFAULT);
        }
        let events = unsafe { self.args.launch(cfg) }.map_err(device_error(what))?;
        if let (Some(launches), Some((start, end))) = (profile.as_mut(), events) {
            launches.push(TimedLaunch { kernel: self.kernel, start, end });
        }
        Ok(())
    }
}

/// NTT and MSM on an NVIDIA GPU (device 0).
#[derive(Clone)]
pub struct CudaBackend {
    device: Arc<Device>,
    /// Whether transforms run in tiled passes (`ZKML_NTT_TILES`, [`Self::with_ntt_tiles`]).
    ntt_tiles: bool,
}

/// Field elements resident on the device.
pub struct DeviceScalars {
    words: CudaSlice<u32>,
    len: usize,
}

impl DeviceScalars {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl CudaBackend {
    /// Opens device 0 of those the driver shows (`CUDA_VISIBLE_DEVICES` picks another), compiling
    /// the kernels (or loading them from the cache). Errors, never panics, when the CUDA driver or
    /// NVRTC is missing or there is no device.
    pub fn new() -> Result<Self, Error> {
        let unavailable = |reason: String| Error::Unavailable { backend: "cuda", reason };
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(unavailable("no CUDA driver library (libcuda) on this machine".into()));
        }
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(unavailable("no NVRTC library (libnvrtc) on this machine".into()));
        }
        check_layout("cuda")?;
        let devices = CudaContext::device_count().map_err(|e| unavailable(format!("the driver found no device ({e})")))?;
        if devices < 1 {
            return Err(unavailable("the driver reports no device".into()));
        }
        let ctx = CudaContext::new(0).map_err(|e| unavailable(format!("device 0 could not be opened ({e})")))?;
        let name = ctx.name().map_err(device_error("device name"))?;
        let arch = ctx.compute_capability().map_err(device_error("compute capability"))?;
        let mut driver_version = 0;
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver_version) }
            .result()
            .map_err(device_error("driver version"))?;
        let compiled = compile::module(arch, driver_version)?;
        // The name says when the driver compiled PTX for the device (a device newer than NVRTC).
        let via = match compiled.target {
            compile::Target::Cubin(_) => String::new(),
            target @ compile::Target::Ptx(_) => format!("; {target}"),
        };
        let module = ctx.load_module(Ptx::from_binary(compiled.image)).map_err(device_error("loading the kernels"))?;
        let f = |name: &'static str| Ok::<_, Error>(Kernel { name, function: module.load_function(name).map_err(device_error("loading a kernel"))? });
        let kernels = Kernels {
            ntt_bit_reverse_pass: [f("fr_ntt_bit_reverse_pass1")?, f("fr_ntt_bit_reverse_pass2")?, f("fr_ntt_bit_reverse_pass3")?],
            bit_reverse_tiles: f("fr_bit_reverse_tiles")?,
            ntt_pass: [f("fr_ntt_pass1")?, f("fr_ntt_pass2")?, f("fr_ntt_pass3")?],
            ntt_tile: f("fr_ntt_tile")?,
            fill_powers: f("fr_fill_powers")?,
            scale_by_powers: f("fr_scale_by_powers")?,
            scale: f("fr_scale")?,
            msm_table: f("msm_table")?,
            msm_digits: f("msm_digits")?,
            scan_blocks: f("scan_blocks")?,
            scan_totals: f("scan_totals")?,
            scan_add: f("scan_add")?,
            msm_accumulate: f("msm_accumulate")?,
            msm_join: f("msm_join")?,
            msm_reduce_level: f("msm_reduce_level")?,
        };
        let device = Device {
            stream: ctx.default_stream(),
            name: format!("{name} (sm_{}{}{via})", arch.0, arch.1),
            kernels,
            twiddles: Mutex::new(HashMap::new()),
            cached: compiled.cached,
            profile: Mutex::new(None),
        };
        Ok(Self { device: Arc::new(device), ntt_tiles: ntt_tiles_requested() })
    }

    /// The same device with the NTT in tiled passes (shared memory, 2^10 elements a block) or in
    /// radix-8 passes (the default, unless `ZKML_NTT_TILES=1`).
    pub fn with_ntt_tiles(mut self, tiles: bool) -> Self {
        self.ntt_tiles = tiles;
        self
    }

    /// Whether the kernels were loaded from the on-disk cache rather than compiled now.
    pub fn loaded_from_cache(&self) -> bool {
        self.device.cached
    }

    /// The device memory's peak bandwidth in bytes per second, from its memory clock and bus
    /// width (two transfers a clock), or `None` where the driver does not report them: the bound
    /// a memory-limited kernel (an NTT pass) is measured against.
    pub fn peak_memory_bandwidth(&self) -> Option<f64> {
        use cudarc::driver::sys::CUdevice_attribute::{CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE};
        let ctx = self.device.stream.context();
        let clock_khz = ctx.attribute(CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE).ok().filter(|&c| c > 0)?;
        let bus_bits = ctx.attribute(CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH).ok().filter(|&b| b > 0)?;
        Some(2.0 * clock_khz as f64 * 1e3 * bus_bits as f64 / 8.0)
    }

    /// Copies field elements to the device.
    pub fn upload(&self, values: &[Fr]) -> Result<DeviceScalars, Error> {
        // CUDA allocates no zero-byte buffers: an empty vector keeps one unused word.
        let host = if values.is_empty() { &[0u32][..] } else { words(values) };
        let words = self.device.stream.clone_htod(host).map_err(device_error("upload"))?;
        Ok(DeviceScalars { words, len: values.len() })
    }

    /// Copies field elements back into `out` (of the same length).
    pub fn download(&self, values: &DeviceScalars, out: &mut [Fr]) -> Result<(), Error> {
        if out.len() != values.len {
            return Err(Error::InvalidInput(format!("{} elements on the device, {} on the host", values.len, out.len())));
        }
        if out.is_empty() {
            return Ok(());
        }
        self.device.stream.memcpy_dtoh(&values.words, words_mut(out)).map_err(device_error("download"))?;
        self.synchronize()
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<(), Error> {
        self.device.stream.synchronize().map_err(device_error("synchronize"))
    }

    /// Runs `work` with a pair of events around each kernel launch, and returns its result with
    /// the device time spent in each kernel, in order of first launch. The events do not make
    /// the host wait between launches, so the times show where an unprofiled run's time goes.
    pub fn profile<T>(&self, work: impl FnOnce() -> Result<T, Error>) -> Result<(T, Vec<KernelTime>), Error> {
        *self.device.profile.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
        let result = work();
        let launches = self.device.profile.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        let result = result?;
        let mut times = Vec::new();
        for launch in launches {
            let milliseconds = launch.start.elapsed_ms(&launch.end).map_err(device_error("profile"))?;
            KernelTime::tally(&mut times, launch.kernel, milliseconds as f64 / 1e3);
        }
        Ok((result, times))
    }

    /// Field elements for the kernels of one call (a factor, a table of powers) on the device.
    fn constants(&self, values: &[Fr]) -> Result<CudaSlice<u32>, Error> {
        self.device.stream.clone_htod(words(values)).map_err(device_error("upload"))
    }

    /// `ω^i` for `i < n/2` (or `ω^{-i}`), made on the device the first time.
    fn twiddles(&self, log_n: u32, inverse: bool) -> Result<Arc<CudaSlice<u32>>, Error> {
        let mut tables = self.device.twiddles.lock().map_err(|_| Error::Device("twiddle cache poisoned".into()))?;
        if let Some(t) = tables.get(&(log_n, inverse)) {
            return Ok(t.clone());
        }
        let half = (1u64 << log_n) / 2;
        let stream = &self.device.stream;
        let mut table = stream.alloc_zeros::<u32>(half.max(1) as usize * FIELD_WORDS).map_err(device_error("alloc"))?;
        let omega = root_of_unity(log_n);
        let base = self.constants(&[if inverse { omega.invert().unwrap() } else { omega }])?;
        let one = self.constants(&[Fr::ONE])?;
        let mut launch = self.device.launch(&self.device.kernels.fill_powers);
        launch.arg(&mut table).arg(&half).arg(&base).arg(&one);
        unsafe { launch.run(grid(half.div_ceil(16)), "twiddles") }?;
        let table = Arc::new(table);
        tables.insert((log_n, inverse), table.clone());
        Ok(table)
    }

    /// How many times a transform of 2^log_n elements reads and writes the whole array (for
    /// reports of the memory throughput it reaches).
    pub fn ntt_array_passes(&self, log_n: u32, transform: Transform) -> usize {
        ntt_array_passes(log_n, transform, self.ntt_tiles)
    }

    /// Runs a transform on device-resident values (queued; see [`Self::synchronize`]).
    pub fn transform(&self, values: &mut DeviceScalars, transform: Transform) -> Result<(), Error> {
        let log_n = log_size(values.len)?;
        let n = values.len as u64;
        let device = &self.device;
        let k = &device.kernels;
        let data = &mut values.words;
        let inverse = matches!(transform, Transform::Inverse);
        let passes = ntt_passes(log_n, self.ntt_tiles);
        let in_first_pass = factors_in_first_pass(&passes);
        let n_inv = if inverse { Some(self.constants(&[Fr::from(n).invert().unwrap()])?) } else { None };
        let (coset_powers, coset_bits) = match transform {
            Transform::Coset(shift) if in_first_pass => {
                let (table, h) = coset_power_tables(shift, log_n);
                (Some(self.constants(&table)?), h)
            }
            Transform::Coset(shift) => {
                let shift = self.constants(&[shift])?;
                let mut launch = device.launch(&k.scale_by_powers);
                launch.arg(&mut *data).arg(&n).arg(&shift);
                unsafe { launch.run(grid(n.div_ceil(16)), "coset shift") }?;
                (None, 0u32)
            }
            _ => (None, 0),
        };
        let null = 0u64; // a null `const u32 *`
        if log_n > 0 {
            let twiddles = self.twiddles(log_n, inverse)?;
            let last_pass = passes.len() - 1;
            for (i, pass) in passes.into_iter().enumerate() {
                // The last pass stores canonical values; those before it leave them in [0, 2p).
                let last = (i == last_pass) as u32;
                match pass {
                    NttPass::BitReverseRegisters { radix } => {
                        let mut launch = device.launch(&k.ntt_bit_reverse_pass[radix as usize - 1]);
                        launch.arg(&mut *data).arg(twiddles.as_ref()).arg(&log_n);
                        match &n_inv {
                            Some(factor) => launch.arg(factor),
                            None => launch.arg(&null),
                        };
                        match &coset_powers {
                            Some(table) => launch.arg(table),
                            None => launch.arg(&null),
                        };
                        launch.arg(&coset_bits).arg(&last);
                        let threads = ntt_first_pass_blocks(log_n, radix) * NTT_FIRST_PASS_THREADS as u64;
                        unsafe { launch.run(grid_of_blocks(threads, NTT_FIRST_PASS_THREADS), "butterflies") }?;
                    }
                    NttPass::BitReverseTiles => {
                        let mut launch = device.launch(&k.bit_reverse_tiles);
                        launch.arg(&mut *data).arg(&log_n);
                        // One thread per element, a block per pair of tiles.
                        unsafe { launch.run(grid_of_blocks(n, 1 << (2 * BIT_REVERSE_TILE_BITS)), "bit reversal") }?;
                    }
                    NttPass::Registers { s, radix } => {
                        let mut launch = device.launch(&k.ntt_pass[radix as usize - 1]);
                        launch.arg(&mut *data).arg(twiddles.as_ref()).arg(&log_n).arg(&s).arg(&last);
                        unsafe { launch.run(grid(n >> radix), "butterflies") }?;
                    }
                    NttPass::Tile { s, k: stages } => {
                        let mut launch = device.launch(&k.ntt_tile);
                        launch.arg(&mut *data).arg(twiddles.as_ref()).arg(&log_n).arg(&s).arg(&stages).arg(&last);
                        let tiles = n >> NTT_TILE_LOG;
                        unsafe { launch.run(grid_of_blocks(tiles * NTT_TILE_THREADS as u64, NTT_TILE_THREADS), "butterflies") }?;
                    }
                }
            }
        }
        if let (Some(n_inv), false) = (&n_inv, in_first_pass) {
            let mut launch = device.launch(&k.scale);
            launch.arg(&mut *data).arg(&n).arg(n_inv);
            unsafe { launch.run(grid(n), "scaling") }?;
        }
        Ok(())
    }
}

impl NttBackend for CudaBackend {
    fn describe(&self) -> String {
        format!("cuda {}", self.device.name)
    }

    fn run(&self, values: &mut [Fr], transform: Transform) -> Result<(), Error> {
        log_size(values.len())?;
        let mut device = self.upload(values)?;
        self.transform(&mut device, transform)?;
        self.download(&device, values)
    }
}

/// Work buffers of one MSM size, kept between calls.
struct Scratch {
    n: usize,
    counts: CudaSlice<u32>,
    offsets: CudaSlice<u32>,
    /// Each nonzero digit's rank in its bucket, window-major (`msm_digits`).
    ranks: CudaSlice<u32>,
    totals: CudaSlice<u32>,
    entries: CudaSlice<u64>,
    first: CudaSlice<u32>,
    last: CudaSlice<u32>,
    buckets: CudaSlice<u32>,
    /// The pairs of the reduction levels (`pippenger::ReductionLevel`).
    levels: CudaSlice<u32>,
}

/// Bases resident on the GPU with their window tables, and the work buffers of the last MSM
/// size.
pub struct CudaBases {
    backend: CudaBackend,
    /// `tables.count` tables of `len` affine points, table 0 the bases.
    points: CudaSlice<u32>,
    tables: BaseTables,
    len: usize,
    scratch: Mutex<Option<Scratch>>,
}

/// The share of the device's free memory that window tables may take when bases are loaded.
const TABLE_MEMORY_SHARE: u64 = 4;

impl MsmBackend for CudaBackend {
    fn describe(&self) -> String {
        NttBackend::describe(self)
    }

    fn load_bases(&self, bases: &[G1Affine]) -> Result<Box<dyn ResidentBases>, Error> {
        Ok(Box::new(self.load_resident(bases)?))
    }
}

impl CudaBackend {
    /// Uploads `bases` (as [`MsmBackend::load_bases`]) and makes their window tables
    /// (`pippenger::base_tables`, in at most a quarter of the device's free memory), keeping the
    /// CUDA type for [`CudaBases::msm_resident`].
    pub fn load_resident(&self, bases: &[G1Affine]) -> Result<CudaBases, Error> {
        // Entries keep a point's index in 31 bits.
        if bases.len() >= 1 << 31 {
            return Err(Error::InvalidInput(format!("{} bases exceed the 2^31 the MSM kernels index", bases.len())));
        }
        let stream = &self.device.stream;
        let (free, _) = stream.context().mem_get_info().map_err(device_error("free memory"))?;
        let tables = base_tables(bases.len(), free as u64 / TABLE_MEMORY_SHARE, u64::MAX)?;
        let len = bases.len();
        let base_words = base_words(bases);
        let table_words = base_words.len().max(1);
        let (tables, mut points) = match stream.alloc_zeros::<u32>(table_words * tables.count as usize) {
            Ok(points) => (tables, points),
            // The free memory was counted before this allocation; another may have taken it.
            Err(_) if tables.count > 1 => (BaseTables::NONE, stream.alloc_zeros::<u32>(table_words).map_err(device_error("allocating bases"))?),
            Err(e) => return Err(device_error("allocating bases")(e)),
        };
        // The tables, poisoned in the tests until msm_table writes them (see `scratch`).
        #[cfg(test)]
        if tables.count > 1 {
            let poison = vec![0xa5a5a5a5u32; table_words * (tables.count as usize - 1)];
            stream.memcpy_htod(&poison, &mut points.slice_mut(table_words..)).map_err(device_error("poisoning the tables"))?;
        }
        if len > 0 {
            stream.memcpy_htod(&base_words, &mut points.slice_mut(..table_words)).map_err(device_error("uploading bases"))?;
        }
        let len64 = len as u64;
        for j in 1..tables.count {
            let mut launch = self.device.launch(&self.device.kernels.msm_table);
            launch.arg(&mut points).arg(&len64).arg(&tables.bits).arg(&j);
            unsafe { launch.run(grid(len64.div_ceil(TABLE_BATCH as u64)), "window tables") }?;
        }
        stream.synchronize().map_err(device_error("window tables"))?;
        Ok(CudaBases { backend: self.clone(), points, tables, len, scratch: Mutex::new(None) })
    }
}

impl CudaBases {
    /// The window tables made for these bases (one: the bases alone).
    pub fn tables(&self) -> BaseTables {
        self.tables
    }

    /// How an MSM of `n` scalars over these bases runs: its window width, windows, tables and
    /// bucket groups.
    pub fn plan(&self, n: usize) -> Result<MsmPlan, Error> {
        msm_plan(n, self.tables, u64::MAX)
    }

    fn scratch(&self, n: usize, plan: &MsmPlan) -> Result<Scratch, Error> {
        let stream = &self.backend.device.stream;
        // The tests fill the scratch with 0xa5 bytes (zeros read as the identity point and would
        // hide a read of something no kernel wrote); `counts` is cleared before each MSM and
        // everything else is written before it is read.
        #[cfg(not(test))]
        fn alloc<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(stream: &Arc<CudaStream>, len: usize) -> Result<CudaSlice<T>, Error> {
            stream.alloc_zeros::<T>(len.max(1)).map_err(device_error("alloc"))
        }
        #[cfg(test)]
        fn alloc<T: cudarc::driver::DeviceRepr + bytemuck::Pod>(stream: &Arc<CudaStream>, len: usize) -> Result<CudaSlice<T>, Error> {
            let mut fill = vec![T::zeroed(); len.max(1)];
            bytemuck::cast_slice_mut::<T, u8>(&mut fill).fill(0xa5);
            stream.clone_htod(&fill).map_err(device_error("alloc"))
        }
        let buckets = plan.buckets() as usize;
        let entries = n * plan.windows as usize;
        let chunks = (entries as u64).div_ceil(CHUNK) as usize;
        let (_, level_points) = reduction_levels(plan.c, plan.groups);
        Ok(Scratch {
            n,
            counts: alloc(stream, buckets)?,
            offsets: alloc(stream, buckets)?,
            ranks: alloc(stream, entries)?,
            totals: alloc(stream, buckets.div_ceil(SCAN_BLOCK as usize) + 1)?,
            entries: alloc(stream, entries)?,
            first: alloc(stream, chunks * XYZZ_WORDS)?,
            last: alloc(stream, chunks * XYZZ_WORDS)?,
            buckets: alloc(stream, buckets * XYZZ_WORDS)?,
            levels: alloc(stream, level_points as usize * XYZZ_WORDS)?,
        })
    }

    /// `Σ scalars[i]·bases[i]` for scalars already on the device.
    pub fn msm_resident(&self, scalars: &DeviceScalars) -> Result<G1, Error> {
        let n = scalars.len;
        if n > self.len {
            return Err(Error::InvalidInput(format!("{n} scalars for {} resident bases", self.len)));
        }
        if n == 0 {
            return Ok(G1::identity());
        }
        let plan = self.plan(n)?;
        let (c, w, groups, tables) = (plan.c, plan.windows, plan.groups, plan.tables);
        let table_len = self.len as u64;
        let n_buckets = plan.buckets();
        let mut guard = self.scratch.lock().map_err(|_| Error::Device("MSM scratch poisoned".into()))?;
        if !matches!(guard.as_ref(), Some(s) if s.n == n) {
            *guard = None; // free the old buffers before allocating new ones
            *guard = Some(self.scratch(n, &plan)?);
        }
        let s = guard.as_mut().unwrap();
        let device = &self.backend.device;
        let (stream, k) = (&device.stream, &device.kernels);
        let n64 = n as u64;
        let err = device_error("msm");

        stream.memset_zeros(&mut s.counts).map_err(&err)?;
        let (count, write) = (0u32, 1u32);
        let mut launch = device.launch(&k.msm_digits);
        launch.arg(&scalars.words).arg(&n64).arg(&c).arg(&w).arg(&tables).arg(&table_len);
        launch.arg(&mut s.counts).arg(&s.offsets).arg(&mut s.ranks).arg(&mut s.entries).arg(&count);
        unsafe { launch.run(grid(n64), "msm") }?;

        let scan_blocks = n_buckets.div_ceil(SCAN_BLOCK);
        let mut launch = device.launch(&k.scan_blocks);
        launch.arg(&s.counts).arg(&mut s.offsets).arg(&mut s.totals).arg(&n_buckets);
        let cfg = LaunchConfig { grid_dim: (scan_blocks, 1, 1), block_dim: (SCAN_THREADS, 1, 1), shared_mem_bytes: 0 };
        unsafe { launch.run(cfg, "msm") }?;
        let mut launch = device.launch(&k.scan_totals);
        launch.arg(&mut s.totals).arg(&scan_blocks);
        let one_block = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (SCAN_THREADS, 1, 1), shared_mem_bytes: 0 };
        unsafe { launch.run(one_block, "msm") }?;
        let mut launch = device.launch(&k.scan_add);
        launch.arg(&mut s.offsets).arg(&s.totals).arg(&n_buckets);
        unsafe { launch.run(grid(n_buckets as u64), "msm") }?;

        let mut launch = device.launch(&k.msm_digits);
        launch.arg(&scalars.words).arg(&n64).arg(&c).arg(&w).arg(&tables).arg(&table_len);
        launch.arg(&mut s.counts).arg(&s.offsets).arg(&mut s.ranks).arg(&mut s.entries).arg(&write);
        unsafe { launch.run(grid(n64), "msm") }?;

        let total = s.totals.slice(scan_blocks as usize..);
        let chunks = (n64 * w as u64).div_ceil(CHUNK);
        let mut launch = device.launch(&k.msm_accumulate);
        launch
            .arg(&s.entries)
            .arg(&total)
            .arg(&s.offsets)
            .arg(&s.counts)
            .arg(&self.points)
            .arg(&mut s.buckets)
            .arg(&mut s.first)
            .arg(&mut s.last);
        unsafe { launch.run(grid_of_blocks(chunks, ACCUMULATE_BLOCK), "msm") }?;
        let mut launch = device.launch(&k.msm_join);
        launch.arg(&s.offsets).arg(&s.counts).arg(&n_buckets).arg(&s.first).arg(&s.last).arg(&mut s.buckets);
        unsafe { launch.run(grid(n_buckets as u64), "msm") }?;

        let (levels, _) = reduction_levels(c, groups);
        for level in &levels {
            let mut launch = device.launch(&k.msm_reduce_level);
            let (reads_buckets, input_at, output_at) = (level.reads_buckets as u32, level.input_at as u64, level.output_at as u64);
            launch.arg(&s.buckets).arg(&s.counts).arg(&mut s.levels).arg(&reads_buckets);
            launch.arg(&level.inputs).arg(&level.segment_len).arg(&groups).arg(&input_at).arg(&output_at);
            unsafe { launch.run(grid((groups * level.segments()) as u64), "msm") }?;
        }
        let mut sums = vec![0u32; groups as usize * XYZZ_WORDS];
        let sums_at = levels.last().unwrap().output_at as usize * XYZZ_WORDS;
        stream.memcpy_dtoh(&s.levels.slice(sums_at..sums_at + sums.len()), &mut sums).map_err(&err)?;
        stream.synchronize().map_err(&err)?;
        drop(guard);
        combine_groups(&sums, &plan)
    }
}

impl ResidentBases for CudaBases {
    fn len(&self) -> usize {
        self.len
    }

    fn msm(&self, scalars: &[Fr]) -> Result<G1, Error> {
        if scalars.len() > self.len {
            return Err(Error::InvalidInput(format!("{} scalars for {} resident bases", scalars.len(), self.len)));
        }
        let device = self.backend.upload(scalars)?;
        self.msm_resident(&device)
    }
}
