//! [`NetworkCircuit`]: a [`QuantizedNetwork`] as one halo2 circuit.
//!
//! All chips share one set of `T + B` advice columns and are laid out in a single region, one
//! after the other from row 1 (row 0 is all zero), so the row count is exactly
//! [`CircuitShape::network_rows`]. Each layer is a [`DenseChip`] pass (affine layers) or a
//! [`ProductChip`] pass (product layers) followed by one [`RequantChip`] unit per output; values flow between layers by equality constraints from the
//! cell where each was first assigned. The instance column holds the public input (when the
//! input is public) followed by the outputs.

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Instance};

use crate::chips::{
    field, CommitChip, DenseChip, DenseConfig, PoseidonChip, PoseidonConfig, ProductChip, ProductConfig, RequantChip,
    RequantConfig, WeightColumns, Wire,
};
use crate::quantized::LayerOp;
use crate::poseidon::commit;
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
    /// Only the prover, bound by its Poseidon commitment ([`crate::poseidon::commit`]), which
    /// is a public instance: anyone who knows the input can check it was used.
    Hashed,
}

/// Where the weights live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamVisibility {
    /// Baked into fixed columns: the verifying key commits to the model.
    #[default]
    Fixed,
    /// Witnessed: the verifier learns nothing about the weights (any weights producing the
    /// output satisfy the circuit).
    Private,
    /// Witnessed and bound by their Poseidon commitment, a public instance: the verifier learns
    /// only which committed model ran. Costs one permutation per two weight cells.
    Hashed,
}

/// Who sees the network's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputVisibility {
    /// Everyone: the output is part of the public instances.
    #[default]
    Public,
    /// Only its Poseidon commitment is a public instance.
    Hashed,
}

/// Columns of the network circuit.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The advice columns all chips share.
    advice: Vec<Column<Advice>>,
    dense: DenseConfig,
    requant: RequantConfig,
    /// Present when a tensor is hashed; laid over the first six advice columns.
    poseidon: Option<PoseidonConfig>,
    /// Present when the network has product layers; laid over all shared advice columns.
    product: Option<ProductConfig>,
    instance: Column<Instance>,
}

/// The circuit proving `output = network(input)`.
#[derive(Clone, Debug)]
pub struct NetworkCircuit {
    /// Column layout; the circuit's `Params`.
    pub shape: CircuitShape,
    /// The network (weights are needed at key generation when they are fixed).
    pub network: QuantizedNetwork,
    /// Who sees the input.
    pub input_visibility: InputVisibility,
    /// Who sees the output.
    pub output_visibility: OutputVisibility,
    /// Where the weights live.
    pub param_visibility: ParamVisibility,
    /// The executor's trace; `None` for key generation.
    pub trace: Option<Trace>,
}

impl NetworkCircuit {
    /// The public instances for a trace: the input (public) or its commitment (hashed), the
    /// parameters' commitment (hashed), then the output or its commitment.
    pub fn instances(&self, trace: &Trace) -> Vec<Fr> {
        let to_field = |v: &[i64]| v.iter().map(|v| field(*v as i128)).collect::<Vec<_>>();
        let mut instances = match self.input_visibility {
            InputVisibility::Public => to_field(&trace.input),
            InputVisibility::Hashed => vec![commit(&to_field(&trace.input))],
            InputVisibility::Private => Vec::new(),
        };
        if self.param_visibility == ParamVisibility::Hashed {
            instances.push(self.params_commitment());
        }
        match self.output_visibility {
            OutputVisibility::Public => instances.extend(to_field(trace.output())),
            OutputVisibility::Hashed => instances.push(commit(&to_field(trace.output()))),
        }
        instances
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
        param_visibility: ParamVisibility,
        input_visibility: InputVisibility,
        output_visibility: OutputVisibility,
        max_proof_bytes: usize,
    ) -> Result<(Self, u32), crate::Error> {
        network.validate()?;
        let template = CircuitShape {
            private_params: param_visibility != ParamVisibility::Fixed,
            hashed_params: param_visibility == ParamVisibility::Hashed,
            hashed_input: input_visibility == InputVisibility::Hashed,
            hashed_output: output_visibility == OutputVisibility::Hashed,
            ..CircuitShape::default()
        };
        let (shape, k) = CircuitShape::choose(&network, template, max_proof_bytes, shape_metrics)?;
        Ok((Self { shape, network, input_visibility, output_visibility, param_visibility, trace: None }, k))
    }

