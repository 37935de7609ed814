//! The float network imported from ONNX: the reference semantics that quantization
//! approximates.

use serde::{Deserialize, Serialize};
use zkml_circuits::Activation;

/// A dense layer in floating point: `y = act(W·x + b)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatDense {
    /// Name of the ONNX node it came from.
    pub name: String,
    /// Number of inputs.
    pub in_dim: usize,
    /// Number of outputs.
    pub out_dim: usize,
    /// Row-major `out_dim × in_dim`.
    pub weights: Vec<f32>,
    /// One per output.
    pub bias: Vec<f32>,
    /// Applied after the affine map.
    pub activation: Activation,
}

/// A chain of dense layers over a flat input vector (batch 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatModel {
    /// Shape of the model's input tensor (batch dimension included, fixed to 1).
    pub input_shape: Vec<usize>,
    /// The layers in order.
    pub layers: Vec<FloatDense>,
}

impl FloatModel {
    /// Number of input values.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of output values.
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(self.input_len(), |l| l.out_dim)
    }

    /// Runs the network; returns every layer's pre-activation values and the output.
    pub fn forward(&self, input: &[f32]) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut x: Vec<f64> = input.iter().map(|v| *v as f64).collect();
        let mut pre = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let y: Vec<f64> = layer
                .weights
                .chunks(layer.in_dim.max(1))
                .zip(&layer.bias)
                .map(|(row, b)| row.iter().zip(&x).map(|(w, v)| *w as f64 * v).sum::<f64>() + *b as f64)
                .collect();
            x = y
                .iter()
                .map(|v| match layer.activation {
                    Activation::Linear => *v,
                    Activation::Relu => v.max(0.0),
                })
                .collect();
            pre.push(y);
        }
        (pre, x)
    }
}
