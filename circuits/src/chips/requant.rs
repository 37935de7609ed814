//! `RequantChip`: rescale an accumulator by `2^shift` (round half up), range-check the result,
//! and apply the activation.
//!
//! For an accumulator `y` the chip witnesses a remainder `r`, a magnitude `m` and a sign bit `s`
//! with `y + 2^(shift-1) = (1 − 2s)·m·2^shift + r`, `0 ≤ r < 2^shift`, `0 ≤ m < 2^range_bits`.
//! The unit's `2^shift` and `2^(shift−1)` sit in fixed columns: affine layers shift by the
//! weights' fractional bits, product layers by the values' (`scale_bits`).
//! The quotient `q = (1 − 2s)·m` is then unique (only `q = 0` has two encodings, and both give
//! the same output), so ReLU is `out = (1 − s)·m`: one degree-4 constraint instead of a lookup
//! table over the whole activation range. A fixed `relu` flag picks ReLU or linear
//! (`out = (1 − 2s)·m`).
//!
//! Range checks decompose `r` and `m` into limbs of at most `limb_bits` bits, each looked up in
//! one small table of `(width, value)` pairs, so the table never forces `k` up (a single table
//! over `±2^range_bits` would need `k > range_bits + 1`).
//!
//! # Layout (one unit per output, `U = L_r + L_m` rows)
//! ```text
//!  row   a0  a1  a2  a3  a4    a5 (limbs)     limb_width  relu    scale, half     selectors
//!  0     y   r   m   s   out   r limb 0       w           1 | 0   2^sh, 2^(sh-1)  s_requant, q_limb
//!  1                           r limb 1 ...   w                    q_limb
//!  L_r                         m limb 0 ...   w                    q_limb
//! ```
//! The lookup `(limb_width, q_limb·a5) ∈ table` holds on every row; rows without limbs look up
//! `(0, 0)`, the table's first row.
//!
//! # Function tables
//! A layer whose activation is a [table](crate::lookup::LookupFn) uses a linear unit, then
//! one more row that coarsens `q` to the table input `q' = round(q / 2^e)` and looks up
//! `(tag, q', out)` in the function table (see [`crate::lookup`]):
//! ```text
//!  row   a0   a1   a2    a5 (limb)   limb_width  tag   selectors
//!  U     q    q'   out   r'          e           t     s_table, q_limb
//! ```
//! with `q + 2^(e−1) = q'·2^e + r'` and `0 ≤ r' < 2^e` (the limb lookup). `q'` needs no range
//! check: the function table holds every `q'` with `|q'| ≤ 2^(lookup_bits−1)` and nothing else,
//! so the lookup itself bounds it. Row 0 of the function table is `(0, 0, 0)` for rows without
//! `s_table`.

