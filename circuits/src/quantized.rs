//! The quantized network: the integer program that the circuit proves.
//!
//! A network is a list of [`Layer`]s over a growing table of fixed-point integers, the
//! *values*: value [`ONE`] is the constant 1, values `1..=input_len` are the input, and every
//! layer appends its outputs. An affine layer's output is a sparse affine combination of earlier
//! values, `y = Σ w·v` (a bias is a term on [`ONE`]), [`requantize`]d by `2^shift` and activated.
//! Dense layers, convolutions, pooling, residual additions and `max(a, b) = b + relu(a − b)` all
//! take this one form, so one chip proves them all. A product layer sums products of pairs of
//! values (`Σ a·b`, requantized by `2^scale_bits`): elementwise products and products of two
//! computed matrices, as in attention. The network's output is a list of values.
//!
//! Every value has the scale `2^scale_bits`; weights carry an extra `2^shift` and biases the
//! accumulator's scale `2^(scale_bits + shift)`.
//!
//! [`QuantizedNetwork::forward`] is the reference executor: the circuit's witness is built from
//! the same [`requantize`] function, and its public outputs must equal `forward`'s exactly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::lookup::{lookup_shift, LookupFn};
use crate::Error;

/// Largest magnitude a pre-activation may reach. Keeping every intermediate well below the
/// field modulus (~2^254) is what makes the in-circuit integer arithmetic sound.
pub const MAX_ACCUMULATOR_BITS: u32 = 100;

/// Index of the constant 1 in the value table; a term on it is a bias.
pub const ONE: u32 = 0;

/// The nonlinearity applied after requantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Identity: the layer's requantized value is its output.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// A function read from a lookup table (see [`crate::lookup`]).
    Table(LookupFn),
}

/// One output of an affine layer: `(value, weight)` terms, sorted by value, no value twice.
pub type Row = Vec<(u32, i64)>;

/// One output of a product layer: the pairs of values whose products it sums.
pub type PairRow = Vec<(u32, u32)>;

/// What a layer computes before requantization, one row per output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerOp {
    /// `Σ w·v` over earlier values, requantized by `2^shift`. Weights on [`ONE`] are at scale
    /// `2^(scale_bits + shift)`, others at `2^shift`.
    Affine(Vec<Row>),
    /// `Σ a·b` over pairs of earlier values (elementwise products, products of two computed
    /// matrices), requantized by `2^scale_bits`.
    Product(Vec<PairRow>),
}

/// A layer: its outputs, requantized and activated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Node name in the source model, for error messages.
    pub name: String,
    /// The rows.
    pub op: LayerOp,
    /// Nonlinearity after requantization.
    pub activation: Activation,
}

/// Outputs of a layer that the circuit accumulates side by side: they read the same `support`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Output indices within the layer (at most the block width).
    pub outputs: Vec<usize>,
    /// The union of their rows' values, ascending.
    pub support: Vec<u32>,
}

impl Layer {
    /// A fully connected layer reading `inputs`: output `o` is
    /// `Σ_i weights[o·n + i]·inputs[i] + bias[o]` with `n = inputs.len()` (zero weights are
    /// kept: every output reads every input).
    pub fn dense(name: &str, inputs: &[u32], weights: &[i64], bias: &[i64], activation: Activation) -> Self {
        let rows = bias
            .iter()
            .enumerate()
            .map(|(o, b)| {
                let mut row: Row = std::iter::once((ONE, *b))
                    .chain(inputs.iter().zip(&weights[o * inputs.len()..]).map(|(v, w)| (*v, *w)))
                    .collect();
                row.sort_unstable_by_key(|(v, _)| *v);
                row
            })
            .collect();
        Self { name: name.into(), op: LayerOp::Affine(rows), activation }
    }

    /// Number of outputs.
    pub fn out_dim(&self) -> usize {
        match &self.op {
            LayerOp::Affine(rows) => rows.len(),
            LayerOp::Product(rows) => rows.len(),
        }
    }

    /// The right shift of this layer's requantization.
    pub fn shift(&self, net: &QuantizedNetwork) -> u32 {
        match self.op {
            LayerOp::Affine(_) => net.shift,
            LayerOp::Product(_) => net.scale_bits,
        }
    }

