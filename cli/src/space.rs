//! `zkml space …`: plot storage units, make and check initialization and epoch proofs, and
//! benchmark the whole Proof-of-Space pipeline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use zkml_core::artifacts::{read_file, write_atomic};
use zkml_core::space::snark::{self, storage_shape, StorageKeys};
use zkml_core::space::{
    compress, verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof, NodeIdentity, Plot,
    PlotStage, Registration, SpaceParams, StorageProof,
};
use zkml_core::srs::SrsSource;

use crate::{cpu_threads, timed, BackendChoice, SrsChoice, DEV_SRS_WARNING};

/// Arguments of `zkml space`.
#[derive(Args)]
pub struct SpaceArgs {
    #[command(subcommand)]
    command: SpaceCommand,
}

#[derive(Subcommand)]
enum SpaceCommand {
    /// Plot a storage unit into a directory (resumes an interrupted plot of the same unit).
    Plot(PlotArgs),
    /// Make the one-time initialization proof, then delete all layers but the last.
    Init(InitArgs),
    /// Check an initialization proof against a registration.
    VerifyInit(VerifyInitArgs),
    /// Answer an epoch's challenges (optionally compressed into one halo2 proof).
    Prove(ProveArgs),
    /// Check an epoch's storage proof (native, or compressed with --keys).
    Verify(VerifyArgs),
    /// Generate the keys of the compressed-proof circuit for a parameter set.
    Setup(SetupArgs),
    /// Show a plot's or registration file's parameters and commitments.
    Info(InfoArgs),
    /// Benchmark plotting, initialization, epoch proofs and compressed proofs; writes JSON.
    Bench(BenchArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// 8 layers, 64 initialization and 128 epoch challenges.
    Recommended,
    /// 3 layers, 8 challenges each: fast, for trying things out. Not secure.
    Testing,
}

#[derive(Args)]
struct ParamsArgs {
    /// The unit holds 2^N labels of 32 bytes (20: 32 MiB; 25: 1 GiB).
    #[arg(long, default_value_t = 20)]
    log_nodes: u32,
    /// Parameter preset.
    #[arg(long, value_enum, default_value = "recommended")]
    preset: Preset,
}

impl ParamsArgs {
    fn params(&self) -> Result<SpaceParams> {
        let params = match self.preset {
            Preset::Recommended => SpaceParams::recommended(self.log_nodes),
            Preset::Testing => SpaceParams::testing(self.log_nodes),
        };
        params.validate()?;
        Ok(params)
    }
}

#[derive(Args)]
struct PlotArgs {
    /// The plot directory.
    dir: PathBuf,
    /// The node's public key (hex).
    #[arg(long)]
    node_key: String,
    /// Which of the node's units this is.
    #[arg(long, default_value_t = 0)]
    unit: u64,
    /// The network id (64 hex digits).
    #[arg(long, default_value = "0000000000000000000000000000000000000000000000000000000000000000")]
    network: String,
    /// The beacon current at registration (64 hex digits).
    #[arg(long)]
    registration_beacon: String,
    #[command(flatten)]
    params: ParamsArgs,
}

#[derive(Args)]
struct InitArgs {
    /// The plot directory.
    dir: PathBuf,
    /// The beacon published after the registration (64 hex digits).
    #[arg(long)]
    beacon: String,
    /// Where to write the proof.
    #[arg(short, long)]
    output: PathBuf,
    /// Keep all layers on disk (by default they are deleted once the proof is written).
    #[arg(long)]
    keep_layers: bool,
}

#[derive(Args)]
struct VerifyInitArgs {
    /// The registration (a plot's plot.meta).
    #[arg(long)]
    registration: PathBuf,
    /// The beacon the proof must answer (64 hex digits).
    #[arg(long)]
    beacon: String,
    /// The proof.
    proof: PathBuf,
}

#[derive(Args)]
struct ProveArgs {
    /// The plot directory.
    dir: PathBuf,
    /// The epoch beacon (64 hex digits).
    #[arg(long)]
    beacon: String,
    /// Where to write the proof.
    #[arg(short, long)]
    output: PathBuf,
    /// Compress into one halo2 proof with the keys in this directory (`zkml space setup`).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Where the compression's MSMs run.
    #[command(flatten)]
    backend: BackendChoice,
}

#[derive(Args)]
struct VerifyArgs {
    /// The registration (a plot's plot.meta).
    #[arg(long)]
    registration: PathBuf,
    /// The epoch beacon (64 hex digits).
    #[arg(long)]
    beacon: String,
    /// The proof is compressed; verify it with the keys in this directory.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The proof.
    proof: PathBuf,
}

#[derive(Args)]
struct SetupArgs {
    /// Output directory for the keys.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    params: ParamsArgs,
    #[command(flatten)]
    srs: SrsChoice,
    /// Where key generation's MSMs run.
    #[command(flatten)]
    backend: BackendChoice,
}

#[derive(Args)]
struct InfoArgs {
    /// A plot directory or a registration file.
    path: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    /// Unit sizes to benchmark (log2 of the label count).
    #[arg(long, value_delimiter = ',', default_value = "16,20")]
    log_nodes: Vec<u32>,
    /// Working directory for plots and keys.
    #[arg(long, default_value = "target/bench/space")]
    work: PathBuf,
    /// Where to write the JSON results.
    #[arg(short, long, default_value = "target/bench/space.json")]
    output: PathBuf,
    /// Skip the compressed (halo2) proof.
    #[arg(long)]
    no_snark: bool,
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(s.trim()).with_context(|| format!("{what}: not hex"))?;
    match <[u8; 32]>::try_from(bytes) {
        Ok(b) => Ok(b),
        Err(b) => bail!("{what}: {} bytes, expected 32 (64 hex digits)", b.len()),
    }
}

fn beacon(s: &str) -> Result<Beacon> {
    Beacon::from_hex(s).map_err(anyhow::Error::msg)
}

fn load_registration(path: &Path) -> Result<Registration> {
    let path = if path.is_dir() { path.join(zkml_core::space::plot::files::META) } else { path.to_owned() };
    Registration::from_bytes(&read_file(&path)?).with_context(|| format!("reading {}", path.display()))
}

fn plot_bar(params: &SpaceParams) -> (ProgressBar, impl FnMut(PlotStage, u64, u64)) {
    let bar = ProgressBar::new(params.nodes());
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} [{elapsed}, eta {eta}]")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let handle = bar.clone();
    let update = move |stage: PlotStage, done: u64, total: u64| {
        let message = match stage {
            PlotStage::Labels { layer, layers } => format!("labels, layer {}/{}", layer + 1, layers),
            PlotStage::ColumnTree => "column tree".into(),
            PlotStage::ReplicaTree => "replica tree".into(),
        };
        handle.set_message(message);
        handle.set_length(total);
        handle.set_position(done);
    };
    (bar, update)
}

