//! [`CircuitShape`]: the column layout of a network circuit, and how the compiler picks it.
//!
//! The shape is the circuit's `Params`: it is all `configure` needs, and it is stored with the
//! keys so that a proving or verifying key can be read back without the model.

use serde::{Deserialize, Serialize};

use crate::chips::CommitChip;
use crate::quantized::{Activation, Layer, LayerOp, QuantizedNetwork};
use crate::Error;

/// Default bound on the proof size when choosing a layout (3 KiB).
pub const DEFAULT_MAX_PROOF_BYTES: usize = 3072;

/// Widest block of outputs the compiler will consider (`B`).
const MAX_BLOCK_WIDTH: usize = 16;

/// Largest circuit size the compiler will consider.
pub const MAX_K: u32 = 26;
/// Smallest circuit size (halo2 needs room for blinding rows).
pub const MIN_K: u32 = 6;

/// Column layout and arithmetic constants of a network circuit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitShape {
    /// `T`: inputs consumed per row by the dense chip (advice columns `0..T`).
    pub inputs_per_row: usize,
    /// `B`: outputs accumulated in parallel by the dense chip (advice columns `T..T+B`).
    pub outputs_per_row: usize,
    /// Weights are witnessed in advice columns (private) rather than baked into fixed columns.
    pub private_params: bool,
    /// The witnessed weights' Poseidon commitment is a public instance.
    #[serde(default)]
    pub hashed_params: bool,
    /// Right shift of every requantization (the weights' fractional bits).
    pub shift: u32,
    /// Bound on requantized values: `|q| < 2^range_bits`.
    pub range_bits: u32,
    /// Width of one range-check limb; the lookup table holds values below `2^limb_bits`.
    pub limb_bits: u32,
    /// The input's Poseidon commitment is a public instance (see [`crate::chips::CommitChip`]).
    #[serde(default)]
    pub hashed_input: bool,
    /// The output's Poseidon commitment is a public instance.
    #[serde(default)]
    pub hashed_output: bool,
    /// Input width of the function tables; 0 when the network has none.
    #[serde(default)]
    pub lookup_bits: u32,
    /// Coarsening shift of function-table inputs (a limb of this width is range-checked).
    #[serde(default)]
    pub lookup_shift: u32,
    /// Right shift of product layers' requantization (the network's `scale_bits`); 0 when it
    /// has no product layer.
    #[serde(default)]
    pub product_shift: u32,
}