    /// Groups an affine layer's outputs into blocks of at most `width`: outputs with identical
    /// supports share blocks (every channel of a convolution at one pixel, every output of a
    /// dense layer); what is left over is packed in order, each block reading the union. A
    /// product layer has no blocks.
    pub fn blocks(&self, width: usize) -> Vec<Block> {
        let LayerOp::Affine(rows) = &self.op else { return Vec::new() };
        let mut groups: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
        let mut index: HashMap<Vec<u32>, usize> = HashMap::new();
        for (o, row) in rows.iter().enumerate() {
            let support: Vec<u32> = row.iter().map(|(v, _)| *v).collect();
            match index.get(&support) {
                Some(&g) => groups[g].1.push(o),
                None => {
                    index.insert(support.clone(), groups.len());
                    groups.push((support, vec![o]));
                }
            }
        }
        let mut blocks = Vec::new();
        let mut leftover = Vec::new();
        for (support, outputs) in groups {
            let full = outputs.len() / width * width;
            for chunk in outputs[..full].chunks(width) {
                blocks.push(Block { outputs: chunk.to_vec(), support: support.clone() });
            }
            leftover.extend_from_slice(&outputs[full..]);
        }
        leftover.sort_unstable();
        for chunk in leftover.chunks(width) {
            let mut support: Vec<u32> = chunk.iter().flat_map(|o| rows[*o].iter().map(|(v, _)| *v)).collect();
            support.sort_unstable();
            support.dedup();
            blocks.push(Block { outputs: chunk.to_vec(), support });
        }
        blocks
    }
}

/// A network of layers with one shared fixed-point format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizedNetwork {
    /// Length of the input vector.
    pub input_len: usize,
    /// Fractional bits of every value (inputs, hidden values, outputs).
    pub scale_bits: u32,
    /// Fractional bits of the weights; also the right shift after each affine layer (product
    /// layers shift by `scale_bits`).
    pub shift: u32,
    /// Requantized values (before activation) must lie in `(-2^range_bits, 2^range_bits)`.
    pub range_bits: u32,
    /// The layers, applied in order.
    pub layers: Vec<Layer>,
    /// The values that form the output, in order.
    pub outputs: Vec<u32>,
    /// Input width of function tables (`Table` activations); 0 when there are none.
    #[serde(default)]
    pub lookup_bits: u32,
}

/// Everything the executor computed: what the circuit's witness is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The input vector.
    pub input: Vec<i64>,
    /// Per layer: accumulators `Σ w·v` (before requantization).
    pub accumulators: Vec<Vec<i128>>,
    /// The value table: [`ONE`], the input, then every layer's activated outputs.
    pub values: Vec<i64>,
    /// The network's output.
    pub output: Vec<i64>,
}

