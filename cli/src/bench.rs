//! `zkml bench`: times the whole pipeline on ONNX models and, when EZKL's runner is available,
//! EZKL on the same files in the same run; writes JSON and prints a Markdown table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::{json, Value};
use zkml_core::kernels::{select, BackendRequest, MsmBackend};
use zkml_core::srs::insecure_dev_srs;
use zkml_core::{data, fixtures, onnx::OnnxModel, CompileOptions, Proof, ProverParams, VerifierKeys};

/// Arguments of `zkml bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Working directory (models, artifacts, EZKL's files).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Where to write the JSON results.
    #[arg(short, long, default_value = "target/bench/results.json")]
    output: PathBuf,
    /// EZKL runner script (`ezkl_bench.py`); skipped when absent or when EZKL is not installed.
    #[arg(long)]
    ezkl: Option<PathBuf>,
    /// Proving runs per model (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Extra ONNX models to include (their input data file must sit beside them as NAME.json).
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Run only the built-in models with these names (default: all of them).
    #[arg(long)]
    only: Vec<String>,
    /// Backends for the prover's MSMs, each measured in turn (cpu, cuda, wgpu, auto).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    backends: Vec<BackendRequest>,
}

/// Size at which development SRS generation is timed.
const DEV_SRS_BENCH_K: u32 = 17;

