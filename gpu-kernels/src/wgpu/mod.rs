//! The wgpu backend: WGSL kernels on any Vulkan, Metal or DX12 device, including Mesa's
//! lavapipe on machines without a GPU (that is how CI tests it). See `README.md` beside them.
//!
//! Field elements cross the bus as halo2curves stores them (Montgomery form, 8 little-endian
//! `u32` limbs; see `layout.rs`), so nothing is converted on the host. The sources are
//! assembled at run time: `arith.wgsl` and the integer operations (`int_u64.wgsl` where the
//! device has 64-bit integers, else `int_u32.wgsl`), then `field.wgsl` with its product
//! (`field_mul_u64.wgsl` or `field_mul_u32.wgsl`) instantiated for Fr (and Fq for the MSM) after
//! constants derived from halo2curves, then `curve.wgsl` and the kernels.
//!
//! - NTT (`ntt.wgsl`): iterative radix-2, the butterfly stages up to three per pass in
//!   registers, the first pass reading in bit-reversed order (as the CUDA kernels); twiddles
//!   resident per size, sizes up to 2^26;
//! - MSM (`msm.wgsl`, [`WgpuBases`]): the bucket method of the CUDA backend, pass for pass.
//! - copies between host and device (`staging.rs`): through staging buffers kept for the
//!   device's lifetime, in chunks, the host and the device working on alternate ones.

mod msm;
mod staging;
mod unroll;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use halo2curves::bn256::{Fq, Fr};
use halo2curves::ff::PrimeField;
use halo2curves::serde::SerdeObject;
use wgpu::util::DeviceExt;

pub use msm::WgpuBases;

use crate::backend::{coset_power_tables, factors_in_first_pass, log_size, ntt_array_passes, ntt_first_pass_blocks, ntt_passes, ntt_tiles_requested, powers, root_of_unity, KernelTime, NttBackend, NttPass, Transform, TwiddleTables, BIT_REVERSE_TILE_BITS, NTT_FIRST_PASS_THREADS, NTT_TILE_LOG, NTT_TILE_THREADS};
use crate::layout::{check_layout, montgomery_constants, words, words_mut};
use crate::pippenger::{CHUNK, SCAN_ITEMS, SCAN_THREADS, TABLE_BATCH};
use crate::Error;
use staging::{Staging, STAGING_BYTES};

const ARITH_WGSL: &str = include_str!("arith.wgsl");
const INT_U32_WGSL: &str = include_str!("int_u32.wgsl");
const INT_U64_WGSL: &str = include_str!("int_u64.wgsl");
const FIELD_WGSL: &str = include_str!("field.wgsl");
const FIELD_MUL_U32_WGSL: &str = include_str!("field_mul_u32.wgsl");
const FIELD_MUL_U64_WGSL: &str = include_str!("field_mul_u64.wgsl");
const CURVE_WGSL: &str = include_str!("curve.wgsl");
const NTT_WGSL: &str = include_str!("ntt.wgsl");
const MSM_WGSL: &str = include_str!("msm.wgsl");
/// Threads per workgroup of the element-wise kernels (`WG` in arith.wgsl).
const WORKGROUP: u32 = 64;
/// The largest upload that goes through wgpu's own staging (made per call, but queued without
/// waiting for a staging buffer to come free): the factors and small tables of a transform.
const QUEUED_UPLOAD_BYTES: u64 = STAGING_BYTES / 8;

/// field.wgsl for one field, with the product for devices with 64-bit integers or without: its
/// constants, then the template with `FIELD` → `ty` and `field_` → `prefix`.
fn field_wgsl<F: PrimeField + SerdeObject>(ty: &str, prefix: &str, int64: bool) -> String {
    let k = montgomery_constants::<F>();
    let limbs = |l: &[u32; 8]| l.iter().map(|w| format!("{w:#010x}u")).collect::<Vec<_>>().join(", ");
    let constants = format!(
        "const field_modulus: FIELD = FIELD(array<u32, 8>({}));\nconst field_modulus2: FIELD = FIELD(array<u32, 8>({}));\n\
         const field_inv: u32 = {:#010x}u;\nconst field_one: FIELD = FIELD(array<u32, 8>({}));\n",
        limbs(&k.modulus),
        limbs(&k.twice_modulus),
        k.inv,
        limbs(&k.one)
    );
    // The struct must precede the constants of its type.
    let (head, body) = FIELD_WGSL.split_at(FIELD_WGSL.find("struct FIELD").expect("field.wgsl declares FIELD"));
    let (decl, rest) = body.split_at(body.find('\n').unwrap() + 1);
    let mul = if int64 { FIELD_MUL_U64_WGSL } else { FIELD_MUL_U32_WGSL };
    format!("{head}{decl}{constants}{rest}{mul}").replace("FIELD", ty).replace("field_", prefix)
}

