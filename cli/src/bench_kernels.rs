//! `zkml bench-kernels`: NTT and MSM time per backend and size, every result checked against the
//! CPU backend, written as JSON (one file per machine; `zkml bench-chart` draws several).
//!
//! GPU figures are for device-resident data (what the prover keeps on the card); the copies to
//! and from the host are timed and reported separately.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use zkml_core::kernels::cpu::CpuBackend;
use zkml_core::kernels::cuda::{CudaBackend, CudaBases, DeviceScalars};
use zkml_core::kernels::wgpu::{WgpuBackend, WgpuBases, WgpuValues};
use zkml_core::kernels::Error as KernelError;
use zkml_core::kernels::{sample, BaseTables, Field, Fr, G1Affine, KernelTime, MsmBackend, MsmPlan, NttBackend, Transform, G1};

use crate::bench::median;

/// A kernel to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Forward NTT over Fr.
    Ntt,
    /// MSM over G1 with resident bases.
    Msm,
}

/// Which transform the NTT rows time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NttTransform {
    /// Coefficients to evaluations.
    Forward,
    /// Evaluations to coefficients (with the 1/n).
    Inverse,
    /// Coefficients to evaluations on a coset (a random shift each size).
    Coset,
}

impl NttTransform {
    /// The name `--transform` takes, also the rows' `transform`.
    fn name(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Inverse => "inverse",
            Self::Coset => "coset",
        }
    }
}

/// Arguments of `zkml bench-kernels`.
#[derive(Args)]
pub struct BenchKernelsArgs {
    /// Kernels to measure.
    #[arg(long, value_delimiter = ',', default_value = "ntt,msm")]
    ops: Vec<Op>,
    /// log2 of the sizes.
    #[arg(long, value_delimiter = ',', default_value = "12,14,16")]
    log_sizes: Vec<u32>,
    /// Backends to measure (cpu, cuda, wgpu); by default every one this machine has.
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// The transform the NTT rows time.
    #[arg(long, value_enum, default_value = "forward")]
    transform: NttTransform,
    /// Timed runs per size (the median is reported; the CPU, which gives the reference results,
    /// runs once where `--backends` leaves it out).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Where to write the JSON results.
    #[arg(short, long, default_value = "target/bench/kernels.json")]
    output: PathBuf,
    /// After the timed runs of a GPU backend, run once more and report the time per kernel
    /// (printed, and under "profile" in the JSON): CUDA times each launch on the device with
    /// events; wgpu runs every dispatch and waits for it on its own (slower than unprofiled).
    #[arg(long)]
    profile: bool,
}

impl BenchKernelsArgs {
    /// Whether `--backends` includes `name` (all backends when it is empty).
    fn wants(&self, name: &str) -> bool {
        self.backends.is_empty() || self.backends.iter().any(|b| b == name)
    }

    /// Runs of the CPU backend, which gives every size the reference result: `runs` where its
    /// time is reported, else one (untimed: at 2^24 the CPU's MSM alone takes seconds a run).
    fn cpu_runs(&self) -> u32 {
        if self.wants("cpu") {
            self.runs
        } else {
            1
        }
    }
}

/// Host memory the rows of the largest size hold at once, counting their arrays only: an NTT
/// row's input and the CPU's result (and a GPU's copy back); an MSM row's bases, the CPU
/// backend's copy of them, the scalars (and the bases as words on their way to a GPU).
fn memory_needed(args: &BenchKernelsArgs) -> u64 {
    let n = 1u64 << args.log_sizes.iter().copied().max().unwrap_or(0);
    let gpu = args.backends.is_empty() || args.backends.iter().any(|b| b != "cpu");
    let ntt = 32 * n * if gpu { 3 } else { 2 };
    let msm = (64 + 64 + 32 + if gpu { 64 } else { 0 }) * n;
    args.ops.iter().map(|op| if *op == Op::Ntt { ntt } else { msm }).max().unwrap_or(0)
}

