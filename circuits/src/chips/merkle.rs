//! `MerkleChip`: open a leaf of a binary Poseidon Merkle tree and expose its root and index.
//!
//! A parent is [`merkle_parent`]`(left, right) = hash2(NODE_TAG, left, right)`. Walking up from
//! the leaf, each level's *step* row holds the running node `cur` (in `s0`), the sibling and the
//! direction bit (in the Poseidon chip's square columns, free on that row), and sets the next
//! permutation's input to `[NODE_TAG, left, right]` with `(left, right) = (cur, sib)` when the
//! bit is 0 and `(sib, cur)` when it is 1. The index accumulates `Σ bit_l·2^l` in a column the
//! permutation rows carry unchanged, so the final row holds the root and the index.
//!
//! # Layout (`1 + 66·depth` rows per path)
//! ```text
//!  row           s0            w0 (sib)  w1 (bit)  index         pow   keep   selectors
//!  0             leaf          sib_0     b_0       0             1     0      q_step
//!  1..66         permutation of level 0 (index carried = b_0)
//!  66            node_1        sib_1     b_1       Σ b·2^l       2     1      q_step
//!  ...
//!  66·depth      root                              index
//! ```
//! Step constraints (row `o`): `bit` is boolean; `s0[o+1] = NODE_TAG`;
//! `s1[o+1] = cur + bit·(sib − cur)`; `s2[o+1] = sib + bit·(cur − sib)`;
//! `index[o+1] = keep·index[o] + bit·pow`. All of degree ≤ 3 with the selector.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use super::poseidon::{PoseidonChip, PoseidonConfig};
use crate::poseidon::{hash2, WIDTH};

/// Domain tag of a Merkle parent (the capacity element of its permutation).
pub const NODE_TAG: u64 = 1;

/// The parent of two Merkle nodes, natively.
pub fn merkle_parent(left: Fr, right: Fr) -> Fr {
    hash2(Fr::from(NODE_TAG), left, right)
}

/// Columns and selectors of the Merkle chip.
#[derive(Clone, Debug)]
pub struct MerkleConfig {
    poseidon: PoseidonConfig,
    index: Column<Advice>,
    pow: Column<Fixed>,
    keep: Column<Fixed>,
    q_step: Selector,
}

/// The cells a path opening exposes.
#[derive(Clone, Debug)]
pub struct OpenedPath {
    /// The root the path leads to.
    pub root: Cell,
    /// The leaf's index, from the direction bits.
    pub index: Cell,
}

/// Lays out Merkle paths; see the module docs for the row layout.
pub struct MerkleChip;

impl MerkleChip {
    /// Rows one path of `depth` levels occupies.
    pub fn rows(depth: usize) -> usize {
        1 + depth * PoseidonChip::ROWS
    }

    /// Creates the step gate and the Poseidon chip it drives.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        state: [Column<Advice>; WIDTH],
        squares: [Column<Advice>; WIDTH],
        index: Column<Advice>,
    ) -> MerkleConfig {
        let poseidon = PoseidonChip::configure(meta, state, squares, vec![index]);
        let (pow, keep) = (meta.fixed_column(), meta.fixed_column());
        let q_step = meta.selector();
        meta.create_gate("merkle step", |meta| {
            let q = meta.query_selector(q_step);
            let cur = meta.query_advice(state[0], Rotation::cur());
            let sib = meta.query_advice(squares[0], Rotation::cur());
            let bit = meta.query_advice(squares[1], Rotation::cur());
            let [tag, left, right] = state.map(|c| meta.query_advice(c, Rotation::next()));
            let (index_cur, index_next) =
                (meta.query_advice(index, Rotation::cur()), meta.query_advice(index, Rotation::next()));
            let (pow, keep) = (meta.query_fixed(pow, Rotation::cur()), meta.query_fixed(keep, Rotation::cur()));
            let one = Expression::Constant(Fr::one());
            vec![
                q.clone() * bit.clone() * (one - bit.clone()),
                q.clone() * (tag - Expression::Constant(Fr::from(NODE_TAG))),
                q.clone() * (left - cur.clone() - bit.clone() * (sib.clone() - cur.clone())),
                q.clone() * (right - sib.clone() - bit.clone() * (cur - sib)),
                q * (index_next - keep * index_cur - bit * pow),
            ]
        });
        MerkleConfig { poseidon, index, pow, keep, q_step }
    }

    /// Assigns the opening of `leaf` at `index` with `siblings` (leaf level first) on rows
    /// `offset .. offset + rows(siblings.len())`.
    pub fn assign(
        config: &MerkleConfig,
        region: &mut Region<'_, Fr>,
        offset: usize,
        leaf: Value<Fr>,
        index: Value<u64>,
        siblings: &[Value<Fr>],
    ) -> Result<OpenedPath, Error> {
        let p = &config.poseidon;
        let mut row = offset;
        let mut cur = leaf;
        let mut cur_cell = region.assign_advice(p.state[0], row, cur).cell();
        let mut acc = Value::known(Fr::zero());
        let mut acc_cell = region.assign_advice(config.index, row, acc).cell();
        for (level, sib) in siblings.iter().enumerate() {
            let bit = index.map(|i| (i >> level) & 1 == 1);
            config.q_step.enable(region, row)?;
            region.assign_fixed(config.pow, row, Fr::from(1u64 << level));
            region.assign_fixed(config.keep, row, Fr::from(u64::from(level > 0)));
            region.assign_advice(p.squares[0], row, *sib);
            region.assign_advice(p.squares[1], row, bit.map(|b| Fr::from(u64::from(b))));
            let (left, right) = (
                cur.zip(*sib).zip(bit).map(|((c, s), b)| if b { s } else { c }),
                cur.zip(*sib).zip(bit).map(|((c, s), b)| if b { c } else { s }),
            );
            acc = acc.zip(bit).map(|(a, b)| if b { a + Fr::from(1u64 << level) } else { a });
            let input = [Value::known(Fr::from(NODE_TAG)), left, right];
            let cells = PoseidonChip::assign(p, region, row + 1, input, &[acc])?;
            row += PoseidonChip::ROWS;
            cur = left.zip(right).map(|(l, r)| merkle_parent(l, r));
            cur_cell = cells.output[0];
            acc_cell = cells.carried[0];
        }
        Ok(OpenedPath { root: cur_cell, index: acc_cell })
    }
}
