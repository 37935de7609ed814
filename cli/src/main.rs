//! `zkml`: compile ONNX models to Halo2 circuits, set up keys, prove and verify inferences.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use zkml_core::artifacts::{files, SrsOrigin};
use zkml_core::srs::SrsSource;
use zkml_core::artifacts::field_to_hex;
use zkml_core::kernels::{BackendRequest, Selection};
use zkml_core::{
    data, fixtures, CompileOptions, CompiledModel, InputVisibility, Keys, OutputVisibility, ParamVisibility, Proof, Settings,
    VerifierKeys,
};

mod bench;
mod bench_kernels;
mod chart;
mod space;

/// The model the demo proves: a small MLP (64-32-16-10, seeded random weights).
const DEMO_MODEL: &[u8] = include_bytes!("../../examples/models/mlp_64_32_16_10.onnx");

#[derive(Parser)]
#[command(name = "zkml", version, about = "Zero-knowledge proofs of neural network inference (Halo2, KZG on BN254)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import an ONNX model, calibrate it on sample inputs, and lay out its circuit.
    Compile(CompileArgs),
    /// Generate the proving and verifying keys of a compiled model.
    Setup(SetupArgs),
    /// Prove one inference.
    Prove(ProveArgs),
    /// Verify a proof.
    Verify(VerifyArgs),
    /// Compile, set up (development SRS), prove and verify a built-in model, with timings.
    Demo(DemoArgs),
    /// Write a seeded random MLP as an ONNX file (and optionally sample inputs).
    GenMlp(GenMlpArgs),
    /// Benchmark the pipeline (and EZKL, when installed) on ONNX models; writes JSON.
    Bench(bench::BenchArgs),
    /// Benchmark NTT and MSM on every available backend (checked against the CPU); writes JSON.
    BenchKernels(bench_kernels::BenchKernelsArgs),
    /// Draw `bench-kernels` results (one or several machines or cards) as an SVG chart of time
    /// versus size.
    BenchChart(chart::ChartArgs),
    /// Proof of Space: plot storage units, prove and verify that they are kept.
    Space(space::SpaceArgs),
    /// List the compute backends of this build: which run on this machine, on what, and what
    /// `--backend auto` picks.
    Backends,
}

/// Where the prover's MSMs run.
#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// CUDA if a device and driver are present, else wgpu on a discrete GPU, else the CPU
    /// (`ZKML_BACKEND` overrides).
    Auto,
    /// All CPU cores.
    Cpu,
    /// An NVIDIA GPU (driver and NVRTC loaded at run time).
    Cuda,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

