//! [`NetworkCircuit`]: a [`QuantizedNetwork`] as one halo2 circuit.
//!
//! All chips share one set of `T + B` advice columns and are laid out in a single region, one
//! after the other from row 1 (row 0 is all zero), so the row count is exactly
//! [`CircuitShape::network_rows`]. Each layer is a [`DenseChip`] pass followed by one
//! [`RequantChip`] unit per output; values flow between layers by equality constraints from the
//! cell where each was first assigned. The instance column holds the public input (when the
//! input is public) followed by the outputs.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Instance};

use crate::chips::{field, DenseChip, DenseConfig, RequantChip, RequantConfig, WeightColumns, Wire};
use crate::quantized::{QuantizedNetwork, Trace};
use crate::prover::proof_size;
use crate::shape::{CircuitShape, ShapeMetrics};

/// Who sees the network's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputVisibility {
    /// Only the prover; the proof shows some input yields the public output.
    #[default]
    Private,
    /// Everyone: the input is part of the public instances.
    Public,
}

/// Columns of the network circuit.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The advice columns all chips share.
    advice: Vec<Column<Advice>>,
    dense: DenseConfig,
    requant: RequantConfig,
    instance: Column<Instance>,
}

/// The circuit proving `output = network(input)`.
#[derive(Clone, Debug)]
pub struct NetworkCircuit {
    /// Column layout; the circuit's `Params`.
    pub shape: CircuitShape,
    /// The network (weights are needed at key generation when they are fixed).
    pub network: QuantizedNetwork,
    /// Whether the input is public.
    pub input_visibility: InputVisibility,
    /// The executor's trace; `None` for key generation.
    pub trace: Option<Trace>,
}

impl NetworkCircuit {
    /// The public instances for a trace: the input (if public), then the output.
    pub fn instances(&self, trace: &Trace) -> Vec<Fr> {
        let input = match self.input_visibility {
            InputVisibility::Public => trace.input.as_slice(),
            InputVisibility::Private => &[],
        };
        input.iter().chain(trace.output()).map(|v| field(*v as i128)).collect()
    }
}

/// Measures a candidate shape from its constraint system.
pub fn shape_metrics(shape: &CircuitShape) -> ShapeMetrics {
    let mut cs = ConstraintSystem::default();
    NetworkCircuit::configure_with_params(&mut cs, *shape);
    let weights = (shape.inputs_per_row * shape.outputs_per_row) as u64;
    let chunks = cs.permutation().get_columns().len().div_ceil(cs.degree() - 2) as u64;
    ShapeMetrics {
        blinding_rows: cs.blinding_factors() + 1,
        proof_bytes: proof_size(&cs),
        prover_units: cs.num_advice_columns() as u64
            + 3 * cs.lookups().len() as u64
            + chunks
            + (cs.degree() - 1) as u64
            + weights / 8,
    }
}

impl NetworkCircuit {
    /// Chooses the cheapest shape for `network` whose proofs fit `max_proof_bytes` (see
    /// [`CircuitShape::choose`]) and returns the key-generation circuit with its size `k`.
    pub fn compile(
        network: QuantizedNetwork,
        private_params: bool,
        input_visibility: InputVisibility,
        max_proof_bytes: usize,
    ) -> Result<(Self, u32), crate::Error> {
        network.validate()?;
        let (shape, k) = CircuitShape::choose(&network, private_params, max_proof_bytes, shape_metrics)?;
        Ok((Self { shape, network, input_visibility, trace: None }, k))
    }

    /// This circuit with a witness: runs the executor on `input` and returns the circuit and
    /// its public instances.
    pub fn with_input(&self, input: &[i64]) -> Result<(Self, Trace, Vec<Fr>), crate::Error> {
        let trace = self.network.forward(input)?;
        let instances = self.instances(&trace);
        Ok((Self { trace: Some(trace.clone()), ..self.clone() }, trace, instances))
    }
}

impl Circuit<Fr> for NetworkCircuit {
    type Config = NetworkConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitShape;

    fn without_witnesses(&self) -> Self {
        Self { trace: None, ..self.clone() }
    }

    fn params(&self) -> CircuitShape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> NetworkConfig {
        let advice: Vec<_> = (0..shape.advice_width()).map(|_| meta.advice_column()).collect();
        for column in &advice {
            meta.enable_equality(*column);
        }
        let constant = meta.fixed_column();
        meta.enable_constant(constant);
        let instance = meta.instance_column();
        meta.enable_equality(instance);

        let (inputs, accumulators) = advice.split_at(shape.inputs_per_row);
        let weight_count = shape.inputs_per_row * shape.outputs_per_row;
        let weights = if shape.private_params {
            WeightColumns::Advice((0..weight_count).map(|_| meta.advice_column()).collect())
        } else {
            WeightColumns::Fixed((0..weight_count).map(|_| meta.fixed_column()).collect())
        };
        let dense = DenseChip::configure(meta, inputs.to_vec(), accumulators.to_vec(), weights);
        let requant = RequantChip::configure(meta, &advice, shape);
        NetworkConfig { advice, dense, requant, instance }
    }

    fn configure(_meta: &mut ConstraintSystem<Fr>) -> NetworkConfig {
        unreachable!("the network circuit is always configured with its shape")
    }

