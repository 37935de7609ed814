//! The wgpu backend: WGSL kernels (`fr.wgsl`, `ntt.wgsl`) on any Vulkan, Metal or DX12 device,
//! including Mesa's lavapipe on machines without a GPU (that is how CI tests it).
//!
//! Values cross the host boundary in Montgomery form (`x·2^256 mod p`, 8 little-endian `u32`
//! limbs); the conversion is done on the host, in parallel. The NTT is iterative radix-2:
//! a bit-reversal pass, then `log n` butterfly passes, each a dispatch of `n/2` threads.

use std::sync::OnceLock;

use halo2curves::bn256::Fr;
use halo2curves::ff::{Field, PrimeField};
use rayon::prelude::*;
use wgpu::util::DeviceExt;

use crate::backend::{log_size, powers, root_of_unity, NttBackend};
use crate::Error;

const FR_WGSL: &str = include_str!("fr.wgsl");
const NTT_WGSL: &str = include_str!("ntt.wgsl");
/// Threads per workgroup (must match `WG` in ntt.wgsl).
const WORKGROUP: u32 = 64;

fn limbs(bytes: &[u8]) -> [u32; 8] {
    std::array::from_fn(|i| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
}

/// `R = 2^256 mod p` and its inverse, for host-side Montgomery conversion.
fn montgomery_factors() -> &'static (Fr, Fr) {
    static FACTORS: OnceLock<(Fr, Fr)> = OnceLock::new();
    FACTORS.get_or_init(|| {
        let r = Fr::from(2).pow_vartime([256]);
        (r, r.invert().unwrap())
    })
}

/// The WGSL constants block: the modulus and `-p^-1 mod 2^32`, derived from halo2curves.
fn constants_wgsl() -> String {
    let p_minus_one = limbs((-Fr::ONE).to_repr().as_ref());
    let mut p = p_minus_one;
    p[0] += 1; // p − 1 is even, so adding one never carries
    // Newton iteration for p[0]^-1 mod 2^32 (doubles the correct bits each step).
    let mut inv = 1u32;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(p[0].wrapping_mul(inv)));
    }
    let limbs = p.iter().map(|l| format!("{l:#010x}u")).collect::<Vec<_>>().join(", ");
    format!(
        "const P: Fr = Fr(array<u32, 8>({limbs}));\nconst P_INV: u32 = {:#010x}u;\n",
        inv.wrapping_neg()
    )
}

fn to_device(values: &[Fr]) -> Vec<u32> {
    let (r, _) = montgomery_factors();
    values.par_iter().flat_map_iter(|v| limbs((*v * r).to_repr().as_ref())).collect()
}

fn from_device(words: &[u32], out: &mut [Fr]) -> Result<(), Error> {
    let (_, r_inv) = montgomery_factors();
    out.par_iter_mut().zip(words.par_chunks(8)).try_for_each(|(v, w)| {
        let mut repr = <Fr as PrimeField>::Repr::default();
        for (chunk, word) in repr.as_mut().chunks_mut(4).zip(w) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        let m = Option::<Fr>::from(Fr::from_repr(repr))
            .ok_or_else(|| Error::Device("the device returned a non-reduced field element".into()))?;
        *v = m * r_inv;
        Ok(())
    })
}

/// The kernels of ntt.wgsl.
struct Pipelines {
    layout: wgpu::BindGroupLayout,
    bit_reverse: wgpu::ComputePipeline,
    butterfly: wgpu::ComputePipeline,
    scale: wgpu::ComputePipeline,
    scale_by: wgpu::ComputePipeline,
}

/// NTTs on a GPU (or lavapipe) through wgpu.
pub struct WgpuBackend {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: wgpu::AdapterInfo,
    pipelines: Pipelines,
    max_bytes: u64,
}

/// One kernel launch: pipeline, the buffer bound as `twiddles`, `half` for butterflies.
struct Pass<'a> {
    pipeline: &'a wgpu::ComputePipeline,
    twiddles: &'a wgpu::Buffer,
    half: u32,
    threads: u32,
}

