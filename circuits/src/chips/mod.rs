//! Chips: gates plus the code that lays out their rows.

mod commit;
mod dense;
pub mod merkle;
mod poseidon;
mod product;
mod requant;

pub use commit::CommitChip;
pub use dense::{DenseChip, DenseConfig, WeightColumns};
pub use merkle::{merkle_parent, MerkleChip, MerkleConfig, OpenedPath};
pub use poseidon::{PermutationCells, PoseidonChip, PoseidonConfig};
pub use product::{ProductChip, ProductConfig};
pub use requant::{RequantChip, RequantConfig};

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

/// A value on its way between chips: its cell (if it has been assigned) and its value.
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    /// Where the value lives; copies are constrained equal to it.
    pub cell: Option<Cell>,
    /// The signed integer it carries (unknown during key generation).
    pub value: Value<i128>,
}

impl Wire {
    /// Ties a new cell holding this wire's value to it: the cell is constrained equal to the
    /// wire's cell, or, for a value not placed yet, becomes that cell.
    pub fn bind(&mut self, region: &mut Region<'_, Fr>, cell: Cell) {
        match self.cell {
            Some(source) => region.constrain_equal(source, cell),
            None => self.cell = Some(cell),
        }
    }
}

/// Maps a signed integer into the field (negative values wrap to `p - |v|`).
pub fn field(v: i128) -> Fr {
    let magnitude = Fr::from_u128(v.unsigned_abs());
    if v < 0 {
        -magnitude
    } else {
        magnitude
    }
}
