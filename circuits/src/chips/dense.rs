//! `DenseChip`: `y = W·x + b` for a block of outputs at a time.
//!
//! # Layout
//! Advice columns `x_0..x_T` hold `T` consecutive inputs per row; advice columns `acc_0..acc_B`
//! accumulate `B` outputs in parallel; weight columns `w_{b,t}` (fixed when the parameters are
//! baked in, advice when they are private) hold `W[o_b][i]` for the input in `x_t`. The bias
//! enters as the weight of a constant-one input appended to `x`.
//!
//! ```text
//!  row   x_0 .. x_{T-1}        w_{b,t}            acc_b                  chain   selector
//!  0     x[0]  .. x[T-1]       W[o_b][0..T]       Σ_t w·x                0       s_dense
//!  r     x[rT] .. x[rT+T-1]    W[o_b][rT..rT+T]   acc_b[r-1] + Σ_t w·x   1       s_dense
//!  R-1   .. 1 (bias) 0 (pad)   .. b[o_b] 0        = y[o_b]               1       s_dense
//! ```
//! Constraint per `b`: `s_dense · (acc_b − chain · acc_b[prev] − Σ_t w_{b,t} · x_t) = 0`.
//! One block of `R = ⌈(in+1)/T⌉` rows serves `B` outputs; a layer takes `⌈out/B⌉` blocks. The
//! first block witnesses the inputs, later blocks copy them (equality constraints), so each
//! input is assigned once per block. Gate degree: 3 (selector · weight · input).

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, VirtualCells};
use halo2_proofs::poly::Rotation;

use super::{field, Wire};
use crate::quantized::DenseLayer;

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

    fn assign(&self, region: &mut Region<'_, Fr>, index: usize, offset: usize, value: Fr) {
        match self {
            WeightColumns::Fixed(c) => {
                region.assign_fixed(c[index], offset, value);
            }
            WeightColumns::Advice(c) => {
                region.assign_advice(c[index], offset, Value::known(value));
            }
        }
    }
}

/// Cells of an assigned layer.
pub struct DenseAssigned {
    /// The cells where the layer's inputs were first assigned.
    pub inputs: Vec<Cell>,
    /// The `out_dim` accumulators `W·x + b`.
    pub outputs: Vec<Wire>,
}

/// Lays out dense layers; see the module docs for the row layout.
pub struct DenseChip;

impl DenseChip {
    /// Creates the gate. `weights` must hold `inputs.len() * accumulators.len()` columns, and a
    /// fixed column must be enabled for constants (the bias input's one).
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

    /// Assigns one layer starting at `*row`, advancing it. `input` carries the layer's inputs
    /// (with cells when they come from an earlier chip).
    pub fn assign(
        config: &DenseConfig,
        region: &mut Region<'_, Fr>,
        row: &mut usize,
        layer: &DenseLayer,
        input: &[Wire],
    ) -> Result<DenseAssigned, Error> {
        let t_width = config.inputs.len();
        let b_width = config.accumulators.len();
        let padded = layer.in_dim + 1;
        let rows = padded.div_ceil(t_width);
        // Input `i`'s value; index `in_dim` is the constant one that carries the bias.
        let x_value = |i: usize| -> Value<i128> {
            match i.cmp(&layer.in_dim) {
                std::cmp::Ordering::Less => input[i].value,
                std::cmp::Ordering::Equal => Value::known(1),
                std::cmp::Ordering::Greater => Value::known(0),
            }
        };
        let weight = |o: usize, i: usize| -> i128 {
            if o >= layer.out_dim || i > layer.in_dim {
                0
            } else if i == layer.in_dim {
                layer.bias[o] as i128
            } else {
                layer.weights[o * layer.in_dim + i] as i128
            }
        };

        // Cells of the first block's inputs, which later blocks copy.
        let mut first_block: Vec<Option<Cell>> = vec![None; rows * t_width];
        let mut outputs = Vec::with_capacity(layer.out_dim);
        for block in 0..layer.out_dim.div_ceil(b_width) {
            let mut sums = vec![Value::known(0i128); b_width];
            for r in 0..rows {
                let offset = *row + r;
                config.s_dense.enable(region, offset)?;
                region.assign_fixed(config.chain, offset, Fr::from(u64::from(r > 0)));
                for (t, column) in config.inputs.iter().enumerate() {
                    let i = r * t_width + t;
                    let value = x_value(i);
                    let cell = if block == 0 && i == layer.in_dim {
                        region.assign_advice_from_constant(|| "one", *column, offset, Fr::one())?.cell()
                    } else {
                        region.assign_advice(*column, offset, value.map(field)).cell()
                    };
                    let source = if block > 0 { first_block[i] } else if i < layer.in_dim { input[i].cell } else { None };
                    if let Some(source) = source {
                        region.constrain_equal(source, cell);
                    }
                    if block == 0 {
                        first_block[i] = Some(cell);
                    }
                    for (b, sum) in sums.iter_mut().enumerate() {
                        let w = weight(block * b_width + b, i);
                        *sum = sum.zip(value).map(|(s, v)| s + w * v);
                    }
                }
                for (b, (column, sum)) in config.accumulators.iter().zip(&sums).enumerate() {
                    let o = block * b_width + b;
                    for t in 0..t_width {
                        config.weights.assign(region, b * t_width + t, offset, field(weight(o, r * t_width + t)));
                    }
                    let acc = region.assign_advice(*column, offset, sum.map(field)).cell();
                    if r + 1 == rows && o < layer.out_dim {
                        outputs.push(Wire { cell: Some(acc), value: *sum });
                    }
                }
            }
            *row += rows;
        }
        let inputs = first_block[..layer.in_dim].iter().map(|c| c.expect("first block assigns every input")).collect();
        Ok(DenseAssigned { inputs, outputs })
    }
}
