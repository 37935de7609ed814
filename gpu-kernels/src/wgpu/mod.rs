//! The wgpu backend: WGSL kernels on any Vulkan, Metal or DX12 device, including Mesa's
//! lavapipe on machines without a GPU (that is how CI tests it). See `README.md` beside them.
//!
//! Field elements cross the bus as halo2curves stores them (Montgomery form, 8 little-endian
//! `u32` limbs; see `layout.rs`), so nothing is converted on the host. The sources are
//! assembled at run time: `arith.wgsl` and a multiply-accumulate (`mac_u64.wgsl` where the
//! device has 64-bit integers, else `mac_u32.wgsl`), then `field.wgsl` instantiated for Fr (and
//! Fq for the MSM) after constants derived from halo2curves, then `curve.wgsl` and the kernels.
//!
//! - NTT (`ntt.wgsl`): iterative radix-2, a bit-reversal pass then `log n` butterfly passes;
//! - MSM (`msm.wgsl`, [`WgpuBases`]): the bucket method of the CUDA backend, pass for pass.

mod msm;

use std::sync::{Arc, OnceLock};

use halo2curves::bn256::{Fq, Fr};
use halo2curves::ff::PrimeField;
use halo2curves::serde::SerdeObject;
use wgpu::util::DeviceExt;

pub use msm::WgpuBases;

use crate::backend::{log_size, powers, root_of_unity, NttBackend};
use crate::layout::{check_layout, montgomery_constants, words, words_mut};
use crate::pippenger::CHUNK;
use crate::Error;

const ARITH_WGSL: &str = include_str!("arith.wgsl");
const MAC_U32_WGSL: &str = include_str!("mac_u32.wgsl");
const MAC_U64_WGSL: &str = include_str!("mac_u64.wgsl");
const FIELD_WGSL: &str = include_str!("field.wgsl");
const CURVE_WGSL: &str = include_str!("curve.wgsl");
const NTT_WGSL: &str = include_str!("ntt.wgsl");
const MSM_WGSL: &str = include_str!("msm.wgsl");
/// Threads per workgroup of the element-wise kernels (`WG` in arith.wgsl).
const WORKGROUP: u32 = 64;

/// field.wgsl for one field: its constants, then the template with `FIELD` → `ty` and
/// `field_` → `prefix`.
fn field_wgsl<F: PrimeField + SerdeObject>(ty: &str, prefix: &str) -> String {
    let k = montgomery_constants::<F>();
    let limbs = |l: &[u32; 8]| l.iter().map(|w| format!("{w:#010x}u")).collect::<Vec<_>>().join(", ");
    let constants = format!(
        "const field_modulus: FIELD = FIELD(array<u32, 8>({}));\nconst field_inv: u32 = {:#010x}u;\n\
         const field_one: FIELD = FIELD(array<u32, 8>({}));\n",
        limbs(&k.modulus),
        k.inv,
        limbs(&k.one)
    );
    // The struct must precede the constants of its type.
    let (head, body) = FIELD_WGSL.split_at(FIELD_WGSL.find("struct FIELD").expect("field.wgsl declares FIELD"));
    let (decl, rest) = body.split_at(body.find('\n').unwrap() + 1);
    format!("{head}{decl}{constants}{rest}").replace("FIELD", ty).replace("field_", prefix)
}

/// The helpers every module starts with: the thread index and the multiply-accumulate, with
/// 64-bit integers where the device has them.
fn arith_wgsl(int64: bool) -> String {
    format!("{ARITH_WGSL}{}", if int64 { MAC_U64_WGSL } else { MAC_U32_WGSL })
}

/// The NTT module's source.
fn ntt_source(int64: bool) -> String {
    format!("{}{}{NTT_WGSL}", arith_wgsl(int64), field_wgsl::<Fr>("Fr", "fr_"))
}

/// The MSM module's source.
fn msm_source(int64: bool) -> String {
    format!(
        "{}{}{}{CURVE_WGSL}const CHUNK: u32 = {CHUNK}u;\n{MSM_WGSL}",
        arith_wgsl(int64),
        field_wgsl::<Fr>("Fr", "fr_"),
        field_wgsl::<Fq>("Fq", "fq_")
    )
}

/// Compiles `source` and one pipeline per entry point; shader and pipeline errors are returned
/// instead of wgpu's default panic. Each pipeline derives its bind group layout from the
/// bindings its kernel uses.
fn compile<const N: usize>(device: &wgpu::Device, label: &str, source: String, entries: [&str; N]) -> Result<[wgpu::ComputePipeline; N], String> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(source.into()) });
    let pipelines = entries.map(|entry| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    });
    match pollster::block_on(scope.pop()) {
        Some(e) => Err(e.to_string()),
        None => Ok(pipelines),
    }
}

/// The kernels of ntt.wgsl.
struct NttKernels {
    bit_reverse: wgpu::ComputePipeline,
    butterfly: wgpu::ComputePipeline,
    scale: wgpu::ComputePipeline,
    scale_by: wgpu::ComputePipeline,
}

