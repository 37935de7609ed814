//! `zkml bench-chart`: draws benchmark JSON (from `bench-kernels`, one file per machine or card) as
//! an SVG chart of time versus size, one line per backend and machine, for cross-GPU comparison.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

/// Arguments of `zkml bench-chart`.
#[derive(Args)]
pub struct ChartArgs {
    /// JSON files written by `zkml bench-kernels` (several machines or cards may be compared).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the SVG.
    #[arg(short, long, default_value = "target/bench/chart.svg")]
    output: PathBuf,
}

/// One line of the chart: its label and (log2 n, seconds) points.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

fn series(inputs: &[PathBuf]) -> Result<(String, Vec<Series>)> {
    let mut what = String::new();
    let mut out: Vec<Series> = Vec::new();
    for path in inputs {
        let json: Value = serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| format!("{}: not JSON", path.display()))?;
        let rows = json["results"].as_array().with_context(|| format!("{}: no \"results\" list", path.display()))?;
        let machine = json["machine"]["cpu"].as_str().unwrap_or("unknown machine").to_string();
        if what.is_empty() {
            what = json["what"].as_str().unwrap_or("benchmark").to_string();
        }
        for row in rows {
            let (Some(backend), Some(log_n), Some(seconds)) =
                (row["backend"].as_str(), row["log_n"].as_f64(), row["seconds"].as_f64())
            else {
                bail!("{}: a result lacks backend, log_n or seconds", path.display());
            };
            if seconds <= 0.0 {
                bail!("{}: a time of {seconds} s cannot be drawn on a log scale", path.display());
            }
            // GPU backends name their device; the CPU backend is told apart by the machine.
            let device = if backend.starts_with("cpu") { format!("{backend} — {machine}") } else { backend.to_string() };
            // NTT rows of another transform than the forward one say which.
            let op = match (row["op"].as_str(), row["transform"].as_str()) {
                (Some(op), Some(transform)) if transform != "forward" => Some(format!("{op} ({transform})")),
                (op, _) => op.map(String::from),
            };
            let label = match op {
                Some(op) => format!("{op}: {device}"),
                None => device,
            };
            match out.iter_mut().find(|s| s.label == label) {
                Some(s) => s.points.push((log_n, seconds)),
                None => out.push(Series { label, points: vec![(log_n, seconds)] }),
            }
        }
    }
    if out.is_empty() {
        bail!("no results to draw");
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok((what, out))
}

const COLORS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// Renders the series as SVG: x is log2 n, y is time on a log10 scale.
fn render(title: &str, series: &[Series]) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 520.0, 80.0, 330.0, 50.0, 60.0);
    let points = series.iter().flat_map(|s| &s.points);
    let (x_min, x_max) = points.clone().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y_min, y_max) = points.fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1.log10()), b.max(p.1.log10())));
    let (y_lo, y_hi) = (y_min.floor(), y_max.ceil().max(y_min.floor() + 1.0));
    let x_span = (x_max - x_min).max(1.0);
    let px = |x: f64| left + (x - x_min) / x_span * (w - left - right);
    let py = |y: f64| top + (y_hi - y.log10()) / (y_hi - y_lo) * (h - top - bottom);
    let mut svg = String::new();
    let _ = writeln!(svg, r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#);
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{left}" y="25" font-size="15">{}</text>"#, escape(title));
    for decade in (y_lo as i32)..=(y_hi as i32) {
        let y = py(10f64.powi(decade));
        let label = match decade {
            d if d >= 0 => format!("{} s", 10f64.powi(d)),
            d if d >= -3 => format!("{} ms", 10f64.powi(d + 3)),
            d => format!("{} µs", 10f64.powi(d + 6)),
        };
        let _ = writeln!(svg, r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/>"##, w - right);
        let _ = writeln!(svg, r#"<text x="{}" y="{:.1}" text-anchor="end">{label}</text>"#, left - 6.0, y + 4.0);
    }
    for x in (x_min as i32)..=(x_max as i32) {
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{}" text-anchor="middle">2^{x}</text>"#, px(f64::from(x)), h - bottom + 18.0);
    }
    let _ = writeln!(svg, r#"<text x="{:.1}" y="{}" text-anchor="middle">n</text>"#, (left + w - right) / 2.0, h - 15.0);
    let _ = writeln!(svg, r#"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="black"/>"#, w - left - right, h - top - bottom);
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<String> = s.points.iter().map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y))).collect();
        let _ = writeln!(svg, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#, line.join(" "));
        for (x, y) in &s.points {
            let _ = writeln!(svg, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#, px(*x), py(*y));
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let _ = writeln!(svg, r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="3"/>"#, w - right + 15.0, w - right + 40.0);
        let _ = writeln!(svg, r#"<text x="{}" y="{}">{}</text>"#, w - right + 46.0, ly + 4.0, escape(&s.label));
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Runs `zkml bench-chart`.
pub fn run(args: ChartArgs) -> Result<()> {
    let (what, series) = series(&args.inputs)?;
    if let Some(dir) = args.output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    zkml_core::artifacts::write_atomic(&args.output, render(&what, &series).as_bytes())?;
    println!("wrote {} ({} lines)", args.output.display(), series.len());
    Ok(())
}