/// The built-in benchmark models, all seeded: an MNIST-shaped MLP, a small MLP, a
/// LeNet-5-style CNN, two CIFAR-style CNNs (the second downsampling early, small enough for
/// EZKL on a 24 GiB machine) and a transformer block (sequence 16, width 32). Each is
/// `(name, ONNX bytes, input length)`.
fn builtin() -> Vec<(&'static str, Vec<u8>, usize)> {
    vec![
        ("mlp_784_56_10", fixtures::mlp_onnx(&[784, 56, 10], 1), 784),
        ("mlp_64_32_16_10", fixtures::mlp_onnx(&[64, 32, 16, 10], 1), 64),
        ("lenet5_1x28x28", fixtures::lenet_onnx(1), 784),
        ("cifar_cnn_3x32x32", fixtures::cifar_cnn_onnx(1), 3 * 32 * 32),
        ("cifar_strided_cnn_3x32x32", fixtures::cifar_strided_cnn_onnx(1), 3 * 32 * 32),
        ("transformer_16x32", fixtures::transformer_onnx(16, 32, 1), 16 * 32),
    ]
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ours(model_path: &Path, data_path: &Path, dir: &Path, runs: u32, backend: Option<&dyn MsmBackend>) -> Result<Value> {
    let onnx = std::fs::read(model_path)?;
    let samples = data::read_input_data(data_path)?;
    let t = Instant::now();
    let model = zkml_core::compile(&onnx, &samples, &CompileOptions::default())?;
    let t_compile = t.elapsed().as_secs_f64();
    model.save(dir)?;
    let k = model.settings.k;
    let t = Instant::now();
    let (srs, _) = insecure_dev_srs(k)?;
    let t_srs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let params = match backend {
        Some(backend) => ProverParams::on_backend(srs, backend)?,
        None => srs.into(),
    };
    let t_upload = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let keys = zkml_core::setup(&model, params, |_| {})?;
    let t_setup = t.elapsed().as_secs_f64();
    let mut prove_times = Vec::new();
    let mut proof = None;
    for _ in 0..runs {
        let t = Instant::now();
        proof = Some(zkml_core::prove(&model, &keys, &samples[0])?);
        prove_times.push(t.elapsed().as_secs_f64());
    }
    let proof: Proof = proof.expect("at least one run");
    if let Some(failure) = keys.params.backend_failure() {
        anyhow::bail!("the MSM backend failed ({failure})");
    }
    let verifier = VerifierKeys { srs: keys.srs().clone(), vk: keys.vk().clone() };
    let t = Instant::now();
    zkml_core::verify(&model.settings, &verifier, &proof)?;
    let t_verify = t.elapsed().as_secs_f64();
    let reference = OnnxModel::from_bytes(&onnx)?.run_reference(&samples[0])?;
    let err = proof.outputs.iter().zip(&reference).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
    keys.save(dir)?;
    let pk_bytes = std::fs::metadata(dir.join(zkml_core::artifacts::files::PK))?.len();
    Ok(json!({
        "backend": keys.params.backend(),
        "k": k,
        "advice_columns": model.settings.shape.advice_width(),
        "seconds": { "compile": t_compile, "srs": t_srs, "srs_upload": t_upload, "setup": t_setup, "prove": median(prove_times.clone()), "prove_runs": prove_times, "verify": t_verify },
        "proof_bytes": proof.proof.len(),
        "pk_bytes": pk_bytes,
        "max_abs_err": err,
        "verified": true,
    }))
}

fn ezkl(script: &Path, model_path: &Path, data_path: &Path, dir: &Path) -> Value {
    let out = Command::new("python3").arg(script).arg(model_path).arg(data_path).arg(dir).output();
    match out {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<Value>(l).ok())
                .unwrap_or_else(|| json!({ "error": "no JSON line in EZKL's output" }))
        }
        Ok(out) => json!({ "error": String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_string() }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The machine a benchmark ran on: CPU model, threads, and the commit the binary was built from
/// (else the checkout it runs in).
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let built_from = env!("ZKML_BUILD_COMMIT");
    let commit = if built_from.is_empty() {
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    } else {
        built_from.to_string()
    };
    json!({ "cpu": cpu, "threads": std::thread::available_parallelism().map_or(1, |n| n.get()), "commit": commit })
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<()> {
    std::fs::create_dir_all(&args.work).with_context(|| format!("creating {}", args.work.display()))?;
    let mut models: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    for (name, onnx, input_len) in builtin() {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        let model = args.work.join(format!("{name}.onnx"));
        let data = args.work.join(format!("{name}.json"));
        zkml_core::artifacts::write_atomic(&model, &onnx)?;
        let samples = fixtures::random_samples(input_len, 1, 2);
        zkml_core::artifacts::write_atomic(&data, data::input_data_json(&samples).as_bytes())?;
        models.push((name.to_string(), model, data));
    }
    for model in &args.model {
        let name = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        models.push((name, model.clone(), model.with_extension("json")));
    }
    let mut backends = Vec::new();
    for request in &args.backends {
        let selection = select(*request).with_context(|| format!("--backends {request:?}"))?;
        eprintln!("backend: {}", selection.reason);
        backends.push(selection.msm);
    }
    let mut results = Vec::new();
    for (name, model, data) in &models {
        let mut by_backend = Vec::new();
        for backend in &backends {
            eprintln!("bench {name}: zkml");
            by_backend.push(
                ours(model, data, &args.work.join(format!("{name}.zkml")), args.runs, backend.as_deref())
                    .unwrap_or_else(|e| json!({ "error": format!("{e:#}") })),
            );
        }
        let ezkl = match &args.ezkl {
            Some(script) if script.exists() => {
                eprintln!("bench {name}: ezkl");
                ezkl(script, model, data, &args.work.join(format!("{name}.ezkl")))
            }
            _ => json!({ "error": "not run (pass --ezkl PATH/TO/ezkl_bench.py)" }),
        };
        // "zkml" is the first backend's result (the layout of earlier result files).
        results.push(json!({ "model": name, "zkml": by_backend[0], "zkml_by_backend": by_backend, "ezkl": ezkl }));
    }
    // Development SRS generation, uncached, at the size the issue tracker's target names.
    let t = Instant::now();
    let srs = zkml_core::srs::dev_srs(DEV_SRS_BENCH_K)?;
    let dev_srs_seconds = t.elapsed().as_secs_f64();
    drop(srs);
    println!("development SRS generation, k = {DEV_SRS_BENCH_K}: {dev_srs_seconds:.2} s");
    let report = json!({
        "machine": machine(),
        "dev_srs": { "k": DEV_SRS_BENCH_K, "seconds": dev_srs_seconds },
        "results": results,
    });
    zkml_core::artifacts::write_atomic(&args.output, serde_json::to_string_pretty(&report)?.as_bytes())?;

    println!("| model | prover | k | prove (s) | setup (s) | verify (ms) | proof (B) | max abs err |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        let runs = r["zkml_by_backend"].as_array().into_iter().flatten().map(|v| (format!("zkml ({})", v["backend"].as_str().unwrap_or("?")), v));
        for (prover, v) in runs.chain([("ezkl".to_string(), &r["ezkl"])]) {
            if let Some(e) = v.get("error") {
                println!("| {} | {prover} | – | {} | | | | |", r["model"].as_str().unwrap_or(""), e.as_str().unwrap_or(""));
                continue;
            }
            let s = &v["seconds"];
            println!(
                "| {} | {prover} | {} | {:.3} | {:.2} | {:.1} | {} | {:.2e} |",
                r["model"].as_str().unwrap_or(""),
                v["k"],
                s["prove"].as_f64().unwrap_or(f64::NAN),
                s["setup"].as_f64().unwrap_or(f64::NAN),
                s["verify"].as_f64().unwrap_or(f64::NAN) * 1e3,
                v["proof_bytes"],
                v["max_abs_err"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    println!("wrote {}", args.output.display());
    Ok(())
}
