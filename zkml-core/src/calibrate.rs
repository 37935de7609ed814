//! Quantization and calibration: pick fixed-point scales and the range bound from sample
//! inputs, and measure the fidelity of the quantized network against float execution.
//!
//! Every activation shares one scale `2^scale_bits`, chosen so that the largest calibrated
//! magnitude uses about [`ACTIVATION_BITS`] bits; weights use `2^shift`, chosen so the largest
//! weight uses about [`WEIGHT_BITS`] bits ([`PRECISE_ACTIVATION_BITS`] and
//! [`PRECISE_WEIGHT_BITS`] in networks with products or function tables). Wide scales are cheap here: range checks are split into limbs, so extra
//! bits cost a few rows rather than a larger `k`.

use zkml_circuits::quantized::{requantize, MAX_ACCUMULATOR_BITS};
use zkml_circuits::lookup::{Function, LookupFn, DEFAULT_LOOKUP_BITS, DIVISION_LOOKUP_BITS};
use zkml_circuits::quantized::ONE;
use zkml_circuits::Activation;
use zkml_circuits::{Layer, LayerOp, QuantizedNetwork};

use crate::artifacts::FidelityReport;
use crate::error::{Error, Result};
use crate::float_model::{FloatModel, FloatOp};
use crate::onnx::OnnxModel;
use crate::quantize::{check_input, dequantize, quantize_input, quantize_value};

/// Target bit width of the largest calibrated activation.
pub const ACTIVATION_BITS: i32 = 16;
/// Target bit width of the largest weight.
pub const WEIGHT_BITS: i32 = 12;
/// Target bit width of the largest activation in networks with product layers or function
/// tables: products, normalizations and softmax amplify rounding. With
/// [`PRECISE_WEIGHT_BITS`], this took the benchmark's transformer block from a max abs output
/// error of 2.34e-3 (16 and 14 bits) to 3.85e-4 at the same k = 17 (17 bits: 1.46e-3, 18 bits:
/// 7.3e-4; the wider range checks cost rows, not a larger k).
pub const PRECISE_ACTIVATION_BITS: i32 = 19;
/// Target bit width of the largest weight in networks with product layers or function tables
/// (see [`PRECISE_ACTIVATION_BITS`]).
pub const PRECISE_WEIGHT_BITS: i32 = 16;
/// Largest prescale of a table layer's input (see [`LookupFn`]).
const MAX_PRESCALE: i32 = 16;
/// Bounds on either scale's fractional bits.
const SCALE_RANGE: (i32, i32) = (2, 16);