/// The kernels of msm.wgsl.
struct MsmKernels {
    digits: wgpu::ComputePipeline,
    scan_blocks: wgpu::ComputePipeline,
    scan_totals: wgpu::ComputePipeline,
    scan_add: wgpu::ComputePipeline,
    accumulate: wgpu::ComputePipeline,
    join: wgpu::ComputePipeline,
    reduce_segments: wgpu::ComputePipeline,
    reduce_tree: wgpu::ComputePipeline,
}

/// An opened device with its compiled kernels.
struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: wgpu::AdapterInfo,
    ntt: NttKernels,
    /// Compiled on first use: they take seconds to compile on lavapipe.
    msm: OnceLock<Result<MsmKernels, String>>,
    /// The largest buffer a kernel may bind, in bytes.
    max_bytes: u64,
    /// Whether the kernels use 64-bit integers (SHADER_INT64).
    int64: bool,
}

/// NTT and MSM on a GPU (or lavapipe) through wgpu.
#[derive(Clone)]
pub struct WgpuBackend {
    gpu: Arc<Gpu>,
}

/// One kernel launch: its uniform parameters and its storage buffers by binding number
/// (binding 0 is the parameters).
struct Dispatch<'a> {
    kernel: &'a wgpu::ComputePipeline,
    params: Vec<u32>,
    buffers: Vec<(u32, &'a wgpu::Buffer)>,
    /// Threads to launch, in workgroups of `workgroup` threads (the last one partly idle).
    threads: u64,
    workgroup: u32,
}

impl WgpuBackend {
    /// Opens the highest-performance adapter wgpu finds (`WGPU_BACKEND` and related
    /// environment variables are honoured) and compiles the NTT kernels (the MSM kernels are
    /// compiled on first use). Field products use 64-bit integers where the device has them.
    pub fn new() -> Result<Self, Error> {
        Self::open(true)
    }

    /// As [`Self::new`], but with the portable kernels (32-bit integers only) even where the
    /// device has 64-bit integers: for devices whose 64-bit support is slow or broken, and to
    /// test the portable kernels.
    pub fn portable() -> Result<Self, Error> {
        Self::open(false)
    }

