//! `PoseidonChip`: the Poseidon permutation of [`crate::poseidon`], one round per row.
//!
//! A round maps the state `s` on row `x` to the state on row `x + 1`:
//! `s' = M·S(s + c)` with `S` the x^5 S-box on every element (full rounds) or on the first
//! (partial rounds). The S-box is split through a witnessed square `w = (s + c)^2` so that
//! `(s + c)^5 = w^2·(s + c)` keeps every constraint at degree 4 with its selector, instead of 6:
//! that halves the extended domain the prover evaluates the quotient on, for three extra advice
//! cells per row (partial rounds use one of them).
//!
//! Columns listed as *carried* hold one value across all rows of a permutation (the Merkle chip
//! keeps its index accumulator there).
//!
//! # Layout (`ROWS = 66` rows per permutation)
//! ```text
//!  row    s0 s1 s2   w0 w1 w2        rc0 rc1 rc2   selectors
//!  0      input      squares, rnd 0  round 0       q_full
//!  1..64  state r    squares, rnd r  round r       q_full (r < 4 or r ≥ 61) | q_partial
//!  65     output     (free)          (free)        —
//! ```

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::poseidon::{is_full_round, round, spec, ROUNDS, WIDTH};

/// Columns and selectors of the Poseidon chip.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    /// The state columns; the output's first element is in `state[0]` on the last row.
    pub state: [Column<Advice>; WIDTH],
    /// Witnessed squares `(s + c)^2`; free on the output row.
    pub squares: [Column<Advice>; WIDTH],
    round_constants: [Column<Fixed>; WIDTH],
    carried: Vec<Column<Advice>>,
    q_full: Selector,
    q_partial: Selector,
}

/// Lays out permutations; see the module docs for the row layout.
pub struct PoseidonChip;

impl PoseidonChip {
    /// Rows one permutation occupies: one per round, then the output row.
    pub const ROWS: usize = ROUNDS + 1;

    /// Creates the round gates over the given columns.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        state: [Column<Advice>; WIDTH],
        squares: [Column<Advice>; WIDTH],
        carried: Vec<Column<Advice>>,
    ) -> PoseidonConfig {
        let round_constants = [(); WIDTH].map(|_| meta.fixed_column());
        let q_full = meta.selector();
        let q_partial = meta.selector();
        let mds = spec().mds;
        let constant = Expression::Constant;

        for full in [true, false] {
            let name = if full { "poseidon full round" } else { "poseidon partial round" };
            meta.create_gate(name, |meta| {
                let q = meta.query_selector(if full { q_full } else { q_partial });
                let x: Vec<Expression<Fr>> = (0..WIDTH)
                    .map(|i| {
                        meta.query_advice(state[i], Rotation::cur()) + meta.query_fixed(round_constants[i], Rotation::cur())
                    })
                    .collect();
                let next: Vec<_> = state.iter().map(|c| meta.query_advice(*c, Rotation::next())).collect();
                let boxed = if full { WIDTH } else { 1 };
                let w: Vec<_> = squares[..boxed].iter().map(|c| meta.query_advice(*c, Rotation::cur())).collect();
                // S-box outputs: w^2·x where boxed, x elsewhere.
                let s: Vec<Expression<Fr>> = (0..WIDTH)
                    .map(|i| if i < boxed { w[i].clone() * w[i].clone() * x[i].clone() } else { x[i].clone() })
                    .collect();
                let mut constraints: Vec<Expression<Fr>> =
                    (0..boxed).map(|i| q.clone() * (w[i].clone() - x[i].clone() * x[i].clone())).collect();
                for i in 0..WIDTH {
                    let mixed = (0..WIDTH)
                        .map(|j| constant(mds[i][j]) * s[j].clone())
                        .fold(constant(Fr::zero()), |a, e| a + e);
                    constraints.push(q.clone() * (next[i].clone() - mixed));
                }
                for c in &carried {
                    let (cur, next) = (meta.query_advice(*c, Rotation::cur()), meta.query_advice(*c, Rotation::next()));
                    constraints.push(q.clone() * (next - cur));
                }
                constraints
            });
        }
        PoseidonConfig { state, squares, round_constants, carried, q_full, q_partial }
    }

    /// Assigns one permutation of `input` on rows `offset .. offset + ROWS`, with `carried`
    /// (one value per carried column) on every row. Returns the output row's cells (the state,
    /// then the carried columns) and the input row's state cells.
    pub fn assign(
        config: &PoseidonConfig,
        region: &mut Region<'_, Fr>,
        offset: usize,
        input: [Value<Fr>; WIDTH],
        carried: &[Value<Fr>],
    ) -> Result<PermutationCells, Error> {
        assert_eq!(carried.len(), config.carried.len());
        let spec = spec();
        let mut state = input;
        let mut inputs = Vec::with_capacity(WIDTH);
        for r in 0..ROUNDS {
            let row = offset + r;
            if is_full_round(r) {
                config.q_full.enable(region, row)?;
            } else {
                config.q_partial.enable(region, row)?;
            }
            let boxed = if is_full_round(r) { WIDTH } else { 1 };
            for (i, (s, c)) in state.iter().zip(spec.round_constants[r]).enumerate() {
                region.assign_fixed(config.round_constants[i], row, c);
                let cell = region.assign_advice(config.state[i], row, *s).cell();
                if r == 0 {
                    inputs.push(cell);
                }
                if i < boxed {
                    region.assign_advice(config.squares[i], row, s.map(|s| (s + c).square()));
                }
            }
            for (column, value) in config.carried.iter().zip(carried) {
                region.assign_advice(*column, row, *value);
            }
            state = state_map(state, |mut s| {
                round(spec, r, &mut s);
                s
            });
        }
        let out = offset + ROUNDS;
        let carried = config.carried.iter().zip(carried).map(|(c, v)| region.assign_advice(*c, out, *v).cell()).collect();
        let output = std::array::from_fn(|i| region.assign_advice(config.state[i], out, state[i]).cell());
        Ok(PermutationCells { input: inputs.try_into().expect("WIDTH input cells"), output, carried })
    }
}

