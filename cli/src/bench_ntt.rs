//! `zkml bench-ntt`: NTT throughput per backend and size, checked against the CPU, as JSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use zkml_core::kernels::cpu::CpuBackend;
use zkml_core::kernels::{Fr, NttBackend};

use crate::bench::median;

/// Arguments of `zkml bench-ntt`.
#[derive(Args)]
pub struct BenchNttArgs {
    /// log2 of the transform sizes.
    #[arg(long, value_delimiter = ',', default_value = "16,18,20")]
    log_sizes: Vec<u32>,
    /// Timed runs per size (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where to write the JSON results.
    #[arg(short, long, default_value = "target/bench/ntt.json")]
    output: PathBuf,
}

/// Runs the benchmark.
pub fn run(args: BenchNttArgs) -> Result<()> {
    if args.log_sizes.iter().any(|k| *k > 28) {
        bail!("--log-sizes above 28 do not fit BN254's domain");
    }
    let mut backends: Vec<Box<dyn NttBackend>> = vec![Box::new(CpuBackend)];
    let mut notes = Vec::new();
    match zkml_core::kernels::wgpu::WgpuBackend::new() {
        Ok(gpu) => backends.push(Box::new(gpu)),
        Err(e) => notes.push(format!("wgpu not measured: {e}")),
    }
    let mut rows = Vec::new();
    println!("| backend | n | forward NTT (ms) | Melem/s |");
    println!("|---|---|---|---|");
    for &log_n in &args.log_sizes {
        let n = 1usize << log_n;
        // Deterministic but non-trivial input; correctness is checked against the CPU below.
        let input: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555)).collect();
        let mut reference = input.clone();
        CpuBackend.ntt(&mut reference)?;
        for backend in &backends {
            let mut times = Vec::new();
            for _ in 0..args.runs.max(1) {
                let mut values = input.clone();
                let start = Instant::now();
                backend.ntt(&mut values)?;
                times.push(start.elapsed().as_secs_f64());
                if values != reference {
                    bail!("{} disagrees with the CPU at n = 2^{log_n}", backend.describe());
                }
            }
            let t = median(times);
            println!("| {} | 2^{log_n} | {:.2} | {:.1} |", backend.describe(), t * 1e3, n as f64 / t / 1e6);
            rows.push(json!({ "backend": backend.describe(), "log_n": log_n, "seconds": t, "elements_per_second": n as f64 / t }));
        }
    }
    for note in &notes {
        println!("{note}");
    }
    let report = json!({
        "what": "forward NTT over BN254 Fr, host memory to host memory (uploads, Montgomery conversion and readback included)",
        "machine": crate::bench::machine(),
        "notes": notes,
        "results": rows,
    });
    if let Some(dir) = args.output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    zkml_core::artifacts::write_atomic(&args.output, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("wrote {}", args.output.display());
    Ok(())
}