    fn synthesize(&self, config: NetworkConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let values = layouter.assign_region(
            || "network",
            |mut region| {
                RequantChip::assign_table(&config.requant, &mut region);
                // Row 0 stays zero: the first dense row's `acc[prev]` then reads an assigned
                // cell instead of wrapping into the blinding rows.
                for column in &config.advice {
                    region.assign_advice(*column, 0, Value::known(Fr::zero()));
                }
                let known = |i: usize| self.trace.as_ref().map_or(Value::unknown(), |t| Value::known(t.values[i] as i128));
                let mut values: Vec<Wire> =
                    (0..=self.network.input_len).map(|i| Wire { cell: None, value: known(i) }).collect();
                let mut row = 1;
                for layer in &self.network.layers {
                    let accumulators = DenseChip::assign(&config.dense, &mut region, &mut row, layer, &mut values)?;
                    values.extend(RequantChip::assign(&config.requant, &mut region, &mut row, &accumulators, layer.activation)?);
                }
                Ok(values)
            },
        )?;
        let public_inputs = match self.input_visibility {
            InputVisibility::Public => 1..=self.network.input_len,
            InputVisibility::Private => 1..=0,
        };
        let public = public_inputs.chain(self.network.outputs.iter().map(|v| *v as usize));
        for (row, value) in public.enumerate() {
            // An input no layer reads has no cell; its instance constrains nothing.
            if let Some(cell) = values[value].cell {
                layouter.constrain_instance(cell, config.instance, row);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::circuit::Value;
    use halo2_proofs::dev::MockProver;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::quantized::Activation;

    fn random_network(dims: &[usize], seed: u64) -> QuantizedNetwork {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let params: Vec<_> = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let weights = (0..w[0] * w[1]).map(|_| rng.gen_range(-300..300)).collect();
                let bias = (0..w[1]).map(|_| rng.gen_range(-50_000..50_000)).collect();
                (weights, bias, if i + 2 < dims.len() { Activation::Relu } else { Activation::Linear })
            })
            .collect();
        QuantizedNetwork::dense_chain(dims, &params, 8, 8, 16)
    }

    fn random_input(len: usize, seed: u64) -> Vec<i64> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen_range(-256..256)).collect()
    }

    #[test]
    fn mock_prover_accepts_several_networks() {
        for (dims, visibility, private) in [
            (vec![4, 3], InputVisibility::Private, false),
            (vec![10, 8, 4], InputVisibility::Public, false),
            (vec![17, 9, 9, 2], InputVisibility::Private, true),
            (vec![30, 12, 5], InputVisibility::Public, true),
        ] {
            let net = random_network(&dims, dims.len() as u64);
            let (circuit, k) = NetworkCircuit::compile(net.clone(), private, visibility, usize::MAX).unwrap();
            let input = random_input(dims[0], 7);
            let (circuit, trace, instances) = circuit.with_input(&input).unwrap();
            assert!(trace.accumulators.iter().flatten().any(|y| *y < 0), "exercise negative values");
            let prover = MockProver::run(k, &circuit, vec![instances.clone()]).unwrap();
            prover.assert_satisfied();

            // A wrong public output is rejected.
            let mut wrong = instances;
            *wrong.last_mut().unwrap() += Fr::one();
            let prover = MockProver::run(k, &circuit, vec![wrong]).unwrap();
            assert!(prover.verify().is_err(), "{dims:?}: a wrong output must fail");
        }
    }

    /// The network circuit with one advice cell overwritten after synthesis.
    struct Tampered {
        inner: NetworkCircuit,
        column: usize,
        row: usize,
        value: Fr,
    }

    impl Circuit<Fr> for Tampered {
        type Config = NetworkConfig;
        type FloorPlanner = SimpleFloorPlanner;
        type Params = CircuitShape;

        fn without_witnesses(&self) -> Self {
            unimplemented!("only used with MockProver")
        }

        fn params(&self) -> CircuitShape {
            self.inner.shape
        }

        fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> Self::Config {
            NetworkCircuit::configure_with_params(meta, shape)
        }

        fn configure(_meta: &mut ConstraintSystem<Fr>) -> Self::Config {
            unreachable!()
        }

        fn synthesize(&self, config: Self::Config, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
            let advice = config.advice.clone();
            self.inner.synthesize(config, layouter.namespace(|| "network"))?;
            layouter.assign_region(
                || "tamper",
                |mut region| {
                    region.assign_advice(advice[self.column], self.row, Value::known(self.value));
                    Ok(())
                },
            )
        }
    }

    #[test]
    fn wrong_witness_values_are_rejected() {
        let net = random_network(&[6, 5, 3], 11);
        let (circuit, k) = NetworkCircuit::compile(net, false, InputVisibility::Private, usize::MAX).unwrap();
        let (circuit, _, instances) = circuit.with_input(&random_input(6, 3)).unwrap();
        let shape = circuit.shape;
        let first_requant_row = 1 + shape.dense_rows(&circuit.network.layers[0]);
        // An accumulator, a remainder, a ReLU magnitude and a limb, each off by one.
        for (column, row) in [
            (shape.inputs_per_row, 1),
            (1, first_requant_row),
            (3, first_requant_row),
            (5, first_requant_row + 1),
        ] {
            let tampered = Tampered { inner: circuit.clone(), column, row, value: Fr::from(12345) };
            let prover = MockProver::run(k, &tampered, vec![instances.clone()]).unwrap();
            assert!(prover.verify().is_err(), "tampered cell ({column}, {row}) must be rejected");
        }
    }

    #[test]
    fn out_of_range_values_are_reported_before_proving() {
        let mut net = random_network(&[3, 2], 5);
        net.range_bits = 4;
        let err = net.forward(&[15, -15, 15]).unwrap_err();
        assert!(err.to_string().contains("fc0"), "{err}");
    }
}