    fn open(allow_int64: bool) -> Result<Self, Error> {
        let unavailable = |reason: String| Error::Unavailable { backend: "wgpu", reason };
        check_layout("wgpu")?;
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("no adapter ({e})")))?;
        let limits = adapter.limits();
        let int64 = allow_int64 && adapter.features().contains(wgpu::Features::SHADER_INT64);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("zkml"),
            required_features: if int64 { wgpu::Features::SHADER_INT64 } else { wgpu::Features::empty() },
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("cannot open the device ({e})")))?;
        let [bit_reverse, butterfly, scale, scale_by] = compile(&device, "ntt", ntt_source(int64), ["bit_reverse", "butterfly", "scale", "scale_by"])
            .map_err(|e| unavailable(format!("the NTT kernels do not compile on this device: {e}")))?;
        let ntt = NttKernels { bit_reverse, butterfly, scale, scale_by };
        let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let gpu = Gpu { device, queue, adapter: adapter.get_info(), ntt, msm: OnceLock::new(), max_bytes, int64 };
        Ok(Self { gpu: Arc::new(gpu) })
    }

    /// The MSM kernels, compiled the first time they are needed.
    fn msm_kernels(&self) -> Result<&MsmKernels, Error> {
        let compiled = self.gpu.msm.get_or_init(|| {
            let entries = ["msm_digits", "scan_blocks", "scan_totals", "scan_add", "msm_accumulate", "msm_join", "msm_reduce_segments", "msm_reduce_tree"];
            let [digits, scan_blocks, scan_totals, scan_add, accumulate, join, reduce_segments, reduce_tree] =
                compile(&self.gpu.device, "msm", msm_source(self.gpu.int64), entries)?;
            Ok(MsmKernels { digits, scan_blocks, scan_totals, scan_add, accumulate, join, reduce_segments, reduce_tree })
        });
        compiled.as_ref().map_err(|e| Error::Unavailable { backend: "wgpu", reason: format!("the MSM kernels do not compile on this device: {e}") })
    }

    /// A zeroed storage buffer of `words` `u32`s, or an error when the device cannot bind one
    /// that large.
    fn buffer(&self, label: &str, words: u64) -> Result<wgpu::Buffer, Error> {
        let size = self.check_size(label, words)?;
        Ok(self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `contents`.
    fn buffer_with(&self, label: &str, contents: &[u32]) -> Result<wgpu::Buffer, Error> {
        self.check_size(label, contents.len() as u64)?;
        Ok(self.gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(if contents.is_empty() { &[0u32] } else { contents }),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        }))
    }

    fn check_size(&self, label: &str, words: u64) -> Result<u64, Error> {
        let bytes = words.max(1) * 4;
        if bytes > self.gpu.max_bytes {
            return Err(Error::InvalidInput(format!(
                "the {label} buffer would take {bytes} bytes, more than the device's largest binding ({} bytes)",
                self.gpu.max_bytes
            )));
        }
        Ok(bytes)
    }

    /// Records `dispatches` in order into one compute pass each.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, dispatches: &[Dispatch<'_>]) {
        let device = &self.gpu.device;
        let max_groups = device.limits().max_compute_workgroups_per_dimension;
        for d in dispatches {
            let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::cast_slice(&d.params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() }];
            entries.extend(d.buffers.iter().map(|(binding, buffer)| wgpu::BindGroupEntry { binding: *binding, resource: buffer.as_entire_binding() }));
            let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &d.kernel.get_bind_group_layout(0),
                entries: &entries,
            });
            let groups = d.threads.div_ceil(d.workgroup as u64).max(1) as u32;
            let x = groups.min(max_groups);
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(d.kernel);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(x, groups.div_ceil(x), 1);
        }
    }

    /// Submits `encoder` with a copy of `words` words of `buffer` from word `offset`, waits, and
    /// returns them.
    fn finish(&self, mut encoder: wgpu::CommandEncoder, buffer: &wgpu::Buffer, offset: u64, words: u64) -> Result<Vec<u32>, Error> {
        let device = &self.gpu.device;
        let bytes = words * 4;
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(buffer, offset * 4, &staging, 0, bytes);
        self.gpu.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Device(format!("waiting for the device: {e}")))?;
        receiver
            .recv()
            .map_err(|_| Error::Device("the readback was dropped".into()))?
            .map_err(|e| Error::Device(format!("reading back: {e}")))?;
        let mapped = slice.get_mapped_range().map_err(|e| Error::Device(format!("mapping the readback: {e}")))?;
        Ok(bytemuck::cast_slice(&mapped[..bytes as usize]).to_vec())
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

    /// Bit reversal and butterflies with root `omega`, preceded by an element-wise product with
    /// `pre` (coset powers) and followed by a scaling by `post` (1/n).
    fn transform(&self, values: &mut [Fr], omega: Fr, pre: Option<Vec<Fr>>, post: Option<Fr>) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        let n = values.len() as u32;
        self.checked("ntt", || {
            let data = self.buffer_with("data", words(values))?;
            let twiddles = self.buffer_with("twiddles", words(&powers(omega, (values.len() / 2).max(1))))?;
            let pre = pre.map(|v| self.buffer_with("factors", words(&v))).transpose()?;
            let post = post.map(|f| self.buffer_with("factor", words(&[f]))).transpose()?;
            let k = &self.gpu.ntt;
            // Binding 2 holds the twiddles or the factors, for the kernels that read it.
            fn pass<'a>(kernel: &'a wgpu::ComputePipeline, data: &'a wgpu::Buffer, factors: Option<&'a wgpu::Buffer>, params: [u32; 4], threads: u32) -> Dispatch<'a> {
                let buffers = [(1, data)].into_iter().chain(factors.map(|f| (2, f))).collect();
                Dispatch { kernel, params: params.to_vec(), buffers, threads: threads as u64, workgroup: WORKGROUP }
            }
            let mut passes = Vec::new();
            if let Some(factors) = &pre {
                passes.push(pass(&k.scale_by, &data, Some(factors), [n, log_n, 0, 0], n));
            }
            passes.push(pass(&k.bit_reverse, &data, None, [n, log_n, 0, 0], n));
            for s in 0..log_n {
                passes.push(pass(&k.butterfly, &data, Some(&twiddles), [n, log_n, 1 << s, 0], n / 2));
            }
            if let Some(factor) = &post {
                passes.push(pass(&k.scale, &data, Some(factor), [n, log_n, 0, 0], n));
            }
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.record(&mut encoder, &passes);
            let out = self.finish(encoder, &data, 0, words(values).len() as u64)?;
            words_mut(values).copy_from_slice(&out);
            Ok(())
        })
    }
}

impl NttBackend for WgpuBackend {
    fn describe(&self) -> String {
        let portable = if self.gpu.int64 { "" } else { ", 32-bit integers" };
        format!("wgpu ({}, {:?}{portable})", self.gpu.adapter.name, self.gpu.adapter.backend)
    }

    fn ntt(&self, values: &mut [Fr]) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        self.transform(values, root_of_unity(log_n), None, None)
    }

    fn intt(&self, values: &mut [Fr]) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        let n_inv = Fr::from(values.len() as u64).invert().unwrap();
        self.transform(values, root_of_unity(log_n).invert().unwrap(), None, Some(n_inv))
    }

    fn coset_ntt(&self, values: &mut [Fr], shift: Fr) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        let factors = powers(shift, values.len());
        self.transform(values, root_of_unity(log_n), Some(factors), None)
    }
}