/// The helpers every module starts with: the thread index and the integer operations of the
/// field arithmetic, with 64-bit integers where the device has them.
fn arith_wgsl(int64: bool) -> String {
    format!("{ARITH_WGSL}{}", if int64 { INT_U64_WGSL } else { INT_U32_WGSL })
}

/// The NTT module's source, loops unrolled.
fn ntt_source(int64: bool) -> String {
    let tile = format!(
        "const TILE_LOG: u32 = {NTT_TILE_LOG}u;\nconst TILE_THREADS: u32 = {NTT_TILE_THREADS}u;\nconst BITREV_Q: u32 = {BIT_REVERSE_TILE_BITS}u;\n"
    );
    unroll::unroll(&format!("{}{}{tile}{NTT_WGSL}", arith_wgsl(int64), field_wgsl::<Fr>("Fr", "fr_", int64)))
}

/// The MSM module's source, loops unrolled.
fn msm_source(int64: bool) -> String {
    unroll::unroll(&format!(
        "{}{}{}{CURVE_WGSL}const CHUNK: u32 = {CHUNK}u;\nconst TABLE_BATCH: u32 = {TABLE_BATCH}u;\nconst SCAN_THREADS: u32 = {SCAN_THREADS}u;\nconst SCAN_ITEMS: u32 = {SCAN_ITEMS}u;\n{MSM_WGSL}",
        arith_wgsl(int64),
        field_wgsl::<Fr>("Fr", "fr_", int64),
        field_wgsl::<Fq>("Fq", "fq_", int64)
    ))
}

/// A compiled entry point and its name (profiles report time per kernel).
struct Kernel {
    name: &'static str,
    pipeline: wgpu::ComputePipeline,
    /// Whether the kernel has the NTT kernels' shared layout ([`ntt_layout`]): its parameters
    /// bound at a dynamic offset, so that one bind group serves all passes of a transform.
    shared_layout: bool,
}

/// The NTT kernels' bindings (ntt.wgsl), shared by all of them: the parameters (8 words, at a
/// dynamic offset), the two halves of the values, the twiddles and the factors.
fn ntt_layout(device: &wgpu::Device) -> wgpu::PipelineLayout {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    };
    let params = wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, has_dynamic_offset: true, min_binding_size: std::num::NonZeroU64::new(32) },
        count: None,
    };
    let entries = [params, storage(1, false), storage(2, false), storage(3, true), storage(4, true)];
    let group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some("ntt"), entries: &entries });
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some("ntt"), bind_group_layouts: &[Some(&group)], immediate_size: 0 })
}

/// Compiles `source` and one pipeline per entry point; shader and pipeline errors are returned
/// instead of wgpu's default panic. Each pipeline has `layout`, or else derives its bind group
/// layout from the bindings its kernel uses.
///
/// The pipelines are created on threads of their own: each is a translation to the platform's
/// shader language and a driver compile of the unrolled code, which take seconds for the MSM's
/// curve kernels the first time a driver sees them, and which run side by side.
fn compile<const N: usize>(
    device: &wgpu::Device,
    label: &str,
    source: String,
    entries: [&'static str; N],
    layout: Option<&wgpu::PipelineLayout>,
) -> Result<[Kernel; N], String> {
    // Error scopes are per thread: one here for the module, one in each thread for its pipeline.
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(source.into()) });
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(e.to_string());
    }
    let create = |entry: &'static str| -> Result<Kernel, String> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        match pollster::block_on(scope.pop()) {
            Some(e) => Err(format!("{entry}: {e}")),
            None => Ok(Kernel { name: entry, shared_layout: layout.is_some(), pipeline }),
        }
    };
    let created: Vec<Result<Kernel, String>> = std::thread::scope(|threads| {
        let handles: Vec<_> = entries.iter().map(|&entry| threads.spawn(move || create(entry))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a pipeline's compilation panicked".into()))).collect()
    });
    let kernels = created.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(kernels.try_into().unwrap_or_else(|_| unreachable!("one kernel an entry point")))
}