fn bits_for(max_abs: f64) -> i32 {
    if max_abs > 0.0 {
        max_abs.log2().ceil() as i32
    } else {
        0
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}

/// Calibrates on `samples`: returns the quantized network and its fidelity report.
pub fn calibrate(model: &OnnxModel, samples: &[Vec<f32>]) -> Result<(QuantizedNetwork, FidelityReport)> {
    let float = &model.float;
    if samples.is_empty() {
        return Err(Error::Data("calibration needs at least one sample".into()));
    }
    let mut max_activation = 0f64;
    let mut max_pre = vec![0f64; float.layers.len()];
    let mut references = Vec::with_capacity(samples.len());
    for sample in samples {
        check_input(sample, float.input_len())?;
        let (pre, out) = float.forward(sample);
        let reference = model.run_reference(sample)?;
        // Our reading of the graph must agree with tract's execution of it.
        let drift = out.iter().zip(&reference).map(|(a, b)| (a - *b as f64).abs() / (1.0 + b.abs() as f64)).fold(0.0, f64::max);
        if reference.len() != out.len() || drift > 1e-3 {
            return Err(Error::UnsupportedModel(format!(
                "the imported layers disagree with the ONNX graph's own execution (relative difference {drift:.2e})"
            )));
        }
        references.push(reference);
        check_table_domains(float, &pre)?;
        for (m, layer_pre) in max_pre.iter_mut().zip(&pre) {
            *m = layer_pre.iter().fold(*m, |m, v| m.max(v.abs()));
        }
        // Table outputs (e^x, say) are values too: the scale must hold them.
        let activated = float.layers.iter().zip(&pre).flat_map(|(layer, pre)| {
            pre.iter().filter_map(move |v| match layer.activation {
                Activation::Table(f) => Some(f.function.eval(*v)),
                _ => None,
            })
        });
        let values = sample.iter().map(|v| *v as f64).chain(pre.iter().flatten().copied()).chain(activated);
        max_activation = values.fold(max_activation, |m, v| m.max(v.abs()));
    }
    let max_weight = float
        .layers
        .iter()
        .filter_map(|l| match &l.op {
            FloatOp::Affine(rows) => Some(rows.iter().flatten()),
            FloatOp::Product(_) => None,
        })
        .flatten()
        .filter(|(v, _)| *v != ONE)
        .fold(0f64, |m, (_, w)| m.max(w.abs()));
    let nonlinear = float
        .layers
        .iter()
        .any(|l| matches!(l.op, FloatOp::Product(_)) || matches!(l.activation, Activation::Table(_)));
    let (activation_bits, weight_bits) =
        if nonlinear { (PRECISE_ACTIVATION_BITS, PRECISE_WEIGHT_BITS) } else { (ACTIVATION_BITS, WEIGHT_BITS) };
    let scale_bits = (activation_bits - bits_for(max_activation)).clamp(SCALE_RANGE.0, SCALE_RANGE.1) as u32;
    let shift = (weight_bits - bits_for(max_weight)).clamp(SCALE_RANGE.0, SCALE_RANGE.1) as u32;
    // Table layers whose inputs stay small next to the largest activation are computed larger,
    // so that their table inputs keep a fine step.
    let prescales: Vec<u32> = float
        .layers
        .iter()
        .zip(&max_pre)
        .map(|(layer, m)| match (&layer.activation, &layer.op) {
            (Activation::Table(_), FloatOp::Affine(_)) => {
                (bits_for(max_activation) - bits_for(*m)).clamp(0, MAX_PRESCALE) as u32
            }
            _ => 0,
        })
        .collect();
    let mut network = quantize_weights(float, scale_bits, shift, &prescales);

    // Measure the requantized range with a loose bound (and exact function tables), then fix it
    // with 2x headroom.
    let lookup_bits = network.lookup_bits;
    network.range_bits = 62;
    network.lookup_bits = 63;
    let mut max_q = 0i128;
    for sample in samples {
        let trace = network.forward(&quantize_input(sample, scale_bits))?;
        for y in trace.accumulators.iter().flatten() {
            max_q = max_q.max(requantize(*y, shift).0.abs());
        }
        max_q = max_q.max(trace.input.iter().map(|v| v.unsigned_abs() as i128).max().unwrap_or(0));
    }
    network.range_bits = (128 - max_q.leading_zeros()).max(1) + 1;
    network.lookup_bits = lookup_bits;
    if network.range_bits + shift > MAX_ACCUMULATOR_BITS {
        return Err(Error::UnsupportedModel(format!("activations need {} bits, too many", network.range_bits)));
    }
    // The fidelity of the network as it will be proved.
    let traces = samples
        .iter()
        .map(|sample| network.forward(&quantize_input(sample, scale_bits)))
        .collect::<std::result::Result<Vec<_>, _>>()?;

    let mut report = FidelityReport { samples: samples.len(), max_abs_error: 0.0, mean_abs_error: 0.0, top1_agreement: 0 };
    let mut total = 0f64;
    let mut count = 0usize;
    for (trace, reference) in traces.iter().zip(&references) {
        let out = dequantize(trace.output(), scale_bits);
        for (a, b) in out.iter().zip(reference) {
            let e = (a - b).abs() as f64;
            report.max_abs_error = report.max_abs_error.max(e);
            total += e;
            count += 1;
        }
        report.top1_agreement += usize::from(argmax(&out) == argmax(reference));
    }
    report.mean_abs_error = total / count.max(1) as f64;
    Ok((network, report))
}

/// Log, Reciprocal, Rsqrt and Sqrt are proved only where they are defined: inputs at or below 0
/// (below 0 for Sqrt) on the calibration samples are reported with the layer and the range they
/// reached.
fn check_table_domains(float: &FloatModel, pre: &[Vec<f64>]) -> Result<()> {
    for (layer, values) in float.layers.iter().zip(pre) {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let bad = match layer.activation {
            Activation::Table(f) if f.function.positive_domain() => low <= 0.0,
            Activation::Table(f) if f.function == Function::Sqrt => low < 0.0,
            _ => continue,
        };
        if bad {
            return Err(Error::UnsupportedModel(format!(
                "layer '{}' ({:?}) receives inputs down to {low:.4} on the calibration samples; its table covers only inputs above 0",
                layer.name, layer.activation
            )));
        }
    }
    Ok(())
}

/// Table input width: none without tables, wider when the network divides.
fn lookup_bits(float: &FloatModel) -> u32 {
    let functions: Vec<Function> = float
        .layers
        .iter()
        .filter_map(|l| match l.activation {
            Activation::Table(f) => Some(f.function),
            _ => None,
        })
        .collect();
    if functions.iter().any(|f| matches!(f, Function::Reciprocal | Function::Rsqrt)) {
        DIVISION_LOOKUP_BITS
    } else if functions.is_empty() {
        0
    } else {
        DEFAULT_LOOKUP_BITS
    }
}

/// Quantizes the float layers; layer `l`'s rows (and its table input) are scaled by
/// `2^prescales[l]`.
fn quantize_weights(float: &FloatModel, scale_bits: u32, shift: u32, prescales: &[u32]) -> QuantizedNetwork {
    // Biases (terms on ONE) live at the accumulator's scale, weights at the weights' scale.
    let quantize_row = |row: &Vec<(u32, f64)>, prescale: u32| {
        row.iter()
            .map(|(v, w)| (*v, quantize_value(*w, prescale + if *v == ONE { scale_bits + shift } else { shift })))
            .collect()
    };
    QuantizedNetwork {
        input_len: float.input_len(),
        scale_bits,
        shift,
        range_bits: 0,
        layers: float
            .layers
            .iter()
            .zip(prescales)
            .map(|(l, &prescale)| Layer {
                name: l.name.clone(),
                op: match &l.op {
                    FloatOp::Affine(rows) => LayerOp::Affine(rows.iter().map(|r| quantize_row(r, prescale)).collect()),
                    FloatOp::Product(rows) => LayerOp::Product(rows.clone()),
                },
                activation: match l.activation {
                    Activation::Table(f) => Activation::Table(LookupFn { prescale, ..f }),
                    other => other,
                },
            })
            .collect(),
        outputs: float.outputs.clone(),
        lookup_bits: lookup_bits(float),
    }
}
