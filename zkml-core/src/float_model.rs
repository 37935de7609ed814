//! The float network imported from ONNX: the reference semantics that quantization
//! approximates. It has the quantized network's structure (see
//! [`zkml_circuits::quantized`]): layers of sparse affine rows (or sums of products) over a value
//! table, each followed by an activation, with real-valued weights.

use serde::{Deserialize, Serialize};
use zkml_circuits::quantized::PairRow;
use zkml_circuits::Activation;

/// One output of a float layer: `(value, weight)` terms sorted by value; a term on
/// [`ONE`](zkml_circuits::quantized::ONE) is a bias.
pub type FloatRow = Vec<(u32, f64)>;

/// What a float layer computes before its activation, one row per output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FloatOp {
    /// `Σ w·v` over earlier values.
    Affine(Vec<FloatRow>),
    /// `Σ a·b` over pairs of earlier values.
    Product(Vec<PairRow>),
}

/// Outputs `act(op)` over earlier values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatLayer {
    /// Name of the ONNX node it came from.
    pub name: String,
    /// The rows.
    pub op: FloatOp,
    /// Applied after the rows.
    pub activation: Activation,
}

/// A network of float layers over the value table `[1, input…, layer outputs…]` (batch 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatModel {
    /// Shape of the model's input tensor (batch dimension included, fixed to 1).
    pub input_shape: Vec<usize>,
    /// The layers in order.
    pub layers: Vec<FloatLayer>,
    /// The values that form the output.
    pub outputs: Vec<u32>,
}

impl FloatModel {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of output values.
    pub fn output_len(&self) -> usize {
        self.outputs.len()
    }

    /// Runs the network; returns every layer's pre-activation values and the output.
    pub fn forward(&self, input: &[f32]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut values: Vec<f64> = std::iter::once(1.0).chain(input.iter().map(|v| *v as f64)).collect();
        let mut pre = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let y: Vec<f64> = match &layer.op {
                FloatOp::Affine(rows) => rows.iter().map(|row| row.iter().map(|(v, w)| w * values[*v as usize]).sum()).collect(),
                FloatOp::Product(rows) => {
                    rows.iter().map(|row| row.iter().map(|(a, b)| values[*a as usize] * values[*b as usize]).sum()).collect()
                }
            };
            values.extend(y.iter().map(|v| match layer.activation {
                Activation::Linear => *v,
                Activation::Relu => v.max(0.0),
                Activation::Table(f) => f.function.eval(*v),
            }));
            pre.push(y);
        }
        (pre, self.outputs.iter().map(|v| values[*v as usize]).collect())
    }
}
