//! The quantized network: the integer program that the circuit proves.
//!
//! A network is a chain of [`DenseLayer`]s over a flat vector of fixed-point integers. Every
//! tensor between layers has the same scale `2^scale_bits`; each layer's weights carry an extra
//! `2^shift` so that a layer computes `y = W·x + b` at scale `2^(scale_bits + shift)` and then
//! [`requantize`]s back by dividing by `2^shift` with round-half-up, optionally followed by ReLU.
//!
//! [`QuantizedNetwork::forward`] is the reference executor: the circuit's witness is built from
//! the same [`requantize`] function, and its public outputs must equal `forward`'s exactly.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Largest magnitude a pre-activation may reach. Keeping every intermediate well below the
/// field modulus (~2^254) is what makes the in-circuit integer arithmetic sound.
pub const MAX_ACCUMULATOR_BITS: u32 = 100;

/// The nonlinearity applied after requantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Identity: the layer's requantized value is its output.
    Linear,
    /// `max(x, 0)`.
    Relu,
}

/// `y = W·x + b`, requantized and activated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseLayer {
    /// Node name in the source model, for error messages.
    pub name: String,
    /// Number of inputs.
    pub in_dim: usize,
    /// Number of outputs.
    pub out_dim: usize,
    /// Row-major `out_dim × in_dim` weights at scale `2^(scale_bits + shift)` / `2^scale_bits`.
    pub weights: Vec<i64>,
    /// Bias at the accumulator's scale `2^(scale_bits + shift)`.
    pub bias: Vec<i64>,
    /// Nonlinearity after requantization.
    pub activation: Activation,
}

/// A chain of dense layers with one shared fixed-point format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizedNetwork {
    /// Length of the input vector.
    pub input_len: usize,
    /// Fractional bits of every activation (inputs, hidden values, outputs).
    pub scale_bits: u32,
    /// Fractional bits of the weights; also the right shift after each layer.
    pub shift: u32,
    /// Requantized values (before activation) must lie in `(-2^range_bits, 2^range_bits)`.
    pub range_bits: u32,
    /// The layers, applied in order.
    pub layers: Vec<DenseLayer>,
}

/// Everything the executor computed: what the circuit's witness is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The input vector.
    pub input: Vec<i64>,
    /// Per layer: accumulators `W·x + b` (before requantization).
    pub accumulators: Vec<Vec<i128>>,
    /// Per layer: activated outputs; the last one is the network output.
    pub activations: Vec<Vec<i64>>,
}

impl Trace {
    /// The network's output vector.
    pub fn output(&self) -> &[i64] {
        self.activations.last().map_or(&self.input, Vec::as_slice)
    }
}

/// Round-half-up division by `2^shift`: returns `(q, r)` with `y + 2^(shift-1) = q·2^shift + r`
/// and `0 ≤ r < 2^shift` (for `shift = 0`, `q = y` and `r = 0`).
pub fn requantize(y: i128, shift: u32) -> (i128, i128) {
    if shift == 0 {
        return (y, 0);
    }
    let shifted = y + (1i128 << (shift - 1));
    (shifted >> shift, shifted & ((1i128 << shift) - 1))
}

impl Activation {
    /// Applies the nonlinearity to a requantized integer.
    pub fn apply(self, q: i128) -> i128 {
        match self {
            Activation::Linear => q,
            Activation::Relu => q.max(0),
        }
    }
}

impl QuantizedNetwork {
    /// Length of the output vector.
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(self.input_len, |l| l.out_dim)
    }

    /// Checks that dimensions chain and that parameters fit the arithmetic bounds.
    pub fn validate(&self) -> Result<(), Error> {
        if self.layers.is_empty() {
            return Err(Error::InvalidNetwork("the network has no layers".into()));
        }
        if self.range_bits == 0 || self.range_bits > 64 || self.shift > 64 {
            return Err(Error::InvalidNetwork(format!(
                "range_bits {} / shift {} outside the supported 1..=64 / 0..=64",
                self.range_bits, self.shift
            )));
        }
        let mut width = self.input_len;
        for layer in &self.layers {
            if layer.in_dim != width {
                return Err(Error::InvalidNetwork(format!(
                    "layer '{}' expects {} inputs but receives {}",
                    layer.name, layer.in_dim, width
                )));
            }
            if layer.weights.len() != layer.in_dim * layer.out_dim || layer.bias.len() != layer.out_dim {
                return Err(Error::InvalidNetwork(format!(
                    "layer '{}' has {} weights and {} biases for a {}×{} matrix",
                    layer.name,
                    layer.weights.len(),
                    layer.bias.len(),
                    layer.out_dim,
                    layer.in_dim
                )));
            }
            width = layer.out_dim;
        }
        Ok(())
    }

    /// Runs the integer network on a quantized input.
    ///
    /// Fails if the input has the wrong length or if a requantized value leaves the calibrated
    /// range `(-2^range_bits, 2^range_bits)`, naming the layer: such a value could not be proved.
    pub fn forward(&self, input: &[i64]) -> Result<Trace, Error> {
        if input.len() != self.input_len {
            return Err(Error::InputLength { expected: self.input_len, got: input.len() });
        }
        let bound = 1i128 << self.range_bits;
        let input_bound = 1i64 << self.range_bits.min(62);
        if let Some(v) = input.iter().find(|v| v.unsigned_abs() >= input_bound as u64) {
            return Err(Error::OutOfRange {
                layer: "input".into(),
                value: *v as i128,
                range_bits: self.range_bits,
            });
        }
        let mut x: Vec<i64> = input.to_vec();
        let mut accumulators = Vec::with_capacity(self.layers.len());
        let mut activations = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let mut acc = Vec::with_capacity(layer.out_dim);
            let mut out = Vec::with_capacity(layer.out_dim);
            for (row, bias) in layer.weights.chunks(layer.in_dim.max(1)).zip(&layer.bias) {
                let y = row.iter().zip(&x).map(|(&w, &v)| w as i128 * v as i128).sum::<i128>()
                    + *bias as i128;
                if y.unsigned_abs() >> MAX_ACCUMULATOR_BITS != 0 {
                    return Err(Error::OutOfRange { layer: layer.name.clone(), value: y, range_bits: MAX_ACCUMULATOR_BITS });
                }
                let (q, _) = requantize(y, self.shift);
                if q.abs() >= bound {
                    return Err(Error::OutOfRange { layer: layer.name.clone(), value: q, range_bits: self.range_bits });
                }
                acc.push(y);
                out.push(layer.activation.apply(q) as i64);
            }
            accumulators.push(acc);
            activations.push(out.clone());
            x = out;
        }
        Ok(Trace { input: input.to_vec(), accumulators, activations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantize_rounds_half_up_for_both_signs() {
        assert_eq!(requantize(5, 1), (3, 0)); // 2.5 -> 3
        assert_eq!(requantize(-5, 1), (-2, 0)); // -2.5 -> -2
        assert_eq!(requantize(-6, 2), (-1, 0)); // -1.5 -> -1
        assert_eq!(requantize(7, 2), (2, 1)); // 1.75 -> 2
        assert_eq!(requantize(-7, 0), (-7, 0));
        for y in -300i128..300 {
            let (q, r) = requantize(y, 4);
            assert_eq!(y + 8, q * 16 + r);
            assert!((0..16).contains(&r));
        }
    }
}
