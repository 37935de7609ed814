//! [`SpaceParams`]: the parameter set of a plot, and its digest, which every hash of the
//! protocol includes.

use super::codec::{Decoder, Encoder, Kind};
use crate::error::{Error, Result};

/// The parameters of a storage unit. Prover and verifier must agree on them; they are part of
/// every replica id, so a plot made under one set never verifies under another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceParams {
    /// The unit holds `2^log_nodes` labels of 32 bytes.
    pub log_nodes: u32,
    /// Layers of labels computed during plotting (only the last is kept).
    pub layers: u32,
    /// Parents of a label within its layer (the predecessor, then bucket-sampled earlier nodes).
    pub drg_parents: u32,
    /// Parents of a label in the previous layer (pseudo-random, any position).
    pub expander_parents: u32,
    /// Nodes opened by the one-time initialization proof.
    pub init_challenges: u32,
    /// Leaves opened by each epoch's storage proof (`t`).
    pub epoch_challenges: u32,
}

/// Limits that keep every size computation in range (and plots on real disks).
const MAX_LOG_NODES: u32 = 32;
const MAX_LAYERS: u32 = 64;
const MAX_PARENTS: u32 = 32;

impl SpaceParams {
    /// The recommended parameters for a unit of `2^log_nodes` labels: 8 layers, 6 + 8 parents,
    /// 64 initialization challenges and `t = 128` epoch challenges (λ = 40 bits of soundness
    /// against a prover missing δ = 20% of the unit, see [`challenges_for`]).
    pub fn recommended(log_nodes: u32) -> SpaceParams {
        SpaceParams {
            log_nodes,
            layers: 8,
            drg_parents: 6,
            expander_parents: 8,
            init_challenges: 64,
            epoch_challenges: challenges_for(40.0, 0.2).next_power_of_two(),
        }
    }

    /// Small parameters for tests and demos: 3 layers and 8 challenges each.
    pub fn testing(log_nodes: u32) -> SpaceParams {
        SpaceParams { layers: 3, init_challenges: 8, epoch_challenges: 8, ..Self::recommended(log_nodes) }
    }

    /// Labels per unit.
    pub fn nodes(&self) -> u64 {
        1 << self.log_nodes
    }

    /// Bytes of the last layer (what the unit proves it stores).
    pub fn unit_bytes(&self) -> u64 {
        self.nodes() * 32
    }

    /// Checks that the parameters are usable.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Err(Error::InvalidParameters(reason));
        if !(2..=MAX_LOG_NODES).contains(&self.log_nodes) {
            return fail(format!("log_nodes = {} is outside 2..={MAX_LOG_NODES}", self.log_nodes));
        }
        if !(1..=MAX_LAYERS).contains(&self.layers) {
            return fail(format!("layers = {} is outside 1..={MAX_LAYERS}", self.layers));
        }
        if !(1..=MAX_PARENTS).contains(&self.drg_parents) || self.expander_parents > MAX_PARENTS {
            return fail(format!(
                "parent counts ({} in-layer, {} expander) must be 1..={MAX_PARENTS} and 0..={MAX_PARENTS}",
                self.drg_parents, self.expander_parents
            ));
        }
        if self.layers > 1 && self.expander_parents == 0 {
            return fail("layers after the first need expander parents".into());
        }
        // Distinct challenges are drawn by rejection; keep at most half the nodes so it ends fast.
        let half = self.nodes() / 2;
        for (name, count) in [("init_challenges", self.init_challenges), ("epoch_challenges", self.epoch_challenges)] {
            if count == 0 || u64::from(count) > half {
                return fail(format!("{name} = {count} must be between 1 and half the nodes ({half})"));
            }
        }
        Ok(())
    }

    /// The parameters' canonical bytes (a [`Kind::Params`] artifact).
    pub fn to_bytes(&self) -> Vec<u8> {
        Encoder::new(Kind::Params)
            .u32(self.log_nodes)
            .u32(self.layers)
            .u32(self.drg_parents)
            .u32(self.expander_parents)
            .u32(self.init_challenges)
            .u32(self.epoch_challenges)
            .finish()
    }

    /// Reads and validates parameters.
    pub fn from_bytes(bytes: &[u8]) -> Result<SpaceParams> {
        let mut d = Decoder::new(bytes, Kind::Params, "space parameters")?;
        let params = Self::decode(&mut d)?;
        d.finish()?;
        Ok(params)
    }

    pub(super) fn encode(&self, e: &mut Encoder) {
        e.raw(&self.to_bytes()[7..]);
    }

    pub(super) fn decode(d: &mut Decoder<'_>) -> Result<SpaceParams> {
        let params = SpaceParams {
            log_nodes: d.u32()?,
            layers: d.u32()?,
            drg_parents: d.u32()?,
            expander_parents: d.u32()?,
            init_challenges: d.u32()?,
            epoch_challenges: d.u32()?,
        };
        params.validate().map_err(|e| d.error(e.to_string()))?;
        Ok(params)
    }

    /// BLAKE3 of the canonical bytes (which include the format version): the parameter set's
    /// identity in every hash of the protocol.
    pub fn digest(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }
}

/// The number of epoch challenges that catch a prover missing a fraction `delta` of its unit
/// with probability at least `1 − 2^−lambda`: `t = ⌈λ / −log2(1 − δ)⌉` (each challenge misses
/// the deleted part with probability at most `1 − δ`; drawing without replacement only helps).
pub fn challenges_for(lambda: f64, delta: f64) -> u32 {
    (lambda / -(1.0 - delta).log2()).ceil() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let p = SpaceParams::recommended(20);
        assert_eq!(p.epoch_challenges, 128);
        assert_eq!(challenges_for(40.0, 0.2), 125);
        assert_eq!(SpaceParams::from_bytes(&p.to_bytes()).unwrap(), p);
        assert_ne!(p.digest(), SpaceParams::testing(20).digest());
        let bad = SpaceParams { log_nodes: 3, epoch_challenges: 5, ..p };
        assert!(bad.validate().is_err());
        let mut bytes = p.to_bytes();
        bytes.push(0);
        assert!(SpaceParams::from_bytes(&bytes).is_err());
    }
}
