//! `DenseChip`: the outputs of an affine [`Layer`], a block of `B` outputs at a time.
//!
//! # Layout
//! A block's outputs read the same *support* (the union of their rows' values, ascending;
//! value [`ONE`] carries the biases). Advice columns `x_0..x_T` hold `T` support values per row,
//! each copied (equality constraint) from the cell where the value was first assigned; advice
//! columns `acc_0..acc_B` accumulate the `B` outputs in parallel; weight columns `w_{b,t}`
//! (fixed when the parameters are baked in, advice when they are private) hold output `b`'s
//! weight on the value in `x_t`, 0 where its row does not read that value.
//!
//! ```text
//!  row   x_0 .. x_{T-1}          w_{b,t}                  acc_b                  chain   selector
//!  0     s[0]  .. s[T-1]         w(o_b, s[0..T])          Σ_t w·x                0       s_dense
//!  r     s[rT] .. s[rT+T-1]      w(o_b, s[rT..rT+T])      acc_b[r-1] + Σ_t w·x   1       s_dense
//!  R-1   .. 0 (pad)              .. 0                     = y[o_b]               1       s_dense
//! ```
//! Constraint per `b`: `s_dense · (acc_b − chain · acc_b[prev] − Σ_t w_{b,t} · x_t) = 0`.
//! A block takes `R = max(1, ⌈|support|/T⌉)` rows (see [`Layer::blocks`] for how outputs are
//! grouped: a dense layer's outputs all share one support, a convolution's channels at one
//! pixel share theirs). Gate degree: 3 (selector · weight · input).
//!
//! Padding inputs are unconstrained zeros; their weights are zero in fixed columns, so they
//! add nothing. (With private parameters the weights are existential witnesses anyway.)

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, VirtualCells};
use halo2_proofs::poly::Rotation;

use super::{field, Wire};
use crate::quantized::{Block, Layer, LayerOp, QuantizedNetwork, Row, ONE};

/// Columns and selectors of the dense chip.
#[derive(Clone, Debug)]
pub struct DenseConfig {
    inputs: Vec<Column<Advice>>,
    accumulators: Vec<Column<Advice>>,
    /// `weights[b * T + t]` multiplies `inputs[t]` into `accumulators[b]`.
    weights: WeightColumns,
    s_dense: Selector,
    /// 1 on rows that continue a block's running sums, 0 on a block's first row.
    chain: Column<Fixed>,
}

/// Where the weights live: fixed columns (baked into the keys) or advice columns (private).
#[derive(Clone, Debug)]
pub enum WeightColumns {
    /// Parameters are part of the circuit: the verifying key commits to them.
    Fixed(Vec<Column<Fixed>>),
    /// Parameters are witnesses known only to the prover.
    Advice(Vec<Column<Advice>>),
}

impl WeightColumns {
    fn len(&self) -> usize {
        match self {
            WeightColumns::Fixed(c) => c.len(),
            WeightColumns::Advice(c) => c.len(),
        }
    }

    fn query(&self, meta: &mut VirtualCells<'_, Fr>, index: usize) -> Expression<Fr> {
        match self {
            WeightColumns::Fixed(c) => meta.query_fixed(c[index], Rotation::cur()),
            WeightColumns::Advice(c) => meta.query_advice(c[index], Rotation::cur()),
        }
    }

    /// Assigns a weight; returns its cell when it is a witness.
    fn assign(&self, region: &mut Region<'_, Fr>, index: usize, offset: usize, value: Fr) -> Option<Cell> {
        match self {
            WeightColumns::Fixed(c) => {
                region.assign_fixed(c[index], offset, value);
                None
            }
            WeightColumns::Advice(c) => Some(region.assign_advice(c[index], offset, Value::known(value)).cell()),
        }
    }
}

/// Lays out affine layers; see the module docs for the row layout.
pub struct DenseChip;

/// Each of a block's outputs' weight on each of its support values (0 where its row does not
/// read the value).
fn block_weights(rows: &[Row], block: &Block) -> Vec<Vec<i128>> {
    block
        .outputs
        .iter()
        .map(|o| {
            let terms = &rows[*o];
            block.support.iter().map(|v| terms.binary_search_by_key(v, |(u, _)| *u).map_or(0, |i| terms[i].1 as i128)).collect()
        })
        .collect()
}