/// The kernels of ntt.wgsl.
struct NttKernels {
    bit_reverse_pass: Kernel,
    butterfly_pass: Kernel,
    scale: Kernel,
    scale_by: Kernel,
}

/// The tiled kernels of ntt.wgsl (`ZKML_NTT_TILES`).
struct NttTileKernels {
    pass: Kernel,
    bit_reverse: Kernel,
}

/// The kernels of msm.wgsl.
struct MsmKernels {
    table: Kernel,
    digits: Kernel,
    scan_blocks: Kernel,
    scan_totals: Kernel,
    scan_add: Kernel,
    accumulate: Kernel,
    join: Kernel,
    reduce_level: Kernel,
}

/// An opened device with its compiled kernels.
struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: wgpu::AdapterInfo,
    ntt: NttKernels,
    /// The NTT kernels' pipeline layout ([`ntt_layout`]), for the tiled ones compiled later.
    ntt_layout: wgpu::PipelineLayout,
    /// A buffer for the bindings of a layout that a transform leaves unused.
    unused: wgpu::Buffer,
    /// Compiled on first use: they take seconds to compile on lavapipe.
    msm: OnceLock<Result<MsmKernels, String>>,
    /// The tiled NTT kernels, compiled on first use (they need 32 KiB of workgroup memory).
    ntt_tiles: OnceLock<Result<NttTileKernels, String>>,
    /// The largest buffer a kernel may bind, in bytes.
    max_bytes: u64,
    /// Whether the kernels use 64-bit integers (SHADER_INT64).
    int64: bool,
    /// Twiddle tables by (log n, inverse), resident once made.
    twiddles: TwiddleTables<wgpu::Buffer>,
    /// Time per kernel while a profile runs.
    profile: Mutex<Option<Vec<KernelTime>>>,
    /// Staging buffers for the large copies between host and device.
    staging: Staging,
}

/// NTT and MSM on a GPU (or lavapipe) through wgpu.
#[derive(Clone)]
pub struct WgpuBackend {
    gpu: Arc<Gpu>,
    /// Whether transforms run in tiled passes (`ZKML_NTT_TILES`, [`Self::with_ntt_tiles`]).
    ntt_tiles: bool,
}

/// Field elements resident on a wgpu device: elements `[0, split)` in `low`, the rest in `high`
/// (see [`WgpuBackend::upload`]).
pub struct WgpuValues {
    low: wgpu::Buffer,
    high: wgpu::Buffer,
    len: usize,
    split: usize,
}

impl WgpuValues {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `u32` words in `low` and in `high`.
    fn words(&self) -> (u64, u64) {
        let low = self.split.min(self.len);
        (low as u64 * 8, (self.len - low) as u64 * 8)
    }
}

/// Environment variable that picks the wgpu adapter by name: the first whose name contains it,
/// ignoring case (e.g. `4090` or `llvmpipe`), on machines with several; by default the
/// highest-performance one.
pub const ADAPTER_ENV: &str = "ZKML_WGPU_ADAPTER";

/// The adapter named by `ZKML_WGPU_ADAPTER`, else the highest-performance one wgpu finds
/// (`WGPU_BACKEND` and related environment variables are honoured).
fn high_performance_adapter() -> Result<wgpu::Adapter, Error> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    if let Some(wanted) = std::env::var(ADAPTER_ENV).ok().filter(|w| !w.is_empty()) {
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        let listed: Vec<String> = infos.iter().map(|info| format!("{} ({:?})", info.name, info.backend)).collect();
        let listed = if listed.is_empty() { "none".to_string() } else { listed.join(", ") };
        return adapters
            .into_iter()
            .zip(&infos)
            .find(|(_, info)| info.name.to_lowercase().contains(&wanted.to_lowercase()))
            .map(|(adapter, _)| adapter)
            .ok_or_else(|| Error::Unavailable {
                backend: "wgpu",
                reason: format!("no adapter's name contains {ADAPTER_ENV}={wanted:?} (adapters: {listed})"),
            });
    }
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }))
    .map_err(|e| Error::Unavailable { backend: "wgpu", reason: format!("no adapter ({e})") })
}

