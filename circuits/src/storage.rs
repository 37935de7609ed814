//! [`StorageCircuit`]: one epoch's storage proof (many Merkle openings against one root) as a
//! single halo2 circuit.
//!
//! Public instances, in order: `comm_r` (the tree root), the epoch beacon, the prover's identity
//! digest, then the `t` challenged leaf indices. Every opening's root is constrained to
//! `comm_r` and its direction bits to its index. The verifier derives the indices from
//! (beacon, `comm_r`, identity) itself — the derivation is native and shared with the prover —
//! and passes them as instances, so the prover cannot choose them; the beacon and identity are
//! instances so that the proof is bound to them in the transcript.
//!
//! Paths are stacked in one region, each [`MerkleChip::rows`] long.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Instance};

use crate::chips::{MerkleChip, MerkleConfig};

/// The circuit's shape: the tree depth and the number of openings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StorageShape {
    /// Levels of the tree (`log2` of the leaf count).
    pub depth: usize,
    /// Leaves opened.
    pub openings: usize,
}

/// Instances before the indices: `comm_r`, beacon, identity.
pub const HEADER_INSTANCES: usize = 3;

impl StorageShape {
    /// The smallest `k` that fits the paths and halo2's blinding rows.
    pub fn k(&self) -> u32 {
        let mut cs = ConstraintSystem::default();
        StorageCircuit::configure_with_params(&mut cs, *self);
        let rows = self.openings * MerkleChip::rows(self.depth) + cs.blinding_factors() + 1;
        rows.next_power_of_two().trailing_zeros().max(4)
    }
}

/// One opened leaf: the witness of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The leaf's index.
    pub index: u64,
    /// The leaf.
    pub leaf: Fr,
    /// Sibling nodes from the leaf level up.
    pub siblings: Vec<Fr>,
}

/// Columns of the storage circuit.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    merkle: MerkleConfig,
    instance: Column<Instance>,
}

/// The circuit proving that every opening leads to `comm_r` at its index.
#[derive(Clone, Debug)]
pub struct StorageCircuit {
    /// Depth and number of openings; the circuit's `Params`.
    pub shape: StorageShape,
    /// The openings; `None` for key generation.
    pub openings: Option<Vec<Opening>>,
}

impl StorageCircuit {
    /// A circuit proving `openings`, checked against `shape`.
    pub fn new(shape: StorageShape, openings: Vec<Opening>) -> Result<Self, crate::Error> {
        if openings.len() != shape.openings {
            return Err(crate::Error::InvalidWitness(format!(
                "{} openings for a circuit of {}",
                openings.len(),
                shape.openings
            )));
        }
        for o in &openings {
            if o.siblings.len() != shape.depth || (shape.depth < 64 && o.index >> shape.depth != 0) {
                return Err(crate::Error::InvalidWitness(format!(
                    "opening of leaf {} with {} siblings does not fit a tree of depth {}",
                    o.index,
                    o.siblings.len(),
                    shape.depth
                )));
            }
        }
        Ok(Self { shape, openings: Some(openings) })
    }

    /// The public instances for a root, beacon, identity and the challenged indices.
    pub fn instances(comm_r: Fr, beacon: Fr, identity: Fr, indices: &[u64]) -> Vec<Fr> {
        [comm_r, beacon, identity].into_iter().chain(indices.iter().map(|i| Fr::from(*i))).collect()
    }
}

impl Circuit<Fr> for StorageCircuit {
    type Config = StorageConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = StorageShape;

    fn without_witnesses(&self) -> Self {
        Self { shape: self.shape, openings: None }
    }