fn print_registration(r: &Registration) {
    let p = &r.params;
    println!(
        "unit: 2^{} labels ({} MiB), {} layers, {} + {} parents, {} init / {} epoch challenges",
        p.log_nodes,
        p.unit_bytes() >> 20,
        p.layers,
        p.drg_parents,
        p.expander_parents,
        p.init_challenges,
        p.epoch_challenges
    );
    println!("node key {}, unit {}", hex::encode(&r.identity.node_key), r.identity.unit_index);
    println!("replica id {:?}", r.replica_id().0);
    println!("comm_r {:?}", r.comm_r);
    println!("comm_c {:?}", r.comm_c);
}

/// Runs a `zkml space` command.
pub fn run(args: SpaceArgs) -> Result<()> {
    match args.command {
        SpaceCommand::Plot(args) => {
            let params = args.params.params()?;
            let identity = NodeIdentity {
                network_id: hex32("network", &args.network)?,
                node_key: hex::decode(args.node_key.trim()).context("node key: not hex")?,
                unit_index: args.unit,
                registration_beacon: beacon(&args.registration_beacon)?,
            };
            let start = Instant::now();
            let (bar, progress) = plot_bar(&params);
            let plot = Plot::create(&args.dir, &params, &identity, progress);
            bar.finish_and_clear();
            let plot = plot?;
            print_registration(plot.registration());
            println!(
                "plotted {} in {:.1} s; the registration is {}",
                args.dir.display(),
                start.elapsed().as_secs_f64(),
                args.dir.join(zkml_core::space::plot::files::META).display()
            );
        }
        SpaceCommand::Init(args) => {
            let plot = Plot::open(&args.dir)?;
            let (proof, elapsed) = timed("initialization proof", |_| Ok(plot.prove_init(&beacon(&args.beacon)?)?))?;
            let bytes = proof.to_bytes(&plot.registration().params);
            write_atomic(&args.output, &bytes)?;
            if !args.keep_layers {
                plot.discard_layers()?;
            }
            println!("wrote {} ({} bytes, {:.2} s)", args.output.display(), bytes.len(), elapsed.as_secs_f64());
        }
        SpaceCommand::VerifyInit(args) => {
            let registration = load_registration(&args.registration)?;
            let proof = InitProof::from_bytes(&read_file(&args.proof)?, &registration.params)?;
            verify_init(&registration, &beacon(&args.beacon)?, &proof)?;
            println!("verified: initialization proof {}", args.proof.display());
        }
        SpaceCommand::Prove(args) => {
            let plot = Plot::open(&args.dir)?;
            let registration = plot.registration();
            let params = &registration.params;
            let (proof, elapsed) = timed("storage proof", |_| Ok(plot.prove_storage(&beacon(&args.beacon)?)?))?;
            let (bytes, elapsed) = match &args.keys {
                None => (proof.to_bytes(params), elapsed),
                Some(keys) => {
                    let backend = args.backend.select()?;
                    let (compressed, more) = timed("compressed proof", |bar| {
                        bar.set_message("compressed proof: loading keys");
                        let mut keys = StorageKeys::load(keys, params)?;
                        if let Some(msm) = &backend.msm {
                            keys.use_backend(msm.as_ref())?;
                        }
                        bar.set_message("compressed proof");
                        Ok(compress(registration, &keys, &proof)?)
                    })?;
                    (compressed.to_bytes(params), elapsed + more)
                }
            };
            write_atomic(&args.output, &bytes)?;
            println!("wrote {} ({} bytes, {:.2} s)", args.output.display(), bytes.len(), elapsed.as_secs_f64());
        }
        SpaceCommand::Verify(args) => {
            let registration = load_registration(&args.registration)?;
            let params = &registration.params;
            let bytes = read_file(&args.proof)?;
            let beacon = beacon(&args.beacon)?;
            match &args.keys {
                None => verify_storage(&registration, &beacon, &StorageProof::from_bytes(&bytes, params)?)?,
                Some(keys) => {
                    let (srs, vk) = snark::load_verifier(keys, params)?;
                    verify_compressed(&registration, &srs, &vk, &beacon, &CompressedProof::from_bytes(&bytes, params)?)?;
                }
            }
            println!("verified: storage proof {}", args.proof.display());
        }
        SpaceCommand::Setup(args) => {
            let params = args.params.params()?;
            let source = match args.srs.srs {
                Some(path) => SrsSource::File(path),
                None => SrsSource::InsecureDev,
            };
            if source == SrsSource::InsecureDev {
                eprintln!("{DEV_SRS_WARNING}");
            }
            let k = storage_shape(&params).k();
            let backend = args.backend.select()?;
            let (_, elapsed) = timed("setup", |bar| {
                bar.set_message(format!("setup: SRS (k = {k})"));
                let (srs, _) = zkml_core::srs::obtain_srs(&source, k)?;
                let srs = match &backend.msm {
                    Some(msm) => zkml_core::ProverParams::on_backend(srs, msm.as_ref())?,
                    None => srs.into(),
                };
                bar.set_message(format!("setup: keys (k = {k})"));
                let keys = StorageKeys::generate(&params, srs)?;
                keys.save(&args.output, &params)?;
                Ok(())
            })?;
            println!("wrote keys for k = {k} to {} ({:.1} s)", args.output.display(), elapsed.as_secs_f64());
        }
        SpaceCommand::Info(args) => print_registration(&load_registration(&args.path)?),
        SpaceCommand::Bench(args) => bench(args)?,
    }
    Ok(())
}