impl WgpuBackend {
    /// Opens the highest-performance adapter wgpu finds (`WGPU_BACKEND` and related
    /// environment variables are honoured) and compiles the kernels.
    pub fn new() -> Result<Self, Error> {
        let unavailable = |reason: String| Error::Unavailable { backend: "wgpu", reason };
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("no adapter ({e})")))?;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("zkml"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| unavailable(format!("cannot open the device ({e})")))?;
        // Shader or pipeline errors become an `Unavailable` error instead of wgpu's panic.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let source = format!("{}{FR_WGSL}{NTT_WGSL}", constants_wgsl());
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("ntt"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let storage = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: false },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ntt"),
            entries: &[
                storage(0),
                storage(1),
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("ntt"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pipelines = Pipelines {
            bit_reverse: pipeline("bit_reverse"),
            butterfly: pipeline("butterfly"),
            scale: pipeline("scale"),
            scale_by: pipeline("scale_by"),
            layout,
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(unavailable(format!("the kernels do not compile on this device: {e}")));
        }
        let max_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        Ok(Self { device, queue, adapter: adapter.get_info(), pipelines, max_bytes })
    }

    fn storage_buffer(&self, label: &str, words: &[u32]) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(words),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// Uploads `values`, runs `passes` in order, and reads the result back into `values`.
    fn run(&self, values: &mut [Fr], passes: &[Pass<'_>], data: &wgpu::Buffer) -> Result<(), Error> {
        let n = values.len() as u32;
        let bytes = values.len() as u64 * 32;
        let mut encoder = self.device.create_command_encoder(&Default::default());
        let max_groups = self.device.limits().max_compute_workgroups_per_dimension;
        let mut params = Vec::with_capacity(passes.len());
        for pass in passes {
            let uniform: [u32; 4] = [n, n.trailing_zeros(), pass.half, 0];
            params.push(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::cast_slice(&uniform),
                usage: wgpu::BufferUsages::UNIFORM,
            }));
        }
        for (pass, params) in passes.iter().zip(&params) {
            let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &self.pipelines.layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: data.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: pass.twiddles.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: params.as_entire_binding() },
                ],
            });
            let groups = pass.threads.div_ceil(WORKGROUP).max(1);
            let x = groups.min(max_groups);
            let mut compute = encoder.begin_compute_pass(&Default::default());
            compute.set_pipeline(pass.pipeline);
            compute.set_bind_group(0, &bind, &[]);
            compute.dispatch_workgroups(x, groups.div_ceil(x), 1);
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(data, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = sender.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("waiting for the device: {e}")))?;
        receiver
            .recv()
            .map_err(|_| Error::Device("the readback was dropped".into()))?
            .map_err(|e| Error::Device(format!("reading back: {e}")))?;
        let mapped = slice.get_mapped_range().map_err(|e| Error::Device(format!("mapping the readback: {e}")))?;
        from_device(bytemuck::cast_slice(&mapped), values)
    }

    /// Checks the size and uploads the data buffer.
    fn upload(&self, values: &[Fr]) -> Result<(u32, wgpu::Buffer), Error> {
        let log_n = log_size(values.len())?;
        let bytes = values.len() as u64 * 32;
        if bytes > self.max_bytes {
            return Err(Error::InvalidInput(format!(
                "{} values ({bytes} bytes) exceed the device's largest buffer ({} bytes)",
                values.len(),
                self.max_bytes
            )));
        }
        Ok((log_n, self.storage_buffer("data", &to_device(values))))
    }

    /// Bit reversal and butterflies with root `omega`, preceded by `pre` and followed by `post`.
    fn transform(&self, values: &mut [Fr], omega: Fr, pre: Option<(&wgpu::ComputePipeline, Vec<Fr>)>, post: Option<Fr>) -> Result<(), Error> {
        let (log_n, data) = self.upload(values)?;
        let n = values.len() as u32;
        let twiddles = self.storage_buffer("twiddles", &to_device(&powers(omega, (values.len() / 2).max(1))));
        let pre_buffer = pre.as_ref().map(|(_, v)| self.storage_buffer("factors", &to_device(v)));
        let post_buffer = post.map(|f| self.storage_buffer("factor", &to_device(&[f])));
        let mut passes = Vec::new();
        if let (Some((pipeline, _)), Some(buffer)) = (&pre, &pre_buffer) {
            passes.push(Pass { pipeline, twiddles: buffer, half: 0, threads: n });
        }
        passes.push(Pass { pipeline: &self.pipelines.bit_reverse, twiddles: &twiddles, half: 0, threads: n });
        for s in 0..log_n {
            passes.push(Pass { pipeline: &self.pipelines.butterfly, twiddles: &twiddles, half: 1 << s, threads: n / 2 });
        }
        if let Some(buffer) = &post_buffer {
            passes.push(Pass { pipeline: &self.pipelines.scale, twiddles: buffer, half: 0, threads: n });
        }
        self.run(values, &passes, &data)
    }
}

impl NttBackend for WgpuBackend {
    fn describe(&self) -> String {
        format!("wgpu ({}, {:?})", self.adapter.name, self.adapter.backend)
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
        self.transform(values, root_of_unity(log_n), Some((&self.pipelines.scale_by, factors)), None)
    }
}
