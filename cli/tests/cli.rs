//! The `zkml` binary end to end: each subcommand through files, and its exit statuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn zkml(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkml"))
        .args(args)
        .current_dir(dir)
        .env("ZKML_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("the zkml binary runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An empty directory for one test under cargo's `target/tmp`: emptied when the test starts,
/// so repeated runs reuse it instead of piling up in the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("zkml-cli-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn compile_setup_prove_verify_and_reject_a_tampered_proof() {
    let dir = temp_dir("poi");
    ok(&zkml(&dir, &["gen-mlp", "--dims", "20,8,4", "-o", "m.onnx", "--samples", "4", "--data-output", "d.json"]));
    let out = ok(&zkml(&dir, &["compile", "m.onnx", "--data", "d.json", "-o", "build"]));
    assert!(out.contains("top-1 agreement 4/4"), "{out}");
    let settings: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("build/settings.json")).unwrap()).unwrap();
    assert!(settings["k"].as_u64().unwrap() >= 6);

    let setup = zkml(&dir, &["setup", "build", "--dev-srs"]);
    ok(&setup);
    assert!(String::from_utf8_lossy(&setup.stderr).contains("INSECURE"));
    ok(&zkml(&dir, &["prove", "build", "--data", "d.json", "-o", "proof.json"]));
    let proof: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("proof.json")).unwrap()).unwrap();
    assert_eq!(proof["outputs"].as_array().unwrap().len(), 4);
    assert!(ok(&zkml(&dir, &["verify", "build", "proof.json"])).contains("verified"));

    // Flip one hex digit of the proof: verification fails with a reason and a non-zero status.
    let mut tampered = proof.clone();
    let hex = tampered["proof"].as_str().unwrap().to_string();
    let flipped = if hex.as_bytes()[100] == b'0' { "1" } else { "0" };
    tampered["proof"] = format!("{}{}{}", &hex[..100], flipped, &hex[101..]).into();
    std::fs::write(dir.join("bad.json"), tampered.to_string()).unwrap();
    let out = zkml(&dir, &["verify", "build", "bad.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("proof rejected"), "{}", String::from_utf8_lossy(&out.stderr));

    // Missing files and unsupported models are errors, not panics.
    let out = zkml(&dir, &["prove", "nowhere", "--data", "d.json", "-o", "p.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere/settings.json"));
    std::fs::write(dir.join("junk.onnx"), b"junk").unwrap();
    let out = zkml(&dir, &["compile", "junk.onnx", "--data", "d.json", "-o", "junk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed ONNX model"));
}

#[test]
fn space_plot_init_prove_and_verify() {
    let dir = temp_dir("space");
    let beacon = |b: &str| b.repeat(32);
    let (b1, b2, b3) = (beacon("11"), beacon("22"), beacon("33"));
    let plot = ["space", "plot", "unit", "--node-key", "abcd", "--registration-beacon", &b1, "--log-nodes", "8", "--preset", "testing"];
    assert!(ok(&zkml(&dir, &plot)).contains("comm_r"));
    ok(&zkml(&dir, &["space", "init", "unit", "--beacon", &b2, "-o", "init.bin"]));
    assert!(!dir.join("unit/layers.bin").exists(), "layers are discarded after the initialization proof");
    ok(&zkml(&dir, &["space", "verify-init", "--registration", "unit/plot.meta", "--beacon", &b2, "init.bin"]));
    ok(&zkml(&dir, &["space", "prove", "unit", "--beacon", &b3, "-o", "epoch.bin"]));
    assert!(ok(&zkml(&dir, &["space", "verify", "--registration", "unit", "--beacon", &b3, "epoch.bin"])).contains("verified"));
    ok(&zkml(&dir, &["space", "setup", "--dev-srs", "--log-nodes", "8", "--preset", "testing", "-o", "keys"]));
    ok(&zkml(&dir, &["space", "prove", "unit", "--beacon", &b3, "--keys", "keys", "-o", "epoch.snark"]));
    let verify_snark = ["space", "verify", "--registration", "unit", "--beacon", &b3, "--keys", "keys", "epoch.snark"];
    ok(&zkml(&dir, &verify_snark));

    // Another epoch's beacon, a proof of the wrong kind, another node's plot directory.
    let out = zkml(&dir, &["space", "verify", "--registration", "unit", "--beacon", &b2, "epoch.bin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another epoch"));
    let out = zkml(&dir, &["space", "verify", "--registration", "unit", "--beacon", &b3, "--keys", "keys", "epoch.bin"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a compressed storage proof"), "{out:?}");
    let other = ["space", "plot", "unit", "--node-key", "ef01", "--registration-beacon", &b1, "--log-nodes", "8", "--preset", "testing"];
    let out = zkml(&dir, &other);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another replica"), "{out:?}");
}

#[test]
fn bench_chart_draws_one_line_per_backend_and_machine() {
    let dir = temp_dir("chart");
    let results = |cpu: &str, gpu: &str| {
        serde_json::json!({
            "what": "forward NTT",
            "machine": { "cpu": cpu },
            "results": [
                { "backend": "cpu (2 threads)", "log_n": 16, "seconds": 0.015 },
                { "backend": "cpu (2 threads)", "log_n": 20, "seconds": 0.25 },
                { "backend": gpu, "log_n": 16, "seconds": 0.0004 },
                { "backend": gpu, "log_n": 20, "seconds": 0.002 },
            ]
        })
        .to_string()
    };
    std::fs::write(dir.join("a.json"), results("Xeon", "wgpu (NVIDIA H100)")).unwrap();
    std::fs::write(dir.join("b.json"), results("EPYC", "wgpu (NVIDIA H200)")).unwrap();
    ok(&zkml(&dir, &["bench-chart", "a.json", "b.json", "-o", "chart.svg"]));
    let svg = std::fs::read_to_string(dir.join("chart.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 4);
    for label in ["cpu (2 threads) — Xeon", "cpu (2 threads) — EPYC", "NVIDIA H100", "NVIDIA H200", "1 ms"] {
        assert!(svg.contains(label), "{label} missing");
    }
    // NTT rows of the inverse or coset transform are lines of their own.
    let rows: Vec<_> = [("forward", 16, 0.0001), ("forward", 20, 0.0006), ("inverse", 16, 0.00012), ("inverse", 20, 0.0007)]
        .iter()
        .map(|(transform, log_n, seconds)| serde_json::json!({ "op": "ntt", "transform": transform, "backend": "cuda NVIDIA H100", "log_n": log_n, "seconds": seconds }))
        .collect();
    std::fs::write(dir.join("c.json"), serde_json::json!({ "machine": { "cpu": "Xeon" }, "results": rows }).to_string()).unwrap();
    ok(&zkml(&dir, &["bench-chart", "c.json", "-o", "transforms.svg"]));
    let svg = std::fs::read_to_string(dir.join("transforms.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("ntt: cuda NVIDIA H100") && svg.contains("ntt (inverse): cuda NVIDIA H100"), "{svg}");
    std::fs::write(dir.join("bad.json"), "{\"results\": [{\"backend\": \"cpu\"}]}").unwrap();
    let out = zkml(&dir, &["bench-chart", "bad.json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("lacks backend"), "{out:?}");
}

/// `backends` lists every backend of the build, the CPU always available, each GPU one with
/// its device or the reason it is missing, then what `auto` picks.
#[test]
fn backends_lists_each_backend_and_the_auto_choice() {
    let dir = temp_dir("backends");
    let text = ok(&zkml(&dir, &["backends"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("cpu") && lines[0].contains(" available "), "{text}");
    for (line, name) in lines[1..3].iter().zip(["cuda", "wgpu"]) {
        assert!(line.starts_with(name), "{text}");
        if line.contains("unavailable") {
            assert!(line.contains(&format!("backend '{name}' is unavailable: ")), "a reason: {text}");
        } else {
            assert!(line.contains(&format!(" {name} ")) || line.contains(&format!(" {name} (")), "the device: {text}");
        }
    }
    assert!(lines[3].starts_with("auto: "), "{text}");
    // An adapter asked for by a name no adapter has: wgpu unavailable, the adapters named.
    let out = Command::new(env!("CARGO_BIN_EXE_zkml"))
        .arg("backends")
        .env("ZKML_CACHE_DIR", dir.join("cache"))
        .env("ZKML_WGPU_ADAPTER", "no-such-adapter")
        .output()
        .unwrap();
    let text = ok(&out);
    let wgpu = text.lines().find(|l| l.starts_with("wgpu")).unwrap();
    assert!(wgpu.contains("unavailable") && wgpu.contains("ZKML_WGPU_ADAPTER=\"no-such-adapter\""), "{text}");
}

/// Sizes whose arrays would not fit the memory available are refused before any work, with the
/// sizes' need and what is available (Linux; 2^28 MSM rows need 40 GiB, more than CI machines
/// have free).
#[test]
fn bench_kernels_refuses_sizes_beyond_the_memory() {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?.to_string();
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    match available {
        Some(kib) if kib * 1024 < 40 << 30 => {}
        _ => return eprintln!("skipped: no /proc/meminfo, or 40 GiB or more available"),
    }
    let dir = temp_dir("bench-kernels-memory");
    let out = zkml(&dir, &["bench-kernels", "--backends", "cpu", "--ops", "msm", "--log-sizes", "10,28", "-o", "k.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("needs at least 40.0 GiB") && err.contains("available"), "{err}");
    assert!(!dir.join("k.json").exists());
}

/// `bench-kernels` on the wgpu backend (lavapipe in CI), each result checked against the CPU by
/// the command itself, with a profile per kernel in the JSON. Skips, saying why, where no wgpu
/// adapter opens, unless `ZKML_REQUIRE_WGPU` is set.
#[test]
fn bench_kernels_times_and_profiles_the_wgpu_kernels() {
    let dir = temp_dir("bench-kernels");
    let out = zkml(&dir, &["bench-kernels", "--backends", "cpu,wgpu", "--log-sizes", "5", "--runs", "1", "--profile", "-o", "k.json"]);
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unavailable") && std::env::var_os("ZKML_REQUIRE_WGPU").is_none() {
        eprintln!("skipped: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("k.json")).unwrap()).unwrap();
    let rows = report["results"].as_array().unwrap();
    let kernels = |op: &str| -> Vec<String> {
        let row = rows.iter().find(|r| r["op"] == op && r["backend"].as_str().unwrap().starts_with("wgpu")).expect("a wgpu row");
        row["profile"].as_array().expect("a profile").iter().map(|k| k["kernel"].as_str().unwrap().to_string()).collect()
    };
    // 2^5: the pass over stages 0-2 on bit-reversed reads and one over stages 3-4.
    assert_eq!(kernels("ntt"), ["bit_reverse_pass", "butterfly_pass"]);
    assert!(kernels("msm").iter().any(|k| k == "msm_accumulate"), "{:?}", kernels("msm"));
    // How near the limits: the transform's passes over the array, the MSM's plan and digit rate.
    let wgpu_row = |op: &str| rows.iter().find(|r| r["op"] == op && r["backend"].as_str().unwrap().starts_with("wgpu")).unwrap();
    assert_eq!(wgpu_row("ntt")["array_passes"], 2);
    assert!(wgpu_row("ntt")["array_bytes_per_second"].as_f64().unwrap() > 0.0);
    let plan = &wgpu_row("msm")["plan"];
    assert!(plan["windows"].as_u64().unwrap() * plan["window_bits"].as_u64().unwrap() >= 254, "{plan}");
    assert!(wgpu_row("msm")["digits_per_second"].as_f64().unwrap() > 0.0);
    // How long opening the backend (compiling its NTT kernels) took.
    assert!(report["backend_open_seconds"]["wgpu"].as_f64().unwrap() > 0.0, "{}", report["backend_open_seconds"]);
    assert!(rows.iter().filter(|r| r["backend"].as_str().unwrap().starts_with("cpu")).all(|r| r.get("profile").is_none()));
}