/// Whether this machine may have a GPU at all. On Linux a GPU shows up as a device node (a DRM
/// render node, NVIDIA's own `/dev/nvidiaN`, or WSL's `/dev/dxg`); without one there is no need
/// to start Vulkan, whose implicit layers (Mesa's device selection) print errors on a headless
/// machine.
fn may_have_gpu() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let has_entry = |dir: &str, matches: &dyn Fn(&str) -> bool| {
        std::fs::read_dir(dir).map(|entries| entries.flatten().any(|e| matches(&e.file_name().to_string_lossy()))).unwrap_or(false)
    };
    std::path::Path::new("/dev/dxg").exists()
        || has_entry("/dev/dri", &|name| name.starts_with("renderD"))
        || has_entry("/dev", &|name| name.strip_prefix("nvidia").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
}

/// One kernel launch: its uniform parameters and its storage buffers by binding number
/// (binding 0 is the parameters).
struct Dispatch<'a> {
    kernel: &'a Kernel,
    params: Vec<u32>,
    buffers: Vec<(u32, &'a wgpu::Buffer)>,
    /// Threads to launch, in workgroups of `workgroup` threads (the last one partly idle).
    threads: u64,
    workgroup: u32,
}

impl WgpuBackend {
    /// Opens the adapter named by [`ADAPTER_ENV`], else the highest-performance one wgpu finds
    /// (`WGPU_BACKEND` and related environment variables are honoured), and compiles the NTT
    /// kernels (the MSM kernels are compiled on first use). Field products use 64-bit integers
    /// where the device has them.
    pub fn new() -> Result<Self, Error> {
        Self::open(true)
    }

    /// As [`Self::new`], but with the portable kernels (32-bit integers only) even where the
    /// device has 64-bit integers: for devices whose 64-bit support is slow or broken, and to
    /// test the portable kernels.
    pub fn portable() -> Result<Self, Error> {
        Self::open(false)
    }

    /// The name of the adapter [`Self::new`] would open if it is a discrete GPU, `None` if it is
    /// an integrated, virtual or software one (such as Mesa's lavapipe) or there is none. Asks
    /// the driver only where the machine has a GPU device node, and compiles nothing: `auto` uses
    /// it to decide whether wgpu is worth opening.
    pub fn discrete_gpu() -> Option<String> {
        if !may_have_gpu() {
            return None;
        }
        let info = high_performance_adapter().ok()?.get_info();
        (info.device_type == wgpu::DeviceType::DiscreteGpu).then_some(info.name)
    }