impl CircuitShape {
    /// Checks that the shape can be configured and matches `net`'s arithmetic (a shape read
    /// from a file is untrusted).
    pub fn validate(&self, net: &QuantizedNetwork) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidNetwork(format!("invalid circuit shape: {what}")));
        if self.inputs_per_row == 0 || self.outputs_per_row == 0 || self.advice_width() < 6 || self.advice_width() > 64 {
            return bad(format!("{} inputs x {} outputs per row", self.inputs_per_row, self.outputs_per_row));
        }
        if !(1..=16).contains(&self.limb_bits) {
            return bad(format!("limb width {}", self.limb_bits));
        }
        if self.shift != net.shift || self.range_bits != net.range_bits {
            return bad("shift or range differs from the network's".into());
        }
        let tables = !net.functions().is_empty();
        let lookups = if tables { (net.lookup_bits, net.lookup_shift()) } else { (0, 0) };
        if (self.lookup_bits, self.lookup_shift) != lookups || self.lookup_shift > self.limb_bits {
            return bad("function-table widths differ from the network's".into());
        }
        if self.product_shift != product_shift(net) {
            return bad("the product layers' shift differs from the network's".into());
        }
        Ok(())
    }

    /// Number of advice columns shared by all chips.
    pub fn advice_width(&self) -> usize {
        self.inputs_per_row + self.outputs_per_row
    }

    /// Limbs of the remainder `r < 2^shift` (or `2^product_shift`, whichever is wider).
    pub fn remainder_limbs(&self) -> usize {
        self.shift.max(self.product_shift).div_ceil(self.limb_bits) as usize
    }

    /// Pairs a product-chip row multiplies: two advice columns each, one for the accumulator.
    pub fn pairs_per_row(&self) -> usize {
        (self.advice_width() - 1) / 2
    }

    /// Limbs of the magnitude `m < 2^range_bits`.
    pub fn magnitude_limbs(&self) -> usize {
        self.range_bits.div_ceil(self.limb_bits) as usize
    }

    /// Rows taken by one requantization unit (one per limb, at least one).
    pub fn requant_rows(&self) -> usize {
        (self.remainder_limbs() + self.magnitude_limbs()).max(1)
    }

    /// Bit widths of the limbs of a value of `bits` bits, least significant first.
    pub fn limb_widths(&self, bits: u32) -> Vec<u32> {
        let mut widths = vec![self.limb_bits; (bits / self.limb_bits) as usize];
        if !bits.is_multiple_of(self.limb_bits) {
            widths.push(bits % self.limb_bits);
        }
        widths
    }

    /// The distinct limb widths the lookup table must serve, ascending.
    pub fn table_widths(&self) -> Vec<u32> {
        let mut w: Vec<u32> =
            self.limb_widths(self.shift).into_iter().chain(self.limb_widths(self.range_bits)).collect();
        if self.lookup_bits > 0 {
            w.push(self.lookup_shift);
        }
        w.extend(self.limb_widths(self.product_shift));
        w.sort_unstable();
        w.dedup();
        w
    }

    /// Rows of the range table: the `(0, 0)` row plus `2^w` rows per width.
    pub fn table_rows(&self) -> usize {
        1 + self.table_widths().iter().map(|w| 1usize << w).sum::<usize>()
    }

    /// Rows used by the dense chip (affine layer) or the product chip (product layer) for one
    /// layer.
    pub fn dense_rows(&self, layer: &Layer) -> usize {
        match &layer.op {
            LayerOp::Affine(_) => self.rows_from_supports(layer.blocks(self.outputs_per_row).iter().map(|b| b.support.len())),
            LayerOp::Product(rows) => self.product_rows(rows.iter().map(Vec::len)),
        }
    }

    fn product_rows(&self, lengths: impl IntoIterator<Item = usize>) -> usize {
        lengths.into_iter().map(|n| n.div_ceil(self.pairs_per_row()).max(1)).sum()
    }

    fn rows_from_supports(&self, supports: impl IntoIterator<Item = usize>) -> usize {
        supports.into_iter().map(|s| s.div_ceil(self.inputs_per_row).max(1)).sum()
    }

    /// Rows used by the whole network: a zero row, then per layer its dense blocks and its
    /// requantization units (and function rows), then the commitments of hashed tensors.
    pub fn network_rows(&self, net: &QuantizedNetwork) -> usize {
        let (mut rows, mut affine_rows) = (1, 0);
        for layer in &net.layers {
            let dense = self.dense_rows(layer);
            if matches!(layer.op, LayerOp::Affine(_)) {
                affine_rows += dense;
            }
            rows += dense + layer.out_dim() * self.unit_rows(layer);
        }
        rows + self.commit_rows(net) + self.params_commit_rows(affine_rows)
    }

    /// Rows of the parameters' commitment, given the dense chip's rows: every weight cell of
    /// every dense row is committed.
    pub fn params_commit_rows(&self, affine_rows: usize) -> usize {
        if self.hashed_params {
            CommitChip::rows(affine_rows * self.inputs_per_row * self.outputs_per_row)
        } else {
            0
        }
    }

    /// Rows per output of a layer after its dense block: the requantization unit, and one
    /// more for a function-table activation.
    pub fn unit_rows(&self, layer: &Layer) -> usize {
        self.requant_rows() + usize::from(matches!(layer.activation, Activation::Table(_)))
    }

    /// Rows of the function tables: a zero row, then `2^lookup_bits + 1` per function.
    pub fn function_table_rows(net: &QuantizedNetwork) -> usize {
        match net.functions().len() {
            0 => 0,
            n => 1 + n * ((1usize << net.lookup_bits) + 1),
        }
    }

    /// Rows of the Poseidon commitments of the hashed input and output.
    pub fn commit_rows(&self, net: &QuantizedNetwork) -> usize {
        let rows = |hashed: bool, len: usize| if hashed { CommitChip::rows(len) } else { 0 };
        rows(self.hashed_input, net.input_len) + rows(self.hashed_output, net.output_len())
    }

    /// Whether the circuit has the Poseidon chip (some tensor is hashed).
    pub fn has_poseidon(&self) -> bool {
        self.hashed_input || self.hashed_output || self.hashed_params
    }

    /// Picks the layout of least prover cost whose proof fits `max_proof_bytes` (or, when no
    /// layout does, the one with the smallest proof), and its `k`.
    ///
    /// `metrics` measures a candidate shape from its constraint system.
    /// `template` carries the choices made by the user (`private_params`, `hashed_input`,
    /// `hashed_output`); its other fields are ignored.
    pub fn choose(
        net: &QuantizedNetwork,
        template: CircuitShape,
        max_proof_bytes: usize,
        metrics: impl Fn(&CircuitShape) -> ShapeMetrics,
    ) -> Result<(CircuitShape, u32), Error> {
        // Ranked lexicographically, lowest first: layouts within budget by prover cost (then
        // proof size); layouts over budget after them, by proof size.
        let rank = |m: &ShapeMetrics, k: u32| -> (bool, u64, usize) {
            if m.proof_bytes > max_proof_bytes {
                (true, m.proof_bytes as u64, 0)
            } else {
                (false, m.prover_units << k, m.proof_bytes)
            }
        };
        // Block supports depend only on the block width: group them once per width.
        let supports: Vec<Vec<usize>> = (1..=MAX_BLOCK_WIDTH)
            .map(|b| net.layers.iter().flat_map(|l| l.blocks(b)).map(|block| block.support.len()).collect())
            .collect();
        let units: usize = net.layers.iter().map(Layer::out_dim).sum();
        let function_rows: usize =
            net.layers.iter().filter(|l| matches!(l.activation, Activation::Table(_))).map(Layer::out_dim).sum();
        let pair_counts: Vec<usize> = net
            .layers
            .iter()
            .filter_map(|l| match &l.op {
                LayerOp::Product(rows) => Some(rows.iter().map(Vec::len)),
                LayerOp::Affine(_) => None,
            })
            .flatten()
            .collect();
        let tables = Self::function_table_rows(net);
        let lookups = if tables > 0 { (net.lookup_bits, net.lookup_shift()) } else { (0, 0) };
        let mut best: Option<((bool, u64, usize), CircuitShape, u32)> = None;
        for k in MIN_K..=MAX_K {
            // Limbs as wide as the table allows: the table takes at most half the rows.
            let limb_bits = (k - 2).clamp(1, 16);
            for t in 2..=16usize {
                for b in 1..=MAX_BLOCK_WIDTH {
                    if t + b < 6 {
                        continue;
                    }
                    let shape = CircuitShape {
                        inputs_per_row: t,
                        outputs_per_row: b,
                        shift: net.shift,
                        range_bits: net.range_bits,
                        limb_bits,
                        lookup_bits: lookups.0,
                        lookup_shift: lookups.1,
                        product_shift: product_shift(net),
                        ..template
                    };
                    if shape.lookup_shift > limb_bits {
                        continue;
                    }
                    let affine_rows = shape.rows_from_supports(supports[b - 1].iter().copied());
                    let rows = (1
                        + affine_rows
                        + shape.params_commit_rows(affine_rows)
                        + shape.product_rows(pair_counts.iter().copied())
                        + units * shape.requant_rows()
                        + function_rows
                        + shape.commit_rows(net))
                    .max(tables);
                    if rows.max(shape.table_rows()) + MIN_BLINDING_ROWS > 1 << k {
                        continue;
                    }
                    let m = metrics(&shape);
                    if rows.max(shape.table_rows()) + m.blinding_rows > 1 << k {
                        continue;
                    }
                    let score = rank(&m, k);
                    if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                        best = Some((score, shape, k));
                    }
                }
            }
            // Stop once a larger k cannot be cheaper than the best layout within budget.
            if let Some(((false, cost, _), _, _)) = best {
                if (MIN_PROVER_UNITS << k) > cost {
                    break;
                }
            }
        }
        best.map(|(_, s, k)| (s, k)).ok_or_else(|| {
            Error::InvalidNetwork(format!("the network does not fit a circuit of 2^{MAX_K} rows"))
        })
    }
}

/// The shift of a network's product layers: `scale_bits` when it has any, else 0.
fn product_shift(net: &QuantizedNetwork) -> u32 {
    let products = net.layers.iter().any(|l| matches!(l.op, LayerOp::Product(_)));
    if products {
        net.scale_bits
    } else {
        0
    }
}

/// What a candidate layout costs, read off its constraint system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeMetrics {
    /// Rows halo2 reserves at the end of the domain for blinding.
    pub blinding_rows: usize,
    /// Exact size of a proof.
    pub proof_bytes: usize,
    /// Prover work per row, in "polynomial commitments": advice columns, lookup and permutation
    /// polynomials, quotient pieces, and the multiply-accumulate terms of the dense gate.
    pub prover_units: u64,
}

/// No layout has fewer prover units than this (six advice columns and the lookup's three
/// polynomials), which bounds the search over `k`.
const MIN_PROVER_UNITS: u64 = 9;
/// halo2 always reserves at least this many rows.
const MIN_BLINDING_ROWS: usize = 5;