    /// The Poseidon commitment of the weights as the circuit lays them out (every weight cell
    /// of every dense block, structural zeros included, in assignment order), which a hashed-
    /// parameter circuit exposes.
    pub fn params_commitment(&self) -> Fr {
        let cells = DenseChip::weight_cells(&self.network, self.shape.inputs_per_row, self.shape.outputs_per_row);
        commit(&cells.iter().map(|w| field(*w)).collect::<Vec<_>>())
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
            let columns: Vec<_> = (0..weight_count).map(|_| meta.advice_column()).collect();
            if shape.hashed_params {
                // The commitment copies every weight cell.
                columns.iter().for_each(|c| meta.enable_equality(*c));
            }
            WeightColumns::Advice(columns)
        } else {
            WeightColumns::Fixed((0..weight_count).map(|_| meta.fixed_column()).collect())
        };
        let dense = DenseChip::configure(meta, inputs.to_vec(), accumulators.to_vec(), weights);
        let requant = RequantChip::configure(meta, &advice, shape);
        let poseidon = shape.has_poseidon().then(|| {
            PoseidonChip::configure(meta, [advice[0], advice[1], advice[2]], [advice[3], advice[4], advice[5]], Vec::new())
        });
        let product = (shape.product_shift > 0).then(|| ProductChip::configure(meta, &advice));
        NetworkConfig { advice, dense, requant, poseidon, product, instance }
    }

    fn configure(_meta: &mut ConstraintSystem<Fr>) -> NetworkConfig {
        unreachable!("the network circuit is always configured with its shape")
    }

    fn synthesize(&self, config: NetworkConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let assigned = layouter.assign_region(
            || "network",
            |mut region| {
                RequantChip::assign_table(&config.requant, &mut region);
                RequantChip::assign_function_table(&config.requant, &mut region, &self.network);
                // Row 0 stays zero: the first dense row's `acc[prev]` then reads an assigned
                // cell instead of wrapping into the blinding rows.
                for column in &config.advice {
                    region.assign_advice(*column, 0, Value::known(Fr::zero()));
                }
                let known = |i: usize| self.trace.as_ref().map_or(Value::unknown(), |t| Value::known(t.values[i] as i128));
                let mut values: Vec<Wire> =
                    (0..=self.network.input_len).map(|i| Wire { cell: None, value: known(i) }).collect();
                let mut row = 1;
                let mut weight_cells = Vec::new();
                for layer in &self.network.layers {
                    let accumulators = match &layer.op {
                        LayerOp::Affine(_) => {
                            DenseChip::assign(&config.dense, &mut region, &mut row, layer, &mut values, &mut weight_cells)?
                        }
                        LayerOp::Product(_) => {
                            let product = config.product.as_ref().ok_or(Error::Synthesis)?;
                            ProductChip::assign(product, &mut region, &mut row, layer, &mut values)?
                        }
                    };
                    let shift = layer.shift(&self.network);
                    let outputs = RequantChip::assign(
                        &config.requant,
                        &mut region,
                        &mut row,
                        &accumulators,
                        shift,
                        layer.activation,
                        &self.network,
                    )?;
                    values.extend(outputs);
                }
                let mut commit_to = |wires: &mut [Wire], row: &mut usize| {
                    let poseidon = config.poseidon.as_ref().ok_or(Error::Synthesis)?;
                    CommitChip::assign(poseidon, &mut region, row, wires)
                };
                let input_commitment = match self.input_visibility {
                    InputVisibility::Hashed => Some(commit_to(&mut values[1..=self.network.input_len], &mut row)?),
                    _ => None,
                };
                let params_commitment = match self.param_visibility {
                    ParamVisibility::Hashed => Some(commit_to(&mut weight_cells, &mut row)?),
                    _ => None,
                };
                let output_commitment = match self.output_visibility {
                    OutputVisibility::Hashed => {
                        let mut outputs: Vec<Wire> = self.network.outputs.iter().map(|v| values[*v as usize]).collect();
                        Some(commit_to(&mut outputs, &mut row)?)
                    }
                    OutputVisibility::Public => None,
                };
                Ok((values, input_commitment, params_commitment, output_commitment))
            },
        )?;
        let (values, input_commitment, params_commitment, output_commitment) = assigned;
        // An input no layer reads has no cell; its instance constrains nothing.
        let cell = |v: usize| values[v].cell;
        let mut public: Vec<Option<Cell>> = match self.input_visibility {
            InputVisibility::Public => (1..=self.network.input_len).map(cell).collect(),
            InputVisibility::Hashed => vec![input_commitment],
            InputVisibility::Private => Vec::new(),
        };
        if self.param_visibility == ParamVisibility::Hashed {
            public.push(params_commitment);
        }
        match self.output_visibility {
            OutputVisibility::Public => public.extend(self.network.outputs.iter().map(|v| cell(*v as usize))),
            OutputVisibility::Hashed => public.push(output_commitment),
        }
        for (row, cell) in public.into_iter().enumerate() {
            if let Some(cell) = cell {
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
    use crate::quantized::{Activation, Layer};

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

    fn params(private: bool) -> ParamVisibility {
        if private {
            ParamVisibility::Private
        } else {
            ParamVisibility::Fixed
        }
    }

    fn random_input(len: usize, seed: u64) -> Vec<i64> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen_range(-256..256)).collect()
    }

    #[test]
    fn mock_prover_accepts_several_networks() {
        use OutputVisibility::{Hashed as HashedOut, Public as PublicOut};
        for (dims, visibility, output, private) in [
            (vec![4, 3], InputVisibility::Private, PublicOut, false),
            (vec![10, 8, 4], InputVisibility::Public, PublicOut, false),
            (vec![17, 9, 9, 2], InputVisibility::Private, PublicOut, true),
            (vec![30, 12, 5], InputVisibility::Public, PublicOut, true),
            (vec![9, 6, 3], InputVisibility::Hashed, HashedOut, false),
            (vec![8, 5], InputVisibility::Hashed, PublicOut, true),
        ] {
            let net = random_network(&dims, dims.len() as u64);
            let (circuit, k) = NetworkCircuit::compile(net.clone(), params(private), visibility, output, usize::MAX).unwrap();
            let input = random_input(dims[0], 7);
            let (circuit, trace, instances) = circuit.with_input(&input).unwrap();
            assert!(trace.accumulators.iter().flatten().any(|y| *y < 0), "exercise negative values");
            let prover = MockProver::run(k, &circuit, vec![instances.clone()]).unwrap();
            prover.assert_satisfied();

            // A wrong public output (or output commitment) is rejected, and so is a wrong input
            // commitment.
            let mut wrong = instances.clone();
            *wrong.last_mut().unwrap() += Fr::one();
            let prover = MockProver::run(k, &circuit, vec![wrong]).unwrap();
            assert!(prover.verify().is_err(), "{dims:?}: a wrong output must fail");
            if visibility == InputVisibility::Hashed {
                let mut wrong = instances;
                wrong[0] += Fr::one();
                let prover = MockProver::run(k, &circuit, vec![wrong]).unwrap();
                assert!(prover.verify().is_err(), "{dims:?}: a wrong input commitment must fail");
            }
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
        let (circuit, k) =
            NetworkCircuit::compile(net, ParamVisibility::Fixed, InputVisibility::Private, OutputVisibility::Public, usize::MAX).unwrap();
        let (circuit, _, instances) = circuit.with_input(&random_input(6, 3)).unwrap();
        let shape = circuit.shape;
        let first_requant_row = 1 + shape.dense_rows(&circuit.network.layers[0]);
        // An accumulator, a remainder, a magnitude, a sign bit and a limb.
        for (column, row) in [
            (shape.inputs_per_row, 1),
            (1, first_requant_row),
            (2, first_requant_row),
            (3, first_requant_row),
            (5, first_requant_row + 1),
        ] {
            let tampered = Tampered { inner: circuit.clone(), column, row, value: Fr::from(12345) };
            let prover = MockProver::run(k, &tampered, vec![instances.clone()]).unwrap();
            assert!(prover.verify().is_err(), "tampered cell ({column}, {row}) must be rejected");
        }
    }

    #[test]
    fn product_layers_multiply_values_and_reject_a_wrong_operand() {
        let net = QuantizedNetwork {
            input_len: 4,
            scale_bits: 4,
            shift: 4,
            range_bits: 12,
            layers: vec![Layer {
                name: "p".into(),
                op: LayerOp::Product(vec![vec![(1, 2), (3, 4)], vec![(2, 2)]]),
                activation: Activation::Linear,
            }],
            outputs: vec![5, 6],
            lookup_bits: 0,
        };
        let (circuit, k) =
            NetworkCircuit::compile(net, ParamVisibility::Fixed, InputVisibility::Private, OutputVisibility::Public, usize::MAX).unwrap();
        // 1·(−1.5) + 2.5·0.5 = −0.25 → −4/16 after rounding half up; (−1.5)² = 2.25 → 36/16.
        let (circuit, trace, instances) = circuit.with_input(&[16, -24, 40, 8]).unwrap();
        assert_eq!(trace.output(), &[-4, 36]);
        MockProver::run(k, &circuit, vec![instances.clone()]).unwrap().assert_satisfied();
        let pairs = circuit.shape.pairs_per_row();
        // A left operand, a right operand, the accumulator.
        for (column, row) in [(0, 1), (pairs, 1), (2 * pairs, 1)] {
            let tampered = Tampered { inner: circuit.clone(), column, row, value: Fr::from(7) };
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