impl Trace {
    /// The network's output vector.
    pub fn output(&self) -> &[i64] {
        &self.output
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


impl QuantizedNetwork {
    /// A chain of fully connected layers of widths `dims` (`dims[0]` is the input), with
    /// row-major weights and biases per layer; the last layer's outputs are the output.
    pub fn dense_chain(
        dims: &[usize],
        params: &[(Vec<i64>, Vec<i64>, Activation)],
        scale_bits: u32,
        shift: u32,
        range_bits: u32,
    ) -> Self {
        let mut first = 1u32;
        let mut next = 1 + dims[0] as u32;
        let mut layers = Vec::new();
        for (i, (w, (weights, bias, activation))) in dims.windows(2).zip(params).enumerate() {
            let inputs: Vec<u32> = (first..first + w[0] as u32).collect();
            layers.push(Layer::dense(&format!("fc{i}"), &inputs, weights, bias, *activation));
            first = next;
            next += w[1] as u32;
        }
        Self { input_len: dims[0], scale_bits, shift, range_bits, layers, outputs: (first..next).collect(), lookup_bits: 0 }
    }

    /// Length of the output vector.
    pub fn output_len(&self) -> usize {
        self.outputs.len()
    }

    /// The coarsening shift of function-table inputs (see [`crate::lookup`]).
    pub fn lookup_shift(&self) -> u32 {
        lookup_shift(self.range_bits, self.lookup_bits)
    }

    /// The distinct function tables the layers read, in order.
    pub fn functions(&self) -> Vec<LookupFn> {
        let mut f: Vec<LookupFn> = self
            .layers
            .iter()
            .filter_map(|l| match l.activation {
                Activation::Table(f) => Some(f),
                _ => None,
            })
            .collect();
        f.sort_unstable();
        f.dedup();
        f
    }

    /// Applies a layer's activation to its requantized value `q`.
    pub fn activate(&self, activation: Activation, q: i128) -> i128 {
        match activation {
            Activation::Linear => q,
            Activation::Relu => q.max(0),
            Activation::Table(f) => {
                let e = self.lookup_shift();
                f.output(requantize(q, e).0 as i64, self.scale_bits, e) as i128
            }
        }
    }

    /// Size of the value table: [`ONE`], the input, and every layer's outputs.
    pub fn value_count(&self) -> usize {
        1 + self.input_len + self.layers.iter().map(Layer::out_dim).sum::<usize>()
    }

    /// Checks that every row reads earlier values in ascending order, that the outputs exist,
    /// and that the arithmetic bounds are supported.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidNetwork(what));
        if self.layers.is_empty() {
            return bad("the network has no layers".into());
        }
        if self.range_bits == 0 || self.range_bits > 64 || self.shift > 64 {
            return bad(format!(
                "range_bits {} / shift {} outside the supported 1..=64 / 0..=64",
                self.range_bits, self.shift
            ));
        }
        let mut available = 1 + self.input_len;
        for layer in &self.layers {
            let late = |v: &u32| *v as usize >= available;
            match &layer.op {
                LayerOp::Affine(rows) => {
                    for (o, row) in rows.iter().enumerate() {
                        if row.iter().any(|(v, _)| late(v)) {
                            return bad(format!("layer '{}' output {o} reads a value not computed yet", layer.name));
                        }
                        if row.windows(2).any(|w| w[0].0 >= w[1].0) {
                            return bad(format!("layer '{}' output {o} does not list its values in ascending order", layer.name));
                        }
                    }
                }
                LayerOp::Product(rows) => {
                    if rows.iter().flatten().any(|(a, b)| late(a) || late(b) || *a == ONE || *b == ONE) {
                        return bad(format!("layer '{}' multiplies a value not computed yet (or the constant)", layer.name));
                    }
                }
            }
            available += layer.out_dim();
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|v| *v == ONE || *v as usize >= available) {
            return bad("the network's outputs name values that do not exist".into());
        }
        if available > u32::MAX as usize {
            return bad("the network has more than 2^32 values".into());
        }
        if !self.functions().is_empty() && !(1..=20).contains(&self.lookup_bits) {
            return bad(format!("lookup_bits {} outside 1..=20", self.lookup_bits));
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
            return Err(Error::OutOfRange { layer: "input".into(), value: *v as i128, range_bits: self.range_bits });
        }
        let mut values = Vec::with_capacity(self.value_count());
        values.push(1i64);
        values.extend_from_slice(input);
        let mut accumulators = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let mut acc = Vec::with_capacity(layer.out_dim());
            let mut out = Vec::with_capacity(layer.out_dim());
            let value = |v: &u32| values[*v as usize] as i128;
            let sums: Vec<i128> = match &layer.op {
                LayerOp::Affine(rows) => rows.iter().map(|row| row.iter().map(|(v, w)| *w as i128 * value(v)).sum()).collect(),
                LayerOp::Product(rows) => rows.iter().map(|row| row.iter().map(|(a, b)| value(a) * value(b)).sum()).collect(),
            };
            let shift = layer.shift(self);
            for y in sums {
                if y.unsigned_abs() >> MAX_ACCUMULATOR_BITS != 0 {
                    return Err(Error::OutOfRange { layer: layer.name.clone(), value: y, range_bits: MAX_ACCUMULATOR_BITS });
                }
                let (q, _) = requantize(y, shift);
                if q.abs() >= bound {
                    return Err(Error::OutOfRange { layer: layer.name.clone(), value: q, range_bits: self.range_bits });
                }
                acc.push(y);
                out.push(self.activate(layer.activation, q) as i64);
            }
            accumulators.push(acc);
            values.extend(out);
        }
        let output = self.outputs.iter().map(|v| values[*v as usize]).collect();
        Ok(Trace { input: input.to_vec(), accumulators, values, output })
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

    #[test]
    fn blocks_share_identical_supports_and_pack_the_rest() {
        let row = |vs: &[u32]| vs.iter().map(|v| (*v, 1)).collect::<Row>();
        let layer = Layer {
            name: "l".into(),
            op: LayerOp::Affine(vec![row(&[0, 1, 2]), row(&[3, 4]), row(&[0, 1, 2]), row(&[0, 1, 2]), row(&[5])]),
            activation: Activation::Linear,
        };
        let blocks = layer.blocks(2);
        assert_eq!(blocks[0], Block { outputs: vec![0, 2], support: vec![0, 1, 2] });
        assert_eq!(blocks[1], Block { outputs: vec![1, 3], support: vec![0, 1, 2, 3, 4] });
        assert_eq!(blocks[2], Block { outputs: vec![4], support: vec![5] });
        let mut all: Vec<usize> = layer.blocks(3).into_iter().flat_map(|b| b.outputs).collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
    }
}