    fn open(allow_int64: bool) -> Result<Self, Error> {
        let unavailable = |reason: String| Error::Unavailable { backend: "wgpu", reason };
        check_layout("wgpu")?;
        let adapter = high_performance_adapter()?;
        let limits = adapter.limits();
        let int64 = allow_int64 && adapter.features().contains(wgpu::Features::SHADER_INT64);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("zkml"),
            required_features: if int64 { wgpu::Features::SHADER_INT64 } else { wgpu::Features::empty() },
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("cannot open the device ({e})")))?;
        let ntt_layout = ntt_layout(&device);
        let names = ["bit_reverse_pass", "butterfly_pass", "scale", "scale_by"];
        let [bit_reverse_pass, butterfly_pass, scale, scale_by] = compile(&device, "ntt", ntt_source(int64), names, Some(&ntt_layout))
            .map_err(|e| unavailable(format!("the NTT kernels do not compile on this device: {e}")))?;
        // Bound where an NTT kernel's layout has a binding its transform does not use.
        let unused = device.create_buffer(&wgpu::BufferDescriptor { label: Some("unused"), size: 32, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
        let ntt = NttKernels { bit_reverse_pass, butterfly_pass, scale, scale_by };
        let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let gpu = Gpu {
            device,
            queue,
            adapter: adapter.get_info(),
            ntt,
            ntt_layout,
            unused,
            msm: OnceLock::new(),
            ntt_tiles: OnceLock::new(),
            max_bytes,
            int64,
            twiddles: Mutex::new(HashMap::new()),
            profile: Mutex::new(None),
            staging: Staging::new(),
        };
        Ok(Self { gpu: Arc::new(gpu), ntt_tiles: ntt_tiles_requested() })
    }

    /// The same device with the NTT in tiled passes (workgroup memory, 2^10 elements a
    /// workgroup) or in radix-8 passes (the default, unless `ZKML_NTT_TILES=1`).
    pub fn with_ntt_tiles(mut self, tiles: bool) -> Self {
        self.ntt_tiles = tiles;
        self
    }

    /// The tiled NTT kernels, compiled the first time they are needed; an error where the device
    /// has too little workgroup memory or too small workgroups for them.
    fn ntt_tiles_kernels(&self) -> Result<&NttTileKernels, Error> {
        let compiled = self.gpu.ntt_tiles.get_or_init(|| {
            let limits = self.gpu.device.limits();
            let bytes = 32 << NTT_TILE_LOG;
            let threads = NTT_TILE_THREADS.max(1 << (2 * BIT_REVERSE_TILE_BITS));
            if limits.max_compute_workgroup_storage_size < bytes || limits.max_compute_invocations_per_workgroup < threads {
                return Err(format!(
                    "the tiled NTT needs {bytes} bytes of workgroup memory and {threads} threads a workgroup; the device offers {} and {}",
                    limits.max_compute_workgroup_storage_size, limits.max_compute_invocations_per_workgroup
                ));
            }
            let [pass, bit_reverse] =
                compile(&self.gpu.device, "ntt tiles", ntt_source(self.gpu.int64), ["tile_pass", "bit_reverse_tiles"], Some(&self.gpu.ntt_layout))?;
            Ok(NttTileKernels { pass, bit_reverse })
        });
        compiled.as_ref().map_err(|e| Error::Unavailable { backend: "wgpu", reason: e.clone() })
    }

    /// The MSM kernels, compiled the first time they are needed.
    fn msm_kernels(&self) -> Result<&MsmKernels, Error> {
        let compiled = self.gpu.msm.get_or_init(|| {
            let entries = ["msm_table", "msm_digits", "scan_blocks", "scan_totals", "scan_add", "msm_accumulate", "msm_join", "msm_reduce_level"];
            let [table, digits, scan_blocks, scan_totals, scan_add, accumulate, join, reduce_level] =
                compile(&self.gpu.device, "msm", msm_source(self.gpu.int64), entries, None)?;
            Ok(MsmKernels { table, digits, scan_blocks, scan_totals, scan_add, accumulate, join, reduce_level })
        });
        compiled.as_ref().map_err(|e| Error::Unavailable { backend: "wgpu", reason: format!("the MSM kernels do not compile on this device: {e}") })
    }

    /// A zeroed storage buffer of `words` `u32`s (at least 8, one field element: kernels bind
    /// elements as arrays of 16-byte words), or an error when the device cannot bind one that
    /// large.
    fn buffer(&self, label: &str, words: u64) -> Result<wgpu::Buffer, Error> {
        let size = self.check_size(label, words)?;
        Ok(self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `contents` (8 zero words when it is empty, as [`Self::buffer`]).
    /// Up to [`QUEUED_UPLOAD_BYTES`] the data goes through wgpu's own staging, without a wait;
    /// more goes through the device's staging buffers ([`Staging`]).
    fn buffer_with(&self, label: &str, contents: &[u32]) -> Result<wgpu::Buffer, Error> {
        let bytes: &[u8] = bytemuck::cast_slice(contents);
        if bytes.len() as u64 > QUEUED_UPLOAD_BYTES {
            let buffer = self.buffer(label, contents.len() as u64)?;
            self.write(&buffer, 0, bytes)?;
            return Ok(buffer);
        }
        self.check_size(label, contents.len() as u64)?;
        Ok(self.gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if bytes.is_empty() { bytemuck::cast_slice(&[0u32; 8]) } else { bytes },
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        }))
    }

    /// Copies `bytes` into `buffer` from byte `offset` on, through the staging buffers; later
    /// submissions see them.
    fn write(&self, buffer: &wgpu::Buffer, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        self.gpu.staging.upload(&self.gpu.device, &self.gpu.queue, buffer, offset, bytes)
    }

    fn check_size(&self, label: &str, words: u64) -> Result<u64, Error> {
        let bytes = words.max(8) * 4;
        if bytes > self.gpu.max_bytes {
            return Err(Error::InvalidInput(format!(
                "the {label} buffer would take {bytes} bytes, more than the device's largest binding ({} bytes)",
                self.gpu.max_bytes
            )));
        }
        Ok(bytes)
    }

    /// Records `dispatches` in order: all in one compute pass (WebGPU makes each dispatch its
    /// own usage scope, so wgpu orders their reads and writes), their parameters in one uniform
    /// buffer. While a profile runs, each dispatch is instead submitted, waited for and timed on
    /// its own.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, dispatches: &[Dispatch<'_>]) {
        let device = &self.gpu.device;
        let limits = device.limits();
        let max_groups = limits.max_compute_workgroups_per_dimension;
        // Each dispatch's parameters at an offset the device can bind.
        let stride = dispatches.iter().map(|d| d.params.len() * 4).max().unwrap_or(0).next_multiple_of(limits.min_uniform_buffer_offset_alignment as usize);
        let mut contents = vec![0u8; stride * dispatches.len()];
        for (chunk, d) in contents.chunks_mut(stride.max(1)).zip(dispatches) {
            chunk[..d.params.len() * 4].copy_from_slice(bytemuck::cast_slice(&d.params));
        }
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: if contents.is_empty() { &[0; 4] } else { &contents },
            usage: wgpu::BufferUsages::UNIFORM,
        });
        // A bind group per dispatch, except that kernels of a shared layout reuse one for the
        // same buffers, their parameters at a dynamic offset.
        let mut shared: Vec<(&[(u32, &wgpu::Buffer)], usize)> = Vec::new();
        let mut binds: Vec<wgpu::BindGroup> = Vec::new();
        let mut bound: Vec<(usize, Option<u32>)> = Vec::new();
        for (i, d) in dispatches.iter().enumerate() {
            let offset = (i * stride) as u64;
            if d.kernel.shared_layout {
                if let Some(&(_, at)) = shared.iter().find(|(buffers, _)| *buffers == d.buffers.as_slice()) {
                    bound.push((at, Some(offset as u32)));
                    continue;
                }
                shared.push((&d.buffers, binds.len()));
            }
            let (at, dynamic) = if d.kernel.shared_layout { (0, Some(offset as u32)) } else { (offset, None) };
            let own_params = wgpu::BufferBinding { buffer: &params, offset: at, size: std::num::NonZeroU64::new(d.params.len() as u64 * 4) };
            let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(own_params) }];
            entries.extend(d.buffers.iter().map(|(binding, buffer)| wgpu::BindGroupEntry { binding: *binding, resource: buffer.as_entire_binding() }));
            let layout = d.kernel.pipeline.get_bind_group_layout(0);
            bound.push((binds.len(), dynamic));
            binds.push(device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &layout, entries: &entries }));
        }
        let dispatch = |pass: &mut wgpu::ComputePass<'_>, d: &Dispatch<'_>, (bind, dynamic): (usize, Option<u32>)| {
            let groups = d.threads.div_ceil(d.workgroup as u64).max(1) as u32;
            let x = groups.min(max_groups);
            pass.set_pipeline(&d.kernel.pipeline);
            pass.set_bind_group(0, &binds[bind], dynamic.as_slice());
            pass.dispatch_workgroups(x, groups.div_ceil(x), 1);
        };
        if self.gpu.profile.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (d, &bind) in dispatches.iter().zip(&bound) {
                dispatch(&mut pass, d, bind);
            }
            return;
        }
        // Profiling: run what is recorded so far, then each dispatch alone, timed from the host.
        for (d, &bind) in dispatches.iter().zip(&bound) {
            self.run_recorded(encoder);
            let start = Instant::now();
            dispatch(&mut encoder.begin_compute_pass(&Default::default()), d, bind);
            self.run_recorded(encoder);
            self.note_time(d.kernel.name, start.elapsed().as_secs_f64());
        }
    }

    /// Submits what `encoder` holds, waits for the device, and leaves a fresh encoder in its
    /// place. Only profiles use it: a device error here shows again in [`Self::finish`].
    fn run_recorded(&self, encoder: &mut wgpu::CommandEncoder) {
        let recorded = std::mem::replace(encoder, self.gpu.device.create_command_encoder(&Default::default()));
        self.gpu.queue.submit([recorded.finish()]);
        let _ = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
    }

    fn note_time(&self, kernel: &'static str, seconds: f64) {
        if let Some(times) = self.gpu.profile.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            KernelTime::tally(times, kernel, seconds);
        }
    }

    /// Runs `work` with every kernel dispatch submitted and waited for on its own, and returns
    /// its result with the time spent in each kernel, in order of first use. The waits make the
    /// whole slower than an unprofiled run: this shows where the time goes, not how long it is.
    pub fn profile<T>(&self, work: impl FnOnce() -> Result<T, Error>) -> Result<(T, Vec<KernelTime>), Error> {
        *self.gpu.profile.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
        let result = work();
        let times = self.gpu.profile.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        result.map(|t| (t, times))
    }

    /// Submits `encoder` with a copy of each `(buffer, first word, words)` region, waits, and
    /// writes the regions' words one after the other into `out` (exactly that long), through the
    /// staging buffers.
    fn finish(&self, encoder: wgpu::CommandEncoder, regions: &[(&wgpu::Buffer, u64, u64)], out: &mut [u32]) -> Result<(), Error> {
        let regions: Vec<_> = regions.iter().map(|&(buffer, first, words)| (buffer, first * 4, words * 4)).collect();
        self.gpu.staging.download(&self.gpu.device, &self.gpu.queue, encoder, &regions, bytemuck::cast_slice_mut(out))
    }

    /// Runs `work` (which records, submits and reads back) with wgpu's validation and
    /// out-of-memory errors turned into [`Error::Device`] rather than wgpu's default panic.
    fn checked<T>(&self, what: &str, work: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let device = &self.gpu.device;
        let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let errors = [pollster::block_on(validation.pop()), pollster::block_on(memory.pop())];
        match errors.into_iter().flatten().next() {
            Some(e) => Err(Error::Device(format!("{what}: {e}"))),
            None => result,
        }
    }

    /// `ω^i` for `i < n/2` (`ω^{-i}` for the inverse), made on the host the first time and kept
    /// on the device.
    fn twiddles(&self, log_n: u32, inverse: bool) -> Result<Arc<wgpu::Buffer>, Error> {
        let mut tables = self.gpu.twiddles.lock().map_err(|_| Error::Device("twiddle cache poisoned".into()))?;
        if let Some(t) = tables.get(&(log_n, inverse)) {
            return Ok(t.clone());
        }
        let omega = root_of_unity(log_n);
        let omega = if inverse { omega.invert().unwrap() } else { omega };
        let table = Arc::new(self.buffer_with("twiddles", words(&powers(omega, ((1usize << log_n) / 2).max(1))))?);
        tables.insert((log_n, inverse), table.clone());
        Ok(table)
    }

    /// Copies field elements to the device, as the NTT kernels and the MSM take them: the first
    /// `⌈len/2⌉` in one buffer, the rest in another (one binding of 2^26 elements would exceed
    /// the 2 GiB Vulkan drivers allow).
    pub fn upload(&self, values: &[Fr]) -> Result<WgpuValues, Error> {
        let split = values.len().div_ceil(2).max(1);
        self.checked("upload", || {
            let (first, second) = values.split_at(split.min(values.len()));
            Ok(WgpuValues { low: self.buffer_with("low", words(first))?, high: self.buffer_with("high", words(second))?, len: values.len(), split })
        })
    }

    /// Waits until the device has done all submitted work, uploads included.
    pub fn synchronize(&self) -> Result<(), Error> {
        self.gpu.queue.submit([]);
        self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).map(drop).map_err(|e| Error::Device(format!("waiting for the device: {e}")))
    }

    /// Copies device-resident values back into `out` (of the same length).
    pub fn download(&self, values: &WgpuValues, out: &mut [Fr]) -> Result<(), Error> {
        if out.len() != values.len {
            return Err(Error::InvalidInput(format!("{} elements on the device, {} on the host", values.len, out.len())));
        }
        let (low_words, high_words) = values.words();
        let encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.checked("download", || self.finish(encoder, &[(&values.low, 0, low_words), (&values.high, 0, high_words)], words_mut(out)))
    }

    /// How many times a transform of 2^log_n elements reads and writes the whole array (for
    /// reports of the memory throughput it reaches).
    pub fn ntt_array_passes(&self, log_n: u32, transform: Transform) -> usize {
        ntt_array_passes(log_n, transform, self.ntt_tiles)
    }

    /// Queues a transform on device-resident values (see [`Self::synchronize`]; a download
    /// waits for it). Not waiting here spares a round trip to the device when transforms follow
    /// one another.
    pub fn transform(&self, values: &mut WgpuValues, transform: Transform) -> Result<(), Error> {
        let log_n = log_size(values.len)?;
        let n = values.len as u32;
        let inverse = matches!(transform, Transform::Inverse);
        let passes = ntt_passes(log_n, self.ntt_tiles);
        let in_first_pass = factors_in_first_pass(&passes);
        // ntt.wgsl's `first_factor`: nothing, 1/n, or the coset powers.
        let first_factor = match transform {
            Transform::Inverse if in_first_pass => 1,
            Transform::Coset(_) if in_first_pass => 2,
            _ => 0,
        };
        let coset_powers = match transform {
            Transform::Coset(g) => Some(coset_power_tables(g, log_n)),
            _ => None,
        };
        let coset_bits = coset_powers.as_ref().map_or(0, |&(_, h)| h);
        // ntt.wgsl's Params; `last` for the last pass, which stores canonical values.
        let params = |half: u32, stages: u32, factor: u32, last: bool| vec![n, log_n, half, values.split as u32, coset_bits, stages, factor, last as u32];
        self.checked("ntt", || {
            let twiddles = self.twiddles(log_n, inverse)?;
            let coset = coset_powers.map(|(table, _)| self.buffer_with("coset powers", words(&table))).transpose()?;
            let n_inv = inverse.then(|| self.buffer_with("1/n", words(&[Fr::from(n as u64).invert().unwrap()]))).transpose()?;
            let k = &self.gpu.ntt;
            // Every pass binds the same buffers (the kernels share one layout), so a transform
            // takes one bind group: the factors are the coset powers, or 1/n, or none.
            let factors = coset.as_ref().or(n_inv.as_ref()).unwrap_or(&self.gpu.unused);
            let buffers = vec![(1, &values.low), (2, &values.high), (3, twiddles.as_ref()), (4, factors)];
            let pass = |kernel, params: Vec<u32>, threads: u32, workgroup: u32| Dispatch { kernel, params, buffers: buffers.clone(), threads: threads as u64, workgroup };
            let mut dispatches = Vec::new();
            if coset.is_some() && !in_first_pass {
                dispatches.push(pass(&k.scale_by, params(0, 0, 0, false), n, WORKGROUP));
            }
            for (i, &step) in passes.iter().enumerate() {
                let last = i + 1 == passes.len();
                match step {
                    NttPass::BitReverseRegisters { radix } => {
                        let threads = ntt_first_pass_blocks(log_n, radix) as u32 * NTT_FIRST_PASS_THREADS;
                        dispatches.push(pass(&k.bit_reverse_pass, params(1, radix, first_factor, last), threads, NTT_FIRST_PASS_THREADS));
                    }
                    NttPass::BitReverseTiles => {
                        let side = 1 << BIT_REVERSE_TILE_BITS;
                        dispatches.push(pass(&self.ntt_tiles_kernels()?.bit_reverse, params(0, 0, 0, last), n, side * side));
                    }
                    NttPass::Registers { s, radix } => dispatches.push(pass(&k.butterfly_pass, params(1 << s, radix, 0, last), n >> radix, WORKGROUP)),
                    NttPass::Tile { s, k: stages } => {
                        let threads = (n >> NTT_TILE_LOG) * NTT_TILE_THREADS;
                        dispatches.push(pass(&self.ntt_tiles_kernels()?.pass, params(1 << s, stages, 0, last), threads, NTT_TILE_THREADS));
                    }
                }
            }
            if n_inv.is_some() && !in_first_pass {
                dispatches.push(pass(&k.scale, params(0, 0, 0, false), n, WORKGROUP));
            }
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, &dispatches);
            self.gpu.queue.submit([encoder.finish()]);
            Ok(())
        })
    }
}

impl NttBackend for WgpuBackend {
    fn describe(&self) -> String {
        let portable = if self.gpu.int64 { "" } else { ", 32-bit integers" };
        format!("wgpu ({}, {:?}{portable})", self.gpu.adapter.name, self.gpu.adapter.backend)
    }

    fn run(&self, values: &mut [Fr], transform: Transform) -> Result<(), Error> {
        log_size(values.len())?;
        let mut on_device = self.upload(values)?;
        self.transform(&mut on_device, transform)?;
        self.download(&on_device, values)
    }
}

#[cfg(test)]
mod tests {
    /// No loop with literal bounds is left rolled in the assembled modules (one written so that
    /// `unroll` does not recognise it would quietly put its limbs back into indexed memory).
    #[test]
    fn every_literal_loop_is_unrolled() {
        for source in [super::ntt_source(true), super::ntt_source(false), super::msm_source(true)] {
            for header in source.split("for (").skip(1).map(|rest| &rest[..rest.find(')').unwrap()]) {
                let bound = header.split(';').nth(1).and_then(|cond| cond.split('<').nth(1)).unwrap_or("").trim();
                assert!(!bound.starts_with(|c: char| c.is_ascii_digit()), "loop left rolled: for ({header})");
            }
        }
    }
}
