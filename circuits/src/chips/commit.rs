//! `CommitChip`: the Poseidon commitment [`crate::poseidon::commit`] of a vector of values
//! already in the circuit, so that a hashed tensor's commitment can be a public instance.
//!
//! # Layout
//! One [`PoseidonChip`] permutation (`ROWS` rows) per pair of values, one after the other:
//! ```text
//!  rows              s0            s1         s2
//!  0 .. ROWS         h_0 = IV      v[0]       v[1]       (IV fixed by a constant constraint)
//!  ROWS .. 2·ROWS    h_1 (copy)    v[2]       v[3]
//!  ...               ...           v[n-1]     0 (odd n, fixed by a constant constraint)
//! ```
//! `h_{i+1}` is copied from permutation `i`'s output `s0`; every `v` is copied from the cell
//! where the value was first assigned (or first assigned here). Only equality constraints join
//! the permutations, so the chip adds no gate of its own.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::Error;

use super::poseidon::{PoseidonChip, PoseidonConfig};
use super::{field, Wire};
use crate::poseidon::commit_iv;

/// Lays out tensor commitments; see the module docs for the row layout.
pub struct CommitChip;

impl CommitChip {
    /// Rows a commitment to `len` values occupies (at least one permutation's worth, so an
    /// empty vector still has a cell holding its commitment).
    pub fn rows(len: usize) -> usize {
        len.div_ceil(2).max(1) * PoseidonChip::ROWS
    }

    /// Commits to `values` from `*row` on, advancing it; returns the cell of the commitment.
    /// A value without a cell is witnessed here and its cell recorded.
    pub fn assign(config: &PoseidonConfig, region: &mut Region<'_, Fr>, row: &mut usize, values: &mut [Wire]) -> Result<Cell, Error> {
        let mut chain: Option<Cell> = None;
        let iv = commit_iv(values.len());
        let mut h = Value::known(iv);
        let pairs = values.len().div_ceil(2).max(1);
        for p in 0..pairs {
            let element = |i: usize| values.get(i).map_or(Value::known(Fr::zero()), |w: &Wire| w.value.map(field));
            let (a, b) = (element(2 * p), element(2 * p + 1));
            let cells = PoseidonChip::assign(config, region, *row, [h, a, b], &[])?;
            match chain {
                None => region.constrain_constant(cells.input[0], iv)?,
                Some(prev) => region.constrain_equal(prev, cells.input[0]),
            }
            for (slot, i) in [(1, 2 * p), (2, 2 * p + 1)] {
                match values.get_mut(i) {
                    Some(wire) => wire.bind(region, cells.input[slot]),
                    None => region.constrain_constant(cells.input[slot], Fr::zero())?,
                }
            }
            h = h.zip(a).zip(b).map(|((h, a), b)| crate::poseidon::permute([h, a, b])[0]);
            chain = Some(cells.output[0]);
            *row += PoseidonChip::ROWS;
        }
        Ok(chain.expect("at least one permutation"))
    }
}