fn median_time(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(crate::bench::median(times))
}

fn bench(args: BenchArgs) -> Result<()> {
    let threads = cpu_threads();
    let mut results = Vec::new();
    for &log_nodes in &args.log_nodes {
        let params = SpaceParams::recommended(log_nodes);
        params.validate()?;
        let dir = args.work.join(format!("unit-{log_nodes}"));
        let _ = std::fs::remove_dir_all(&dir);
        let identity = NodeIdentity {
            network_id: [0; 32],
            node_key: b"bench".to_vec(),
            unit_index: 0,
            registration_beacon: Beacon([1; 32]),
        };
        eprintln!("unit 2^{log_nodes}: plotting");
        // Time each plotting stage from the progress callback.
        let mut stage_start: Option<(PlotStage, Instant)> = None;
        let mut stage_times: Vec<(PlotStage, Duration)> = Vec::new();
        let (bar, mut show) = plot_bar(&params);
        let start = Instant::now();
        let plot = Plot::create(&dir, &params, &identity, |stage, done, total| {
            show(stage, done, total);
            if stage_start.map(|(s, _)| s) != Some(stage) {
                if let Some((s, t)) = stage_start.take() {
                    stage_times.push((s, t.elapsed()));
                }
                stage_start = Some((stage, Instant::now()));
            }
        });
        let plot_s = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let plot = plot?;
        if let Some((s, t)) = stage_start {
            stage_times.push((s, t.elapsed()));
        }
        let labels_s: f64 = stage_times
            .iter()
            .filter(|(s, _)| matches!(s, PlotStage::Labels { .. }))
            .map(|(_, d)| d.as_secs_f64())
            .sum();
        let trees_s = plot_s - labels_s;
        let registration = plot.registration().clone();
        let mib = params.unit_bytes() as f64 / (1 << 20) as f64;

        let init_beacon = Beacon([2; 32]);
        let t = Instant::now();
        let init = plot.prove_init(&init_beacon)?;
        let init_prove_s = t.elapsed().as_secs_f64();
        let init_bytes = init.to_bytes(&params).len();
        let init_verify_s = median_time(3, || Ok(verify_init(&registration, &init_beacon, &init)?))?;
        plot.discard_layers()?;

        let beacon = Beacon([3; 32]);
        let epoch_prove_s = median_time(5, || plot.prove_storage(&beacon).map(drop).map_err(Into::into))?;
        let proof = plot.prove_storage(&beacon)?;
        let epoch_bytes = proof.to_bytes(&params).len();
        let epoch_verify_s = median_time(21, || Ok(verify_storage(&registration, &beacon, &proof)?))?;

        let mut row = json!({
            "log_nodes": log_nodes,
            "unit_mib": mib,
            "layers": params.layers,
            "epoch_challenges": params.epoch_challenges,
            "threads": threads,
            "plot_s": plot_s,
            "plot_labels_s": labels_s,
            "plot_trees_s": trees_s,
            "plot_mib_per_min_per_core": mib / (plot_s / 60.0) / threads as f64,
            "labels_per_s_sequential": (params.nodes() * u64::from(params.layers)) as f64 / labels_s,
            "init_prove_s": init_prove_s,
            "init_verify_s": init_verify_s,
            "init_proof_bytes": init_bytes,
            "epoch_prove_s": epoch_prove_s,
            "epoch_proof_bytes": epoch_bytes,
            "epoch_verify_native_s": epoch_verify_s,
        });
        if !args.no_snark {
            let k = storage_shape(&params).k();
            eprintln!("unit 2^{log_nodes}: compressed proof (k = {k})");
            let (srs, _) = zkml_core::srs::insecure_dev_srs(k)?;
            let t = Instant::now();
            let keys = StorageKeys::generate(&params, srs)?;
            let keygen_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let compressed = compress(&registration, &keys, &proof)?;
            let snark_prove_s = t.elapsed().as_secs_f64();
            let snark_verify_s =
                median_time(11, || Ok(verify_compressed(&registration, keys.srs(), keys.vk(), &beacon, &compressed)?))?;
            let extra = json!({
                "snark_k": k,
                "snark_keygen_s": keygen_s,
                "snark_prove_s": snark_prove_s,
                "snark_verify_s": snark_verify_s,
                "snark_proof_bytes": compressed.proof.len(),
            });
            row.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        }
        eprintln!("{row}");
        results.push(row);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = json!({ "machine": crate::bench::machine(), "results": results });
    if let Some(parent) = args.output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_atomic(&args.output, serde_json::to_string_pretty(&report)?.as_bytes())?;
    print_table(&results);
    println!("wrote {}", args.output.display());
    Ok(())
}

fn print_table(results: &[Value]) {
    println!("| unit | plot | MiB/min/core | labels/s (seq.) | init prove / verify / size | epoch prove / verify / size | SNARK k / prove / verify / size |");
    println!("|---|---|---|---|---|---|---|");
    for r in results {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let snark = if r.get("snark_k").is_some() {
            format!(
                "{} / {:.1} s / {:.1} ms / {} B",
                r["snark_k"],
                f("snark_prove_s"),
                f("snark_verify_s") * 1e3,
                r["snark_proof_bytes"]
            )
        } else {
            "—".into()
        };
        println!(
            "| 2^{} ({} MiB) | {:.1} s (labels {:.1} s) | {:.1} | {:.0} | {:.2} s / {:.1} ms / {} KiB | {:.1} ms / {:.1} ms / {} B | {} |",
            r["log_nodes"],
            f("unit_mib"),
            f("plot_s"),
            f("plot_labels_s"),
            f("plot_mib_per_min_per_core"),
            f("labels_per_s_sequential"),
            f("init_prove_s"),
            f("init_verify_s") * 1e3,
            r["init_proof_bytes"].as_u64().unwrap_or(0) / 1024,
            f("epoch_prove_s") * 1e3,
            f("epoch_verify_native_s") * 1e3,
            r["epoch_proof_bytes"],
            snark
        );
    }
}