/// Cells of one assigned permutation.
#[derive(Clone, Debug)]
pub struct PermutationCells {
    /// The input state (first row).
    pub input: [Cell; WIDTH],
    /// The output state (last row).
    pub output: [Cell; WIDTH],
    /// The carried columns on the output row.
    pub carried: Vec<Cell>,
}

/// Applies `f` to a state whose elements are all known, or yields unknowns.
fn state_map(state: [Value<Fr>; WIDTH], f: impl FnOnce([Fr; WIDTH]) -> [Fr; WIDTH]) -> [Value<Fr>; WIDTH] {
    let known: Value<Vec<Fr>> = state.into_iter().collect();
    known.map(|s| f(s.try_into().expect("WIDTH elements"))).transpose_array()
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
    use halo2_proofs::dev::MockProver;
    use halo2_proofs::plonk::{Circuit, Instance};

    use super::*;
    use crate::poseidon::permute;

    /// One permutation whose output's first element is the instance; optionally one advice
    /// cell overwritten with a wrong value.
    #[derive(Clone, Default)]
    struct Permutation {
        input: [Fr; WIDTH],
        tamper: Option<(usize, usize)>,
    }

    impl Circuit<Fr> for Permutation {
        type Config = (PoseidonConfig, Column<Advice>, Column<Instance>);
        type FloorPlanner = SimpleFloorPlanner;
        type Params = ();

        fn without_witnesses(&self) -> Self {
            self.clone()
        }

        fn configure(meta: &mut ConstraintSystem<Fr>) -> Self::Config {
            let state = [(); WIDTH].map(|_| meta.advice_column());
            let squares = [(); WIDTH].map(|_| meta.advice_column());
            let carried = meta.advice_column();
            let instance = meta.instance_column();
            meta.enable_equality(state[0]);
            meta.enable_equality(instance);
            (PoseidonChip::configure(meta, state, squares, vec![carried]), carried, instance)
        }

        fn synthesize(&self, config: Self::Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            let out = layouter.assign_region(
                || "permutation",
                |mut region| {
                    let out = PoseidonChip::assign(
                        &config.0,
                        &mut region,
                        0,
                        self.input.map(Value::known),
                        &[Value::known(Fr::from(3))],
                    )?;
                    if let Some((row, column)) = self.tamper {
                        let column = if column < WIDTH { config.0.state[column] } else { config.1 };
                        region.assign_advice(column, row, Value::known(Fr::from(12345)));
                    }
                    Ok(out.output[0])
                },
            )?;
            layouter.constrain_instance(out, config.2, 0);
            Ok(())
        }
    }

    #[test]
    fn chip_computes_the_native_permutation_and_rejects_a_wrong_state() {
        let input = [Fr::from(1), Fr::from(2), Fr::from(3)];
        let expected = vec![vec![permute(input)[0]]];
        let honest = Permutation { input, tamper: None };
        MockProver::run(8, &honest, expected.clone()).unwrap().verify().unwrap();
        // A wrong state in a full round, a partial round, the output row; a broken carry.
        for tamper in [(2, 1), (30, 2), (65, 1), (40, WIDTH)] {
            let circuit = Permutation { input, tamper: Some(tamper) };
            assert!(MockProver::run(8, &circuit, expected.clone()).unwrap().verify().is_err(), "{tamper:?}");
        }
    }
}