    fn params(&self) -> StorageShape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, _shape: StorageShape) -> StorageConfig {
        let state = [(); 3].map(|_| meta.advice_column());
        let squares = [(); 3].map(|_| meta.advice_column());
        let index = meta.advice_column();
        let instance = meta.instance_column();
        for column in [state[0], index] {
            meta.enable_equality(column);
        }
        meta.enable_equality(instance);
        let merkle = MerkleChip::configure(meta, state, squares, index);
        StorageConfig { merkle, instance }
    }

    fn configure(_meta: &mut ConstraintSystem<Fr>) -> StorageConfig {
        unreachable!("the storage circuit is always configured with its shape")
    }

    fn synthesize(&self, config: StorageConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let depth = self.shape.depth;
        let paths = layouter.assign_region(
            || "openings",
            |mut region| {
                (0..self.shape.openings)
                    .map(|j| {
                        let opening = self.openings.as_ref().map(|o| &o[j]);
                        let leaf = opening.map_or(Value::unknown(), |o| Value::known(o.leaf));
                        let index = opening.map_or(Value::unknown(), |o| Value::known(o.index));
                        let siblings: Vec<Value<Fr>> = (0..depth)
                            .map(|l| opening.map_or(Value::unknown(), |o| Value::known(o.siblings[l])))
                            .collect();
                        MerkleChip::assign(&config.merkle, &mut region, j * MerkleChip::rows(depth), leaf, index, &siblings)
                    })
                    .collect::<Result<Vec<_>, Error>>()
            },
        )?;
        for (j, path) in paths.iter().enumerate() {
            layouter.constrain_instance(path.root, config.instance, 0);
            layouter.constrain_instance(path.index, config.instance, HEADER_INSTANCES + j);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::dev::MockProver;
    use halo2_proofs::halo2curves::ff::Field;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::chips::merkle_parent;

    /// A random tree of `2^depth` leaves, as levels from the leaves up.
    fn tree(depth: usize, rng: &mut ChaCha20Rng) -> Vec<Vec<Fr>> {
        let mut levels = vec![(0..1usize << depth).map(|_| Fr::random(&mut *rng)).collect::<Vec<_>>()];
        while levels.last().unwrap().len() > 1 {
            let next = levels.last().unwrap().chunks(2).map(|p| merkle_parent(p[0], p[1])).collect();
            levels.push(next);
        }
        levels
    }

    fn open(levels: &[Vec<Fr>], index: u64) -> Opening {
        let siblings = (0..levels.len() - 1).map(|l| levels[l][((index >> l) ^ 1) as usize]).collect();
        Opening { index, leaf: levels[0][index as usize], siblings }
    }

    #[test]
    fn openings_satisfy_the_circuit_and_tampering_does_not() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let depth = 4;
        let levels = tree(depth, &mut rng);
        let root = levels[depth][0];
        let indices = [0u64, 5, 15];
        let shape = StorageShape { depth, openings: indices.len() };
        let openings: Vec<_> = indices.iter().map(|i| open(&levels, *i)).collect();
        let (beacon, identity) = (Fr::from(77), Fr::from(99));
        let run = |openings: Vec<Opening>, instances: Vec<Fr>| {
            let circuit = StorageCircuit::new(shape, openings).unwrap();
            MockProver::run(shape.k(), &circuit, vec![instances]).unwrap().verify()
        };
        let honest = StorageCircuit::instances(root, beacon, identity, &indices);
        run(openings.clone(), honest.clone()).unwrap();

        let mut wrong_root = honest.clone();
        wrong_root[0] += Fr::ONE;
        assert!(run(openings.clone(), wrong_root).is_err(), "wrong comm_r");
        let mut wrong_index = honest.clone();
        wrong_index[HEADER_INSTANCES + 1] = Fr::from(4);
        assert!(run(openings.clone(), wrong_index).is_err(), "wrong index instance");
        let mut tampered = openings.clone();
        tampered[2].siblings[1] += Fr::ONE;
        assert!(run(tampered, honest.clone()).is_err(), "tampered sibling");
        let mut tampered = openings.clone();
        tampered[0].leaf += Fr::ONE;
        assert!(run(tampered, honest.clone()).is_err(), "tampered leaf");
        // Another leaf's valid path claimed for index 5.
        let mut swapped = openings.clone();
        swapped[1] = Opening { index: 5, ..open(&levels, 6) };
        assert!(run(swapped, honest).is_err(), "path of another leaf");
    }

    #[test]
    fn rejects_openings_that_do_not_fit_the_shape() {
        let shape = StorageShape { depth: 3, openings: 1 };
        let bad = Opening { index: 8, leaf: Fr::ONE, siblings: vec![Fr::ONE; 3] };
        assert!(StorageCircuit::new(shape, vec![bad]).is_err());
        let short = Opening { index: 1, leaf: Fr::ONE, siblings: vec![Fr::ONE; 2] };
        assert!(StorageCircuit::new(shape, vec![short]).is_err());
        assert!(StorageCircuit::new(shape, vec![]).is_err());
    }
}