use halo2_proofs::circuit::{Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use super::{field, Wire};
use crate::quantized::{requantize, Activation, QuantizedNetwork};
use crate::shape::CircuitShape;

/// Columns and selectors of the requantization chip.
#[derive(Clone, Debug)]
pub struct RequantConfig {
    cells: [Column<Advice>; 5],
    limbs: Column<Advice>,
    limb_width: Column<Fixed>,
    table_width: Column<Fixed>,
    table_value: Column<Fixed>,
    s_requant: Selector,
    /// 1 where the unit applies ReLU, 0 where it is linear.
    relu: Column<Fixed>,
    /// `2^shift` and `2^(shift−1)` (0 for shift 0) of the unit.
    scale: Column<Fixed>,
    half: Column<Fixed>,
    q_limb: Selector,
    /// Present when the network reads function tables.
    function: Option<FunctionColumns>,
    shape: CircuitShape,
}

/// The function-table stage's selector and columns.
#[derive(Clone, Debug)]
struct FunctionColumns {
    s_table: Selector,
    /// The function's tag on rows with `s_table`.
    tag: Column<Fixed>,
    table_tag: Column<Fixed>,
    table_input: Column<Fixed>,
    table_output: Column<Fixed>,
}

/// Lays out requantization units; see the module docs for the row layout.
pub struct RequantChip;

/// `Σ_i 2^(limb_bits·i) · limbs[first + i]` over `count` limbs.
fn recompose(
    meta: &mut halo2_proofs::plonk::VirtualCells<'_, Fr>,
    column: Column<Advice>,
    first: usize,
    count: usize,
    limb_bits: u32,
) -> Expression<Fr> {
    (0..count).fold(Expression::Constant(Fr::zero()), |acc, i| {
        let limb = meta.query_advice(column, Rotation((first + i) as i32));
        acc + limb * Expression::Constant(field(1i128 << (limb_bits as usize * i)))
    })
}

impl RequantChip {
    /// Creates the gates and the lookup. `advice` must hold at least six columns.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, advice: &[Column<Advice>], shape: CircuitShape) -> RequantConfig {
        let cells = [advice[0], advice[1], advice[2], advice[3], advice[4]];
        let limbs = advice[5];
        let limb_width = meta.fixed_column();
        let table_width = meta.fixed_column();
        let table_value = meta.fixed_column();
        let s_requant = meta.selector();
        let relu = meta.fixed_column();
        let (scale, half) = (meta.fixed_column(), meta.fixed_column());
        let q_limb = meta.complex_selector();
        let (lr, lm) = (shape.remainder_limbs(), shape.magnitude_limbs());

        meta.create_gate("requantize", |meta| {
            let s = meta.query_selector(s_requant);
            let [y, r, m, sign, _] = cells.map(|c| meta.query_advice(c, Rotation::cur()));
            let (scale, half) = (meta.query_fixed(scale, Rotation::cur()), meta.query_fixed(half, Rotation::cur()));
            let one = Expression::Constant(Fr::one());
            let q = m.clone() - Expression::Constant(field(2)) * sign.clone() * m.clone();
            vec![
                s.clone() * (y + half - q * scale - r.clone()),
                s.clone() * (r - recompose(meta, limbs, 0, lr, shape.limb_bits)),
                s.clone() * (m - recompose(meta, limbs, lr, lm, shape.limb_bits)),
                s * sign.clone() * (one - sign),
            ]
        });
        meta.create_gate("activation", |meta| {
            let s = meta.query_selector(s_requant);
            let relu = meta.query_fixed(relu, Rotation::cur());
            let [_, _, m, sign, out] = cells.map(|c| meta.query_advice(c, Rotation::cur()));
            // ReLU: out = m − s·m. Linear: out = m − 2·s·m.
            let two = Expression::Constant(field(2));
            vec![s * (out - m.clone() + sign * m * (two - relu))]
        });
        meta.lookup_any("limb range", |meta| {
            let q = meta.query_selector(q_limb);
            let limb = meta.query_advice(limbs, Rotation::cur());
            let width = meta.query_fixed(limb_width, Rotation::cur());
            vec![
                (width, meta.query_fixed(table_width, Rotation::cur())),
                (q * limb, meta.query_fixed(table_value, Rotation::cur())),
            ]
        });
        let function = (shape.lookup_bits > 0).then(|| {
            let columns = FunctionColumns {
                s_table: meta.complex_selector(),
                tag: meta.fixed_column(),
                table_tag: meta.fixed_column(),
                table_input: meta.fixed_column(),
                table_output: meta.fixed_column(),
            };
            meta.create_gate("table input", |meta| {
                let s = meta.query_selector(columns.s_table);
                let [q, coarse, _, _, _] = cells.map(|c| meta.query_advice(c, Rotation::cur()));
                let r = meta.query_advice(limbs, Rotation::cur());
                let e = shape.lookup_shift;
                let half = if e == 0 { 0 } else { 1i128 << (e - 1) };
                vec![s * (q + Expression::Constant(field(half)) - coarse * Expression::Constant(field(1i128 << e)) - r)]
            });
            meta.lookup_any("function table", |meta| {
                let s = meta.query_selector(columns.s_table);
                let [_, coarse, out, _, _] = cells.map(|c| meta.query_advice(c, Rotation::cur()));
                let tag = meta.query_fixed(columns.tag, Rotation::cur());
                vec![
                    (s.clone() * tag, meta.query_fixed(columns.table_tag, Rotation::cur())),
                    (s.clone() * coarse, meta.query_fixed(columns.table_input, Rotation::cur())),
                    (s * out, meta.query_fixed(columns.table_output, Rotation::cur())),
                ]
            });
            columns
        });
        RequantConfig { cells, limbs, limb_width, table_width, table_value, s_requant, relu, scale, half, q_limb, function, shape }
    }

    /// Fills the function table's fixed columns from row 0: per function of `network` (tag
    /// `1 + ` its index in [`QuantizedNetwork::functions`]), every input `q'` with
    /// `|q'| ≤ 2^(lookup_bits−1)` and its output.
    pub fn assign_function_table(config: &RequantConfig, region: &mut Region<'_, Fr>, network: &QuantizedNetwork) {
        let Some(columns) = &config.function else { return };
        let (e, half) = (network.lookup_shift(), 1i64 << (network.lookup_bits - 1));
        let mut row = 1; // row 0 stays (0, 0, 0)
        for (tag, f) in network.functions().into_iter().enumerate() {
            for q in -half..=half {
                region.assign_fixed(columns.table_tag, row, Fr::from(tag as u64 + 1));
                region.assign_fixed(columns.table_input, row, field(q as i128));
                region.assign_fixed(columns.table_output, row, field(f.output(q, network.scale_bits, e) as i128));
                row += 1;
            }
        }
    }

    /// Fills the range table's fixed columns from row 0.
    pub fn assign_table(config: &RequantConfig, region: &mut Region<'_, Fr>) {
        let mut row = 1; // row 0 stays (0, 0)
        for width in config.shape.table_widths() {
            for v in 0..(1u64 << width) {
                region.assign_fixed(config.table_width, row, Fr::from(width as u64));
                region.assign_fixed(config.table_value, row, Fr::from(v));
                row += 1;
            }
        }
    }

    /// Requantizes (by `2^shift`) and activates each accumulator, one unit per value from
    /// `*row` on (plus the function row for a table activation).
    #[allow(clippy::too_many_arguments)]
    pub fn assign(
        config: &RequantConfig,
        region: &mut Region<'_, Fr>,
        row: &mut usize,
        accumulators: &[Wire],
        shift: u32,
        activation: Activation,
        network: &QuantizedNetwork,
    ) -> Result<Vec<Wire>, Error> {
        let shape = &config.shape;
        // The remainder's limbs, padded with empty ones up to the widest shift's count.
        let mut widths = shape.limb_widths(shift);
        widths.resize(shape.remainder_limbs(), 0);
        widths.extend(shape.limb_widths(shape.range_bits));
        let half = if shift == 0 { 0 } else { 1i128 << (shift - 1) };
        let relu = activation == Activation::Relu;
        let mut outputs = Vec::with_capacity(accumulators.len());
        for acc in accumulators {
            let base = *row;
            config.s_requant.enable(region, base)?;
            region.assign_fixed(config.relu, base, Fr::from(u64::from(relu)));
            region.assign_fixed(config.scale, base, field(1i128 << shift));
            region.assign_fixed(config.half, base, field(half));
            let parts = acc.value.map(|y| {
                let (q, r) = requantize(y, shift);
                (r, q.abs(), i128::from(q < 0), if relu { q.max(0) } else { q })
            });
            let [y_col, r_col, m_col, s_col, out_col] = config.cells;
            let y = region.assign_advice(y_col, base, acc.value.map(field)).cell();
            if let Some(source) = acc.cell {
                region.constrain_equal(source, y);
            }
            region.assign_advice(r_col, base, parts.map(|p| field(p.0)));
            region.assign_advice(m_col, base, parts.map(|p| field(p.1)));
            region.assign_advice(s_col, base, parts.map(|p| field(p.2)));
            let out = region.assign_advice(out_col, base, parts.map(|p| field(p.3))).cell();

            // Limbs: r's, then m's, each least significant first.
            let lr = shape.remainder_limbs();
            for (i, width) in widths.iter().enumerate() {
                let (value, index) = if i < lr { (parts.map(|p| p.0), i) } else { (parts.map(|p| p.1), i - lr) };
                let limb = value.map(|v| (v >> (shape.limb_bits as usize * index)) & ((1i128 << width) - 1));
                region.assign_advice(config.limbs, base + i, limb.map(field));
                region.assign_fixed(config.limb_width, base + i, Fr::from(*width as u64));
                config.q_limb.enable(region, base + i)?;
            }
            // Keep every cell the gate reads assigned, also when there are no limbs.
            for i in widths.len()..shape.requant_rows() {
                region.assign_advice(config.limbs, base + i, Value::known(Fr::zero()));
            }
            *row += shape.requant_rows();
            let wire = Wire { cell: Some(out), value: parts.map(|p| p.3) };
            outputs.push(match activation {
                Activation::Table(f) => Self::assign_function(config, region, row, wire, f, network)?,
                _ => wire,
            });
        }
        Ok(outputs)
    }

    /// The function row of a table activation on `q`, at `*row`.
    fn assign_function(
        config: &RequantConfig,
        region: &mut Region<'_, Fr>,
        row: &mut usize,
        q: Wire,
        f: crate::lookup::LookupFn,
        network: &QuantizedNetwork,
    ) -> Result<Wire, Error> {
        let columns = config.function.as_ref().expect("a network with table activations configures function tables");
        let tag = network.functions().binary_search(&f).expect("the network lists its functions") as u64 + 1;
        let e = network.lookup_shift();
        let offset = *row;
        columns.s_table.enable(region, offset)?;
        config.q_limb.enable(region, offset)?;
        region.assign_fixed(columns.tag, offset, Fr::from(tag));
        region.assign_fixed(config.limb_width, offset, Fr::from(u64::from(e)));
        let coarse = q.value.map(|q| requantize(q, e));
        let out = q.value.map(|q| network.activate(Activation::Table(f), q));
        let [q_col, coarse_col, out_col, _, _] = config.cells;
        let q_cell = region.assign_advice(q_col, offset, q.value.map(field)).cell();
        region.constrain_equal(q.cell.expect("requantized values are assigned"), q_cell);
        region.assign_advice(coarse_col, offset, coarse.map(|c| field(c.0)));
        region.assign_advice(config.limbs, offset, coarse.map(|c| field(c.1)));
        let out_cell = region.assign_advice(out_col, offset, out.map(field)).cell();
        *row += 1;
        Ok(Wire { cell: Some(out_cell), value: out })
    }
}