#[derive(Args)]
pub(crate) struct BackendChoice {
    /// Where the prover's multi-scalar multiplications run.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

impl BackendChoice {
    /// Opens the backend and says which one it is and why.
    pub(crate) fn select(&self) -> Result<Selection> {
        let request = match self.backend {
            Backend::Auto => BackendRequest::Auto,
            Backend::Cpu => BackendRequest::Cpu,
            Backend::Cuda => BackendRequest::Cuda,
            Backend::Wgpu => BackendRequest::Wgpu,
        };
        // The first use of a GPU backend on a machine compiles its kernels (NVRTC: about 14 s on
        // two threads, less with more); later runs load them from the cache.
        let bar = spinner("opening the backend (kernels compile on a GPU's first use)");
        let selection = zkml_core::kernels::select(request);
        bar.finish_and_clear();
        let selection = selection?;
        eprintln!("backend: {}", selection.reason);
        Ok(selection)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum InputVis {
    /// Only the prover sees the input.
    Private,
    /// The input is a public instance.
    Public,
    /// Only the input's Poseidon commitment is a public instance.
    Hashed,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputVis {
    /// The output is a public instance.
    Public,
    /// Only the output's Poseidon commitment is a public instance.
    Hashed,
}

#[derive(Clone, Copy, ValueEnum)]
enum ParamVis {
    /// Baked into the verifying key.
    Fixed,
    /// Private witnesses: any weights producing the output satisfy the circuit.
    Private,
    /// Private witnesses bound by their Poseidon commitment (a public instance).
    Hashed,
}

#[derive(Args)]
struct CompileArgs {
    /// The ONNX model.
    model: PathBuf,
    /// Calibration samples, EZKL format: {"input_data": [[x0, x1, ...], ...]}.
    #[arg(long)]
    data: PathBuf,
    /// Output directory for settings.json and the compiled network.
    #[arg(short, long)]
    output: PathBuf,
    /// Who sees the input: nobody, everyone, or its Poseidon commitment.
    #[arg(long, value_enum, default_value = "private")]
    input_visibility: InputVis,
    /// Who sees the output: everyone, or its Poseidon commitment.
    #[arg(long, value_enum, default_value = "public")]
    output_visibility: OutputVis,
    /// Whether the weights are baked into the circuit (fixed), private witnesses, or private
    /// witnesses bound by their commitment (hashed).
    #[arg(long, value_enum, default_value = "fixed")]
    param_visibility: ParamVis,
    /// Upper bound on the proof size used to choose the circuit layout: a larger bound allows
    /// wider layouts with a smaller k, which prove faster.
    #[arg(long, default_value_t = CompileOptions::default().max_proof_bytes)]
    max_proof_bytes: usize,
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "srs_source")]
pub(crate) struct SrsChoice {
    /// Use the INSECURE development SRS (generated once, then cached). Never for production.
    #[arg(long, group = "srs_source")]
    pub(crate) dev_srs: bool,
    /// A KZG params file in halo2's format (a ceremony output), at least the circuit's size.
    #[arg(long, group = "srs_source")]
    pub(crate) srs: Option<PathBuf>,
}

#[derive(Args)]
struct SetupArgs {
    /// Directory written by `zkml compile`.
    dir: PathBuf,
    #[command(flatten)]
    srs: SrsChoice,
    #[command(flatten)]
    backend: BackendChoice,
}

#[derive(Args)]
struct ProveArgs {
    /// Directory with the compiled model and keys.
    dir: PathBuf,
    /// The input, EZKL format (the first sample is proved).
    #[arg(long)]
    data: PathBuf,
    /// Where to write the proof (JSON).
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    backend: BackendChoice,
}

#[derive(Args)]
struct VerifyArgs {
    /// Directory with the compiled model and keys.
    dir: PathBuf,
    /// The proof file.
    proof: PathBuf,
}

#[derive(Args)]
struct DemoArgs {
    /// Working directory for the demo's artifacts (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendChoice,
}

#[derive(Args)]
struct GenMlpArgs {
    /// Layer widths, input first, e.g. 784,56,10.
    #[arg(long, value_delimiter = ',', required = true)]
    dims: Vec<usize>,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output ONNX file.
    #[arg(short, long)]
    output: PathBuf,
    /// Also write this many random samples (values in [0, 1)) in EZKL's input format.
    #[arg(long, requires = "data_output")]
    samples: Option<usize>,
    /// Where to write the samples.
    #[arg(long)]
    data_output: Option<PathBuf>,
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Runs `f` behind a spinner; returns its result and how long it took.
fn timed<T>(message: &str, f: impl FnOnce(&ProgressBar) -> Result<T>) -> Result<(T, Duration)> {
    let bar = spinner(message);
    let start = Instant::now();
    let result = f(&bar);
    bar.finish_and_clear();
    Ok((result?, start.elapsed()))
}

const DEV_SRS_WARNING: &str = "warning: using the INSECURE development SRS: its secret is public, so anyone can forge proofs against these keys. Use --srs with a ceremony file for anything of value.";

fn compile(onnx: &[u8], samples: &[Vec<f32>], options: CompileOptions, dir: &Path) -> Result<CompiledModel> {
    let model = zkml_core::compile(onnx, samples, &options)?;
    model.save(dir)?;
    Ok(model)
}

fn print_compiled(model: &CompiledModel) {
    let s = &model.settings;
    println!(
        "compiled: k = {}, {} advice columns ({} inputs x {} outputs per row{}), scales 2^{} (activations) 2^{} (weights), range ±2^{}",
        s.k,
        s.shape.advice_width() + if s.shape.private_params { s.shape.inputs_per_row * s.shape.outputs_per_row } else { 0 },
        s.shape.inputs_per_row,
        s.shape.outputs_per_row,
        if s.shape.private_params { ", private weights" } else { "" },
        s.scale_bits,
        s.shift,
        s.range_bits
    );
    println!("{}", s.fidelity);
}

fn setup(dir: &Path, source: &SrsSource, backend: &Selection) -> Result<(Keys, Duration)> {
    if *source == SrsSource::InsecureDev {
        eprintln!("{DEV_SRS_WARNING}");
    }
    let (keys, elapsed) = timed("setup", |bar| {
        Ok(zkml_core::setup_dir(dir, source, backend.msm.as_deref(), |step| bar.set_message(format!("setup: {step}")))?)
    })?;
    warn_backend_failure(&keys);
    Ok((keys, elapsed))
}

/// The backend may fail in the middle of a proof; its MSMs are then redone on the CPU. Say so.
fn warn_backend_failure(keys: &Keys) {
    if let Some(failure) = keys.params.backend_failure() {
        eprintln!("warning: the MSM backend failed ({failure}); those MSMs ran on the CPU");
    }
}

/// Loads the proving keys and moves their MSMs to the chosen backend.
fn load_keys(dir: &Path, settings: &Settings, backend: &Selection) -> Result<Keys> {
    let mut keys = Keys::load(dir, settings)?;
    if let Some(msm) = &backend.msm {
        keys.use_backend(msm.as_ref())?;
    }
    Ok(keys)
}

fn first_sample(path: &Path) -> Result<Vec<f32>> {
    let mut samples = data::read_input_data(path)?;
    Ok(samples.swap_remove(0))
}

/// Prints the Poseidon commitments of hashed tensors (field elements, canonical hex).
fn print_commitments(settings: &Settings, proof: &Proof) {
    if let Some(c) = proof.input_commitment(settings) {
        println!("input commitment: {}", field_to_hex(&c));
    }
    if let Some(c) = proof.params_commitment(settings) {
        println!("parameter commitment: {}", field_to_hex(&c));
    }
    if let Some(c) = proof.output_commitment(settings) {
        println!("output commitment: {}", field_to_hex(&c));
    }
}

fn verify(dir: &Path, proof: &Proof) -> Result<()> {
    let model = CompiledModel::load(dir)?;
    let keys = VerifierKeys::load(dir, &model.settings)?;
    zkml_core::verify(&model.settings, &keys, proof)?;
    Ok(())
}

fn demo(args: DemoArgs) -> Result<()> {
    let dir = args.dir.unwrap_or_else(|| std::env::temp_dir().join(format!("zkml-demo-{}", std::process::id())));
    let backend = args.backend.select()?;
    let on = backend.msm.as_ref().map_or_else(|| format!("cpu ({} threads)", cpu_threads()), |m| m.describe());
    println!("zkml demo: MLP 64-32-16-10 (embedded ONNX), prover MSMs on {on}");
    let samples = fixtures::random_samples(64, 16, 7);
    let (model, t_compile) =
        timed("compile + calibrate", |_| compile(DEMO_MODEL, &samples, CompileOptions::default(), &dir))?;
    print_compiled(&model);
    let (keys, t_setup) = setup(&dir, &SrsSource::InsecureDev, &backend)?;
    let (proof, t_prove) = timed("prove", |_| Ok(zkml_core::prove(&model, &keys, &samples[0])?))?;
    warn_backend_failure(&keys);
    proof.save(&dir.join("proof.json"))?;
    let (_, t_verify) = timed("verify", |_| verify(&dir, &Proof::load(&dir.join("proof.json"))?))?;
    println!("outputs: {:?}", proof.outputs);
    println!(
        "times: compile {:.2} s, setup {:.2} s (SRS + keys), prove {:.3} s, verify {:.1} ms",
        t_compile.as_secs_f64(),
        t_setup.as_secs_f64(),
        t_prove.as_secs_f64(),
        t_verify.as_secs_f64() * 1e3
    );
    println!("proof: {} bytes, {} public values; verified", proof.proof.len(), proof.instances.len());
    println!("artifacts in {}", dir.display());
    Ok(())
}

fn cpu_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Compile(args) => {
            let onnx = std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
            let samples = data::read_input_data(&args.data)?;
            let options = CompileOptions {
                input_visibility: match args.input_visibility {
                    InputVis::Private => InputVisibility::Private,
                    InputVis::Public => InputVisibility::Public,
                    InputVis::Hashed => InputVisibility::Hashed,
                },
                output_visibility: match args.output_visibility {
                    OutputVis::Public => OutputVisibility::Public,
                    OutputVis::Hashed => OutputVisibility::Hashed,
                },
                param_visibility: match args.param_visibility {
                    ParamVis::Fixed => ParamVisibility::Fixed,
                    ParamVis::Private => ParamVisibility::Private,
                    ParamVis::Hashed => ParamVisibility::Hashed,
                },
                max_proof_bytes: args.max_proof_bytes,
            };
            let (model, elapsed) = timed("compile + calibrate", |_| compile(&onnx, &samples, options, &args.output))?;
            print_compiled(&model);
            println!("wrote {} ({:.2} s)", args.output.join(files::SETTINGS).display(), elapsed.as_secs_f64());
        }
        Command::Setup(args) => {
            let source = match args.srs.srs {
                Some(path) => SrsSource::File(path),
                None => SrsSource::InsecureDev,
            };
            let (_, elapsed) = setup(&args.dir, &source, &args.backend.select()?)?;
            println!("wrote {}, {}, {} ({:.2} s)", files::SRS, files::VK, files::PK, elapsed.as_secs_f64());
        }
        Command::Prove(args) => {
            let model = CompiledModel::load(&args.dir)?;
            let input = first_sample(&args.data)?;
            let backend = args.backend.select()?;
            let (proof, elapsed) = timed("prove", |bar| {
                bar.set_message("prove: loading keys");
                let keys = load_keys(&args.dir, &model.settings, &backend)?;
                bar.set_message("prove");
                let proof = zkml_core::prove(&model, &keys, &input)?;
                warn_backend_failure(&keys);
                Ok(proof)
            })?;
            proof.save(&args.output)?;
            println!("outputs: {:?}", proof.outputs);
            print_commitments(&model.settings, &proof);
            println!("wrote {} ({} proof bytes, {:.3} s)", args.output.display(), proof.proof.len(), elapsed.as_secs_f64());
        }
        Command::Verify(args) => {
            let proof = Proof::load(&args.proof)?;
            verify(&args.dir, &proof)?;
            let settings = CompiledModel::load(&args.dir)?.settings;
            if settings.srs == Some(SrsOrigin::InsecureDev) {
                eprintln!("{DEV_SRS_WARNING}");
            }
            print_commitments(&settings, &proof);
            println!("verified: {} (outputs {:?})", args.proof.display(), proof.outputs);
        }
        Command::Demo(args) => demo(args)?,
        Command::GenMlp(args) => {
            if args.dims.len() < 2 || args.dims.contains(&0) {
                bail!("--dims needs at least two positive widths, e.g. 784,56,10");
            }
            let bytes = fixtures::mlp_onnx(&args.dims, args.seed);
            zkml_core::artifacts::write_atomic(&args.output, &bytes)?;
            if let (Some(n), Some(path)) = (args.samples, &args.data_output) {
                let samples = fixtures::random_samples(args.dims[0], n.max(1), args.seed + 1);
                zkml_core::artifacts::write_atomic(path, data::input_data_json(&samples).as_bytes())?;
            }
            println!("wrote {}", args.output.display());
        }
        Command::Bench(args) => bench::run(args)?,
        Command::BenchKernels(args) => bench_kernels::run(args)?,
        Command::BenchChart(args) => chart::run(args)?,
        Command::Space(args) => space::run(args)?,
        Command::Backends => backends()?,
    }
    Ok(())
}

/// Prints each backend of this build, available or not and why, then `auto`'s choice.
fn backends() -> Result<()> {
    let bar = spinner("opening the backends (kernels compile on a GPU's first use)");
    let survey = zkml_core::kernels::survey();
    bar.finish_and_clear();
    for backend in survey.backends {
        println!("{:<5} {:<12} {}", backend.name, if backend.available { "available" } else { "unavailable" }, backend.note);
    }
    println!("auto: {}", survey.auto?);
    Ok(())
}

fn main() -> ExitCode {
    // Like other command-line tools, stop quietly when the reader of our output goes away
    // (`zkml space info plot | head -1`) instead of failing on the next write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
