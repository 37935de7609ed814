//! [`CircuitShape`]: the column layout of a network circuit, and how the compiler picks it.
//!
//! The shape is the circuit's `Params`: it is all `configure` needs, and it is stored with the
//! keys so that a proving or verifying key can be read back without the model.

use serde::{Deserialize, Serialize};

use crate::quantized::QuantizedNetwork;
use crate::Error;

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
    /// Right shift of every requantization (the weights' fractional bits).
    pub shift: u32,
    /// Bound on requantized values: `|q| < 2^range_bits`.
    pub range_bits: u32,
    /// Width of one range-check limb; the lookup table holds values below `2^limb_bits`.
    pub limb_bits: u32,
}

impl CircuitShape {
    /// Number of advice columns shared by all chips.
    pub fn advice_width(&self) -> usize {
        self.inputs_per_row + self.outputs_per_row
    }

    /// Limbs of the remainder `r < 2^shift`.
    pub fn remainder_limbs(&self) -> usize {
        self.shift.div_ceil(self.limb_bits) as usize
    }

    /// Limbs of each of the two magnitudes `z, n < 2^range_bits`.
    pub fn magnitude_limbs(&self) -> usize {
        self.range_bits.div_ceil(self.limb_bits) as usize
    }

    /// Rows taken by one requantization unit (one per limb, at least one).
    pub fn requant_rows(&self) -> usize {
        (self.remainder_limbs() + 2 * self.magnitude_limbs()).max(1)
    }

    /// Bit widths of the limbs of a value of `bits` bits, least significant first.
    pub fn limb_widths(&self, bits: u32) -> Vec<u32> {
        let mut widths = vec![self.limb_bits; (bits / self.limb_bits) as usize];
        if bits % self.limb_bits != 0 {
            widths.push(bits % self.limb_bits);
        }
        widths
    }

    /// The distinct limb widths the lookup table must serve, ascending.
    pub fn table_widths(&self) -> Vec<u32> {
        let mut w: Vec<u32> =
            self.limb_widths(self.shift).into_iter().chain(self.limb_widths(self.range_bits)).collect();
        w.sort_unstable();
        w.dedup();
        w
    }

    /// Rows of the range table: the `(0, 0)` row plus `2^w` rows per width.
    pub fn table_rows(&self) -> usize {
        1 + self.table_widths().iter().map(|w| 1usize << w).sum::<usize>()
    }

    /// Rows used by the dense chip for one layer.
    pub fn dense_rows(&self, in_dim: usize, out_dim: usize) -> usize {
        (in_dim + 1).div_ceil(self.inputs_per_row) * out_dim.div_ceil(self.outputs_per_row)
    }

    /// Rows used by the whole network: a zero row, then per layer its dense blocks and its
    /// requantization units.
    pub fn network_rows(&self, net: &QuantizedNetwork) -> usize {
        1 + net
            .layers
            .iter()
            .map(|l| self.dense_rows(l.in_dim, l.out_dim) + l.out_dim * self.requant_rows())
            .sum::<usize>()
    }

    /// Rough prover cost in "column commitments of 2^k": advice columns, the lookup argument's
    /// three polynomials, permutation products, quotient pieces, and the multiply-accumulate
    /// gate evaluated on the extended domain.
    fn cost(&self, k: u32) -> u64 {
        let weights = self.inputs_per_row * self.outputs_per_row;
        let advice = self.advice_width() + if self.private_params { weights } else { 0 };
        let equality = self.advice_width() + 2;
        let units = advice + 3 + equality.div_ceil(3) + 4 + weights / 8;
        (units as u64) << k
    }

    /// Picks the cheapest shape (and its `k`) that fits `net`.
    ///
    /// `usable_rows(shape, k)` says how many rows a circuit of that shape has at size `k`
    /// once halo2's blinding rows are set aside.
    pub fn choose(
        net: &QuantizedNetwork,
        private_params: bool,
        usable_rows: impl Fn(&CircuitShape, u32) -> usize,
    ) -> Result<(CircuitShape, u32), Error> {
        let mut best: Option<(u64, CircuitShape, u32)> = None;
        for k in MIN_K..=MAX_K {
            // Limbs as wide as the table allows: the table takes at most half the rows.
            let limb_bits = (k - 2).clamp(1, 16);
            for t in 2..=16usize {
                for b in 1..=16usize {
                    if t + b < 6 {
                        continue;
                    }
                    let shape = CircuitShape {
                        inputs_per_row: t,
                        outputs_per_row: b,
                        private_params,
                        shift: net.shift,
                        range_bits: net.range_bits,
                        limb_bits,
                    };
                    let rows = usable_rows(&shape, k);
                    if shape.network_rows(net) > rows || shape.table_rows() > rows {
                        continue;
                    }
                    let cost = shape.cost(k);
                    if best.as_ref().map_or(true, |(c, _, _)| cost < *c) {
                        best = Some((cost, shape, k));
                    }
                }
            }
            // A larger k only pays off if it saves columns; stop once 2^k alone is costlier.
            if let Some((c, _, _)) = best {
                if (8u64 << k) > c {
                    break;
                }
            }
        }
        best.map(|(_, s, k)| (s, k)).ok_or_else(|| {
            Error::InvalidNetwork(format!("the network does not fit a circuit of 2^{MAX_K} rows"))
        })
    }
}