impl DenseChip {
    /// Creates the gate. `weights` must hold `inputs.len() * accumulators.len()` columns, and a
    /// fixed column must be enabled for constants (the value [`ONE`]).
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        inputs: Vec<Column<Advice>>,
        accumulators: Vec<Column<Advice>>,
        weights: WeightColumns,
    ) -> DenseConfig {
        assert_eq!(weights.len(), inputs.len() * accumulators.len());
        let s_dense = meta.selector();
        let chain = meta.fixed_column();
        meta.create_gate("dense multiply-accumulate", |meta| {
            let s = meta.query_selector(s_dense);
            let chained = meta.query_fixed(chain, Rotation::cur());
            let xs: Vec<_> = inputs.iter().map(|c| meta.query_advice(*c, Rotation::cur())).collect();
            accumulators
                .iter()
                .enumerate()
                .map(|(b, acc)| {
                    let cur = meta.query_advice(*acc, Rotation::cur());
                    let prev = meta.query_advice(*acc, Rotation::prev());
                    let dot = xs
                        .iter()
                        .enumerate()
                        .map(|(t, x)| weights.query(meta, b * xs.len() + t) * x.clone())
                        .fold(Expression::Constant(Fr::zero()), |a, e| a + e);
                    s.clone() * (cur - chained.clone() * prev - dot)
                })
                .collect::<Vec<_>>()
        });
        DenseConfig { inputs, accumulators, weights, s_dense, chain }
    }

    /// Every weight cell of the network's dense blocks with `T` inputs and `B` outputs per row,
    /// in the order [`DenseChip::assign`] fills them (layer, block, row, input slot, output
    /// slot), zeros included: what a hashed-parameter circuit commits to.
    pub fn weight_cells(network: &QuantizedNetwork, t_width: usize, b_width: usize) -> Vec<i128> {
        let mut cells = Vec::new();
        for layer in &network.layers {
            let LayerOp::Affine(layer_rows) = &layer.op else { continue };
            for block in layer.blocks(b_width) {
                let weights = block_weights(layer_rows, &block);
                for r in 0..block.support.len().div_ceil(t_width).max(1) {
                    for t in 0..t_width {
                        for b in 0..b_width {
                            cells.push(weights.get(b).and_then(|w| w.get(r * t_width + t)).copied().unwrap_or(0));
                        }
                    }
                }
            }
        }
        cells
    }

    /// Assigns one layer starting at `*row`, advancing it, and returns its accumulators in
    /// output order. `values` is the value table so far; a value read for the first time is
    /// witnessed here and its cell recorded, later reads copy that cell. Witnessed weight cells
    /// are appended to `weight_cells` in [`DenseChip::weight_cells`] order.
    pub fn assign(
        config: &DenseConfig,
        region: &mut Region<'_, Fr>,
        row: &mut usize,
        layer: &Layer,
        values: &mut [Wire],
        weight_cells: &mut Vec<Wire>,
    ) -> Result<Vec<Wire>, Error> {
        let LayerOp::Affine(layer_rows) = &layer.op else { return Err(Error::Synthesis) };
        let t_width = config.inputs.len();
        let b_width = config.accumulators.len();
        let mut outputs: Vec<Option<Wire>> = vec![None; layer.out_dim()];
        for block in layer.blocks(b_width) {
            let rows = block.support.len().div_ceil(t_width).max(1);
            let weights = block_weights(layer_rows, &block);
            let mut sums = vec![Value::known(0i128); b_width];
            for r in 0..rows {
                let offset = *row + r;
                config.s_dense.enable(region, offset)?;
                region.assign_fixed(config.chain, offset, Fr::from(u64::from(r > 0)));
                for (t, column) in config.inputs.iter().enumerate() {
                    let i = r * t_width + t;
                    let value = match block.support.get(i) {
                        Some(&v) => {
                            let wire = &mut values[v as usize];
                            let cell = if v == ONE && wire.cell.is_none() {
                                region.assign_advice_from_constant(|| "one", *column, offset, Fr::one())?.cell()
                            } else {
                                region.assign_advice(*column, offset, wire.value.map(field)).cell()
                            };
                            wire.bind(region, cell);
                            wire.value
                        }
                        None => {
                            region.assign_advice(*column, offset, Value::known(Fr::zero()));
                            Value::known(0)
                        }
                    };
                    for (b, sum) in sums.iter_mut().enumerate() {
                        let w = weights.get(b).and_then(|w| w.get(i)).copied().unwrap_or(0);
                        if let Some(cell) = config.weights.assign(region, b * t_width + t, offset, field(w)) {
                            weight_cells.push(Wire { cell: Some(cell), value: Value::known(w) });
                        }
                        *sum = sum.zip(value).map(|(s, v)| s + w * v);
                    }
                }
                for (b, (column, sum)) in config.accumulators.iter().zip(&sums).enumerate() {
                    let acc = region.assign_advice(*column, offset, sum.map(field)).cell();
                    if r + 1 == rows {
                        if let Some(o) = block.outputs.get(b) {
                            outputs[*o] = Some(Wire { cell: Some(acc), value: *sum });
                        }
                    }
                }
            }
            *row += rows;
        }
        Ok(outputs.into_iter().map(|w| w.expect("every output belongs to a block")).collect())
    }
}
