//! Nonlinear functions proved by table lookup, and their quantized tables.
//!
//! A layer with a [`Function`] activation first requantizes as usual (value `q` at scale
//! `2^scale_bits`, `|q| < 2^range_bits`), then coarsens it to the table's input
//! `q' = round(q / 2^e)` with `e = range_bits + 1 − lookup_bits` (so `|q'| ≤ 2^(lookup_bits−1)`:
//! every provable `q` has a table entry and no input can leave the table), and outputs
//! `round(f(q'·2^e / 2^scale_bits) · 2^scale_bits)`. A layer whose inputs stay far below the
//! network's range is computed `2^prescale` larger (its weights and bias scaled, see
//! [`LookupFn`]) so that its inputs use the table's whole width.
//!
//! Error bound of one lookup, against `f` of the requantized input: the input moves by at most
//! `2^(e−1)` steps of `2^−scale_bits`, the output is rounded to half a step, so
//! `|error| ≤ L·2^(e−1−scale_bits) + 2^(−1−scale_bits)` with `L` the largest slope of `f` over the
//! calibrated range (`1/4` for sigmoid, `1` for tanh, erf `2/√π`, `e^x_max` for exp). The
//! fidelity report measures the end-to-end effect on the calibration samples.

use serde::{Deserialize, Serialize};

/// Default width of a table's input: `2^12 + 1` entries per function.
pub const DEFAULT_LOOKUP_BITS: u32 = 12;

/// Width of a table's input when the network divides (`Reciprocal`, `Rsqrt`): `2^14 + 1`
/// entries, since `1/x` near the bottom of the range needs a fine input step.
pub const DIVISION_LOOKUP_BITS: u32 = 14;

/// A unary function evaluated through a lookup table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// `1 / (1 + e^−x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `e^x`.
    Exp,
    /// `ln(x)`; inputs at or below 0 read the table's smallest positive entry.
    Log,
    /// `√x`; inputs below 0 give 0.
    Sqrt,
    /// The error function (GELU comes as `x·(1 + erf(x/√2))/2`, a table and a product).
    Erf,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x·clip(x/6 + 1/2, 0, 1)`.
    HardSwish,
    /// `1/x`; inputs at or below 0 read the table's smallest positive entry.
    Reciprocal,
    /// `1/√x`; inputs at or below 0 read the table's smallest positive entry.
    Rsqrt,
}

impl Function {
    /// The function in floating point (what the float model and the tables use).
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Function::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Function::Tanh => x.tanh(),
            Function::Exp => x.exp(),
            Function::Log => x.ln(),
            Function::Sqrt => x.max(0.0).sqrt(),
            Function::Erf => erf(x),
            Function::Softplus => softplus(x),
            Function::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Function::Reciprocal => 1.0 / x,
            Function::Rsqrt => 1.0 / x.sqrt(),
        }
    }

    /// Whether the function is defined only for positive inputs.
    pub fn positive_domain(self) -> bool {
        matches!(self, Function::Log | Function::Reciprocal | Function::Rsqrt)
    }

    /// The ONNX operator this function comes from.
    pub fn from_onnx(op: &str) -> Option<Function> {
        Some(match op {
            "Sigmoid" => Function::Sigmoid,
            "Tanh" => Function::Tanh,
            "Exp" => Function::Exp,
            "Log" => Function::Log,
            "Sqrt" => Function::Sqrt,
            "Erf" => Function::Erf,
            "Softplus" => Function::Softplus,
            "HardSwish" => Function::HardSwish,
            "Reciprocal" => Function::Reciprocal,
            _ => return None,
        })
    }

}

/// A function table as a layer reads it: the function, and `prescale`, extra fractional bits
/// of its input. A layer whose inputs are small next to the network's range (a variance, say)
/// is computed `2^prescale` larger, so that its table input keeps a fine step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LookupFn {
    /// The function.
    pub function: Function,
    /// Extra fractional bits of the input.
    pub prescale: u32,
}

impl LookupFn {
    /// The function with no prescale.
    pub fn of(function: Function) -> Self {
        Self { function, prescale: 0 }
    }

    /// Table output for the table input `q'`:
    /// `round(f(q'·2^e / 2^(scale_bits + prescale))·2^scale_bits)`. Inputs outside `f`'s domain
    /// (at or below 0 for `Log`, `Reciprocal`, `Rsqrt`) read the nearest valid entry.
    pub fn output(self, q: i64, scale_bits: u32, e: u32) -> i64 {
        let step = 2f64.powi(e as i32 - (scale_bits + self.prescale) as i32);
        let x = if self.function.positive_domain() { q.max(1) as f64 * step } else { q as f64 * step };
        let y = self.function.eval(x) * 2f64.powi(scale_bits as i32);
        // Saturate instead of wrapping: a table entry is a fixed value, never an overflow.
        y.round().clamp(-(2f64.powi(62)), 2f64.powi(62)) as i64
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// The error function, by Abramowitz & Stegun's formula 7.1.26 (absolute error below
/// 1.5·10⁻⁷, under half a step of a 2^−16 scale).
pub fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-x * x).exp();
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// The coarsening shift `e` of table inputs for a network of `range_bits` and `lookup_bits`.
pub fn lookup_shift(range_bits: u32, lookup_bits: u32) -> u32 {
    (range_bits + 1).saturating_sub(lookup_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_reference_values() {
        for (x, want) in [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (-2.0, -0.995_322_265_0), (3.0, 0.999_977_909_5)] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {} vs {want}", erf(x));
        }
    }

    #[test]
    fn table_outputs_round_the_function() {
        // Scale 2^8, no coarsening: sigmoid(0) = 0.5 → 128; tanh(1) ≈ 0.7616 → 195.
        let (sigmoid, tanh, log) = (LookupFn::of(Function::Sigmoid), LookupFn::of(Function::Tanh), LookupFn::of(Function::Log));
        assert_eq!(sigmoid.output(0, 8, 0), 128);
        assert_eq!(tanh.output(256, 8, 0), 195);
        // Coarsened by 2^2: input 64 stands for 256 / 2^8 = 1.
        assert_eq!(tanh.output(64, 8, 2), 195);
        // Prescaled by 2^3: input 2048 stands for 2048 / 2^11 = 1, the output stays at 2^8.
        assert_eq!(LookupFn { function: Function::Tanh, prescale: 3 }.output(2048, 8, 0), 195);
        assert_eq!(log.output(-5, 8, 0), log.output(1, 8, 0));
        assert_eq!(lookup_shift(17, 12), 6);
        assert_eq!(lookup_shift(9, 12), 0);
    }
}
