//! `ProductChip`: the outputs of a product [`Layer`], `Σ a·b` over pairs of earlier values.
//!
//! # Layout
//! One output at a time; each row multiplies `P = ⌊(T + B − 1) / 2⌋` pairs of the shared advice
//! columns, every operand copied (equality constraint) from the cell where its value was first
//! assigned:
//! ```text
//!  row   a_0 .. a_{P-1}        b_0 .. b_{P-1}        acc                     chain  selector
//!  0     pairs 0..P, left      pairs 0..P, right     Σ_t a_t·b_t             0      s_product
//!  r     pairs rP.., left      pairs rP.., right     acc[r-1] + Σ_t a_t·b_t  1      s_product
//!  R-1   .. 0 (pad)            .. 0 (pad)            = y[o]                  1      s_product
//! ```
//! Constraint: `s_product · (acc − chain · acc[prev] − Σ_t a_t · b_t) = 0` (degree 3). An output
//! of `K` pairs takes `max(1, ⌈K/P⌉)` rows. Padding `a` cells are fixed to 0 by constant
//! constraints, so padding adds nothing whatever `b` holds.

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use super::{field, Wire};
use crate::quantized::{Layer, LayerOp};

/// Columns and selector of the product chip.
#[derive(Clone, Debug)]
pub struct ProductConfig {
    left: Vec<Column<Advice>>,
    right: Vec<Column<Advice>>,
    acc: Column<Advice>,
    s_product: Selector,
    chain: Column<Fixed>,
}

/// Lays out product layers; see the module docs for the row layout.
pub struct ProductChip;

impl ProductChip {
    /// Creates the gate over `advice` (at least three columns, all with equality enabled; a
    /// fixed column must be enabled for constants).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, advice: &[Column<Advice>]) -> ProductConfig {
        let pairs = (advice.len() - 1) / 2;
        let (left, right, acc) = (advice[..pairs].to_vec(), advice[pairs..2 * pairs].to_vec(), advice[2 * pairs]);
        let s_product = meta.selector();
        let chain = meta.fixed_column();
        meta.create_gate("product accumulate", |meta| {
            let s = meta.query_selector(s_product);
            let chained = meta.query_fixed(chain, Rotation::cur());
            let (cur, prev) = (meta.query_advice(acc, Rotation::cur()), meta.query_advice(acc, Rotation::prev()));
            let dot = left
                .iter()
                .zip(&right)
                .map(|(a, b)| meta.query_advice(*a, Rotation::cur()) * meta.query_advice(*b, Rotation::cur()))
                .fold(Expression::Constant(Fr::zero()), |sum, e| sum + e);
            vec![s * (cur - chained * prev - dot)]
        });
        ProductConfig { left, right, acc, s_product, chain }
    }

    /// Assigns one product layer from `*row` on, advancing it, and returns its accumulators in
    /// output order. `values` is the value table so far (as for the dense chip).
    pub fn assign(
        config: &ProductConfig,
        region: &mut Region<'_, Fr>,
        row: &mut usize,
        layer: &Layer,
        values: &mut [Wire],
    ) -> Result<Vec<Wire>, Error> {
        let LayerOp::Product(rows) = &layer.op else { return Err(Error::Synthesis) };
        let width = config.left.len();
        let mut outputs = Vec::with_capacity(rows.len());
        for pairs in rows {
            let mut sum = Value::known(0i128);
            let count = pairs.len().div_ceil(width).max(1);
            for r in 0..count {
                let offset = *row + r;
                config.s_product.enable(region, offset)?;
                region.assign_fixed(config.chain, offset, Fr::from(u64::from(r > 0)));
                for t in 0..width {
                    let (a_col, b_col) = (config.left[t], config.right[t]);
                    match pairs.get(r * width + t) {
                        Some(&(a, b)) => {
                            let mut operand = |column: Column<Advice>, v: u32| -> Value<i128> {
                                let wire = &mut values[v as usize];
                                let cell = region.assign_advice(column, offset, wire.value.map(field)).cell();
                                wire.bind(region, cell);
                                wire.value
                            };
                            let (x, y) = (operand(a_col, a), operand(b_col, b));
                            sum = sum.zip(x).zip(y).map(|((s, x), y)| s + x * y);
                        }
                        None => {
                            region.assign_advice_from_constant(|| "zero", a_col, offset, Fr::zero())?;
                            region.assign_advice(b_col, offset, Value::known(Fr::zero()));
                        }
                    }
                }
                let acc = region.assign_advice(config.acc, offset, sum.map(field)).cell();
                if r + 1 == count {
                    outputs.push(Wire { cell: Some(acc), value: sum });
                }
            }
            *row += count;
        }
        Ok(outputs)
    }
}