/// Refuses sizes whose arrays alone would not fit the memory available now (Linux), before any
/// work: otherwise the system stops the process midway, after minutes of the smaller rows.
fn check_memory(args: &BenchKernelsArgs) -> Result<()> {
    let Some(available) = available_memory() else { return Ok(()) };
    let needed = memory_needed(args);
    if needed > available {
        let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
        bail!(
            "--log-sizes: the largest size needs at least {:.1} GiB of memory for its arrays, and {:.1} GiB are available; choose smaller sizes",
            gib(needed),
            gib(available)
        );
    }
    Ok(())
}

/// `MemAvailable` of /proc/meminfo, in bytes; `None` where there is no such file.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Median seconds of `runs` calls of `f`.
fn timed(runs: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

fn row(op: Op, backend: &str, log_n: u32, seconds: f64, copies: Option<(f64, f64)>) -> Value {
    let n = (1u64 << log_n) as f64;
    let mut row = json!({
        "op": format!("{op:?}").to_lowercase(),
        "backend": backend,
        "log_n": log_n,
        "seconds": seconds,
        "elements_per_second": n / seconds,
    });
    if let Some((to_device, to_host)) = copies {
        row["copy_to_device_seconds"] = json!(to_device);
        row["copy_to_host_seconds"] = json!(to_host);
    }
    println!(
        "| {:?} | {backend} | 2^{log_n} | {:.3} | {:.1} | {} |",
        op,
        seconds * 1e3,
        n / seconds / 1e6,
        copies.map_or("—".into(), |(a, b)| format!("{:.2} / {:.2}", a * 1e3, b * 1e3))
    );
    row
}

/// Prints a profile under its row's line and adds it to the row.
fn add_profile(row: &mut Value, times: &[KernelTime]) {
    let listed: Vec<String> = times.iter().map(|t| format!("{} {:.3} ms ×{}", t.kernel, t.seconds * 1e3, t.dispatches)).collect();
    println!("|  | profile: {} |  |  |  |  |", listed.join(", "));
    row["profile"] = times.iter().map(|t| json!({ "kernel": t.kernel, "dispatches": t.dispatches, "seconds": t.seconds })).collect();
}

/// The device-resident NTT and MSM both GPU backends offer (their inherent methods of the same
/// names).
trait Resident: NttBackend + MsmBackend {
    type Values;
    type Bases;
    fn upload(&self, values: &[Fr]) -> Result<Self::Values, KernelError>;
    fn transform(&self, values: &mut Self::Values, transform: Transform) -> Result<(), KernelError>;
    fn download(&self, values: &Self::Values, out: &mut [Fr]) -> Result<(), KernelError>;
    fn synchronize(&self) -> Result<(), KernelError>;
    fn load_resident(&self, bases: &[G1Affine]) -> Result<Self::Bases, KernelError>;
    fn tables(bases: &Self::Bases) -> BaseTables;
    fn msm(bases: &Self::Bases, scalars: &Self::Values) -> Result<G1, KernelError>;
    fn profile<T>(&self, work: impl FnOnce() -> Result<T, KernelError>) -> Result<(T, Vec<KernelTime>), KernelError>;
    fn ntt_array_passes(&self, log_n: u32, transform: Transform) -> usize;
    fn plan(bases: &Self::Bases, n: usize) -> Result<MsmPlan, KernelError>;
    /// The device memory's peak bandwidth (bytes/s), where the backend can tell.
    fn peak_memory_bandwidth(&self) -> Option<f64>;
}

macro_rules! resident {
    ($backend:ty, $values:ty, $bases:ty, $peak:expr) => {
        impl Resident for $backend {
            type Values = $values;
            type Bases = $bases;
            fn upload(&self, values: &[Fr]) -> Result<Self::Values, KernelError> {
                <$backend>::upload(self, values)
            }
            fn transform(&self, values: &mut Self::Values, transform: Transform) -> Result<(), KernelError> {
                <$backend>::transform(self, values, transform)
            }
            fn download(&self, values: &Self::Values, out: &mut [Fr]) -> Result<(), KernelError> {
                <$backend>::download(self, values, out)
            }
            fn synchronize(&self) -> Result<(), KernelError> {
                <$backend>::synchronize(self)
            }
            fn load_resident(&self, bases: &[G1Affine]) -> Result<Self::Bases, KernelError> {
                <$backend>::load_resident(self, bases)
            }
            fn tables(bases: &Self::Bases) -> BaseTables {
                bases.tables()
            }
            fn msm(bases: &Self::Bases, scalars: &Self::Values) -> Result<G1, KernelError> {
                bases.msm_resident(scalars)
            }
            fn profile<T>(&self, work: impl FnOnce() -> Result<T, KernelError>) -> Result<(T, Vec<KernelTime>), KernelError> {
                <$backend>::profile(self, work)
            }
            fn ntt_array_passes(&self, log_n: u32, transform: Transform) -> usize {
                <$backend>::ntt_array_passes(self, log_n, transform)
            }
            fn plan(bases: &Self::Bases, n: usize) -> Result<MsmPlan, KernelError> {
                bases.plan(n)
            }
            fn peak_memory_bandwidth(&self) -> Option<f64> {
                $peak(self)
            }
        }
    };
}
resident!(CudaBackend, DeviceScalars, CudaBases, CudaBackend::peak_memory_bandwidth);
// wgpu does not report the memory's clock or bus width.
resident!(WgpuBackend, WgpuValues, WgpuBases, |_: &WgpuBackend| None);

/// An NTT on device-resident values, checked against `reference` and then timed, with
/// the copies to and from the device timed apart (and profiled with `--profile`); returns the row.
fn device_ntt<G: Resident>(
    gpu: &G,
    name: &str,
    input: &[Fr],
    reference: &[Fr],
    transform: Transform,
    log_n: u32,
    args: &BenchKernelsArgs,
) -> Result<Value> {
    let runs = args.runs;
    let to_device = timed(runs, || {
        gpu.upload(input)?;
        Ok(gpu.synchronize()?)
    })?;
    let mut on_device = gpu.upload(input)?;
    let mut out = vec![Fr::ZERO; input.len()];
    // The first transform (twiddles made, checked) is not timed.
    gpu.transform(&mut on_device, transform)?;
    gpu.download(&on_device, &mut out)?;
    if out != reference {
        bail!("{name} NTT disagrees with the CPU at n = 2^{log_n}");
    }
    let seconds = timed(runs, || {
        gpu.transform(&mut on_device, transform)?;
        Ok(gpu.synchronize()?)
    })?;
    let to_host = timed(runs, || Ok(gpu.download(&on_device, &mut out)?))?;
    let mut row = row(Op::Ntt, &NttBackend::describe(gpu), log_n, seconds, Some((to_device, to_host)));
    // How near the memory's limit: each pass reads and writes every element (twiddles aside).
    let passes = gpu.ntt_array_passes(log_n, transform);
    let throughput = 2.0 * 32.0 * input.len() as f64 * passes as f64 / seconds;
    let peak = gpu.peak_memory_bandwidth();
    let of_peak = peak.map_or(String::new(), |peak| format!(" ({:.0}% of the device's {:.0} GB/s)", 100.0 * throughput / peak, peak / 1e9));
    let passes_text = if passes == 1 { "1 pass".to_string() } else { format!("{passes} passes") };
    println!("|  | memory: {passes_text} over the array, {:.1} GB/s{of_peak} |  |  |  |  |", throughput / 1e9);
    row["array_passes"] = json!(passes);
    row["array_bytes_per_second"] = json!(throughput);
    if let Some(peak) = peak {
        row["device_peak_bytes_per_second"] = json!(peak);
    }
    if args.profile {
        let ((), times) = gpu.profile(|| gpu.transform(&mut on_device, transform))?;
        gpu.synchronize()?;
        add_profile(&mut row, &times);
    }
    Ok(row)
}

/// An MSM of `scalars` over `bases`, made resident first (their upload and window tables timed
/// once), checked against `reference` and then timed, with the scalars' upload timed apart (and
/// profiled with `--profile`); returns the row.
fn device_msm<G: Resident>(
    gpu: &G,
    name: &str,
    bases: &[G1Affine],
    scalars: &[Fr],
    reference: Option<G1>,
    log_n: u32,
    args: &BenchKernelsArgs,
) -> Result<Value> {
    let runs = args.runs;
    let start = Instant::now();
    let resident = gpu.load_resident(bases)?;
    let bases_seconds = start.elapsed().as_secs_f64();
    let to_device = timed(runs, || {
        gpu.upload(scalars)?;
        Ok(gpu.synchronize()?)
    })?;
    let on_device = gpu.upload(scalars)?;
    if Some(G::msm(&resident, &on_device)?) != reference {
        bail!("{name} MSM disagrees with the CPU at n = 2^{log_n}");
    }
    let seconds = timed(runs, || Ok(G::msm(&resident, &on_device).map(drop)?))?;
    let mut row = row(Op::Msm, &MsmBackend::describe(gpu), log_n, seconds, Some((to_device, 0.0)));
    let tables = G::tables(&resident);
    let tables_text = match tables.count {
        1 => "without window tables".to_string(),
        count => format!("with {count} window tables of {} bits", tables.bits),
    };
    // The work: one bucket addition a digit (a zero digit, rare for random scalars, adds none).
    let plan = G::plan(&resident, scalars.len())?;
    let digits = plan.windows as f64 * scalars.len() as f64;
    let over = if plan.tables > 1 { format!("over {} tables", plan.tables) } else { "over the bases".into() };
    println!(
        "|  | bases uploaded in {:.1} ms {tables_text}; the MSM: {} windows of {} bits {over}, {:.2} M digits at {:.1} M/s |  |  |  |  |",
        bases_seconds * 1e3,
        plan.windows,
        plan.c,
        digits / 1e6,
        digits / seconds / 1e6
    );
    row["bases_to_device_seconds"] = json!(bases_seconds);
    row["window_tables"] = json!({ "count": tables.count, "bits": tables.bits });
    row["plan"] = json!({ "window_bits": plan.c, "windows": plan.windows, "tables": plan.tables, "bucket_groups": plan.groups });
    row["digits_per_second"] = json!(digits / seconds);
    if args.profile {
        let (_, times) = gpu.profile(|| G::msm(&resident, &on_device))?;
        add_profile(&mut row, &times);
    }
    Ok(row)
}

/// Opens a backend unless `--backends` leaves it out, and records how long that took in `opened`
/// and the notes (a GPU backend compiles its kernels then, unless they are cached). One that `--backends` names
/// must open; by default an unavailable one is only noted.
fn open<T>(
    name: &str,
    args: &BenchKernelsArgs,
    notes: &mut Vec<String>,
    opened: &mut serde_json::Map<String, Value>,
    new: impl FnOnce() -> Result<T, zkml_core::kernels::Error>,
) -> Result<Option<T>> {
    if !args.wants(name) {
        return Ok(None);
    }
    let start = Instant::now();
    match new() {
        Ok(backend) => {
            let seconds = start.elapsed().as_secs_f64();
            notes.push(format!("{name} opened in {seconds:.2} s"));
            opened.insert(name.into(), json!(seconds));
            Ok(Some(backend))
        }
        Err(e) if args.backends.is_empty() => {
            notes.push(format!("{name} not measured: {e}"));
            Ok(None)
        }
        Err(e) => Err(e).context(format!("--backends {name}")),
    }
}

/// Runs the benchmark.
pub fn run(args: BenchKernelsArgs) -> Result<()> {
    if let Some(k) = args.log_sizes.iter().find(|k| **k > 28) {
        bail!("--log-sizes: 2^{k} does not fit BN254's NTT domain (at most 2^28)");
    }
    for b in &args.backends {
        if !["cpu", "cuda", "wgpu"].contains(&b.as_str()) {
            bail!("--backends: unknown backend '{b}' (expected cpu, cuda or wgpu)");
        }
    }
    check_memory(&args)?;
    let (mut notes, mut opened) = (Vec::new(), serde_json::Map::new());
    let cuda = open("cuda", &args, &mut notes, &mut opened, CudaBackend::new)?;
    let wgpu = open("wgpu", &args, &mut notes, &mut opened, WgpuBackend::new)?;
    if let Some(gpu) = &cuda {
        notes.push(format!("cuda kernels {}", if gpu.loaded_from_cache() { "loaded from the cache" } else { "compiled by NVRTC" }));
        if let Ok(options) = std::env::var(zkml_core::kernels::cuda::NVRTC_OPTIONS_ENV) {
            notes.push(format!("cuda kernels compiled with {}={options}", zkml_core::kernels::cuda::NVRTC_OPTIONS_ENV));
        }
    }
    if wgpu.is_some() {
        notes.push("wgpu: opening it compiles the NTT kernels".into());
    }
    if args.transform != NttTransform::Forward && args.ops.contains(&Op::Ntt) {
        notes.push(format!("NTT rows: the {} transform", args.transform.name()));
    }
    if let Ok(tiles) = std::env::var(zkml_core::kernels::NTT_TILES_ENV) {
        notes.push(format!("GPU transforms with {}={tiles}", zkml_core::kernels::NTT_TILES_ENV));
    }
    for env in [zkml_core::kernels::MSM_WINDOW_BITS_ENV, zkml_core::kernels::MSM_TABLES_ENV] {
        if let Ok(value) = std::env::var(env) {
            notes.push(format!("GPU MSMs with {env}={value}"));
        }
    }

    let mut rows = Vec::new();
    println!("| op | backend | n | time (ms) | Melem/s | copies to / from device (ms) |");
    println!("|---|---|---|---|---|---|");
    let max_log = args.log_sizes.iter().copied().max().unwrap_or(0);
    let mut rng = rand::thread_rng();
    for op in &args.ops {
        match op {
            Op::Ntt => {
                for &log_n in &args.log_sizes {
                    let n = 1usize << log_n;
                    let input: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
                    let transform = match args.transform {
                        NttTransform::Forward => Transform::Forward,
                        NttTransform::Inverse => Transform::Inverse,
                        NttTransform::Coset => Transform::Coset(Fr::random(&mut rng)),
                    };
                    let mut reference = input.clone();
                    let cpu_time = timed(args.cpu_runs(), || {
                        reference.copy_from_slice(&input);
                        Ok(CpuBackend.run(&mut reference, transform)?)
                    })?;
                    let mut ntt_rows = Vec::new();
                    if args.wants("cpu") {
                        ntt_rows.push(row(Op::Ntt, &NttBackend::describe(&CpuBackend), log_n, cpu_time, None));
                    }
                    let which = || format!("the {} transform", args.transform.name());
                    if let Some(gpu) = &cuda {
                        ntt_rows.push(device_ntt(gpu, "cuda", &input, &reference, transform, log_n, &args).with_context(which)?);
                    }
                    if let Some(gpu) = &wgpu {
                        ntt_rows.push(device_ntt(gpu, "wgpu", &input, &reference, transform, log_n, &args).with_context(which)?);
                    }
                    for mut row in ntt_rows {
                        row["transform"] = json!(args.transform.name());
                        rows.push(row);
                    }
                }
            }
            Op::Msm => {
                let bases = sample::bases(1 << max_log, Fr::random(&mut rng));
                let cpu_bases = CpuBackend.load_bases(&bases)?;
                if wgpu.is_some() {
                    notes.push("wgpu: the first bases' upload includes compiling the MSM kernels".into());
                }
                for &log_n in &args.log_sizes {
                    let n = 1usize << log_n;
                    let scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
                    let mut reference = None;
                    let cpu_time = timed(args.cpu_runs(), || {
                        reference = Some(cpu_bases.msm(&scalars)?);
                        Ok(())
                    })?;
                    if args.wants("cpu") {
                        rows.push(row(Op::Msm, &MsmBackend::describe(&CpuBackend), log_n, cpu_time, None));
                    }
                    // Bases of the MSM's own size, as a prover commits 2^k values with an SRS of
                    // 2^k points (the window tables are chosen for the size of the bases).
                    if let Some(gpu) = &cuda {
                        rows.push(device_msm(gpu, "cuda", &bases[..n], &scalars, reference, log_n, &args)?);
                    }
                    if let Some(gpu) = &wgpu {
                        rows.push(device_msm(gpu, "wgpu", &bases[..n], &scalars, reference, log_n, &args)?);
                    }
                }
            }
        }
    }
    for note in &notes {
        println!("{note}");
    }
    let report = json!({
        "what": "BN254 kernels: NTT over Fr (the rows' transform) and MSM over G1 (GPU: device-resident data; copies reported apart)",
        "machine": crate::bench::machine(),
        "notes": notes,
        "backend_open_seconds": opened,
        "results": rows,
    });
    if let Some(dir) = args.output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    zkml_core::artifacts::write_atomic(&args.output, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("wrote {}", args.output.display());
    Ok(())
}
