//! Fixed-point conversion between the model's floats and the circuit's integers.

use crate::error::{Error, Result};

/// Checks a float input: right length, every value finite.
pub fn check_input(input: &[f32], expected: usize) -> Result<()> {
    if input.len() != expected {
        return Err(Error::Data(format!("the input has {} values but the model expects {expected}", input.len())));
    }
    if let Some(i) = input.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data(format!("input value {i} is {}, not a finite number", input[i])));
    }
    Ok(())
}

/// `round(v · 2^bits)`.
pub fn quantize_value(v: f64, bits: u32) -> i64 {
    (v * (1u64 << bits) as f64).round() as i64
}

/// Quantizes a float input at `scale_bits` (after [`check_input`]).
pub fn quantize_input(input: &[f32], scale_bits: u32) -> Vec<i64> {
    input.iter().map(|v| quantize_value(*v as f64, scale_bits)).collect()
}

/// Converts quantized outputs back to floats.
pub fn dequantize(values: &[i64], scale_bits: u32) -> Vec<f32> {
    values.iter().map(|v| (*v as f64 / (1u64 << scale_bits) as f64) as f32).collect()
}
