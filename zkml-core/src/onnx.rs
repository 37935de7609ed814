//! ONNX import: the model file → a [`FloatModel`] (a chain of dense layers), plus tract's own
//! execution of the same file as the float reference for fidelity reports.
//!
//! Supported: one input, one output, and a chain of `Gemm`, `MatMul` (constant right operand),
//! `Add` (constant, folded into the preceding layer's bias), `Relu`, and the shape-only ops
//! `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`, `Identity`, `Dropout`. Constant subgraphs made
//! of `Constant`, `Identity`, `Reshape`, `Flatten`, `Transpose` (2-D) and `Cast` are folded.
//! A symbolic leading (batch) dimension is fixed to 1; any other symbolic dimension is an error.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};
use tract_onnx::prelude::*;
use zkml_circuits::Activation;

use crate::error::{Error, Result};
use crate::float_model::{FloatDense, FloatModel};

/// A constant tensor of the graph, as `f32`.
#[derive(Clone, Debug)]
struct Constant {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// An imported model: our float layers, and tract's executable plan of the original file.
pub struct OnnxModel {
    /// The layers the compiler quantizes.
    pub float: FloatModel,
    reference: TypedRunnableModel<TypedModel>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel").field("float", &self.float).finish_non_exhaustive()
    }
}

/// tract panics on some malformed inputs; keep those panics inside the importer.
fn guarded<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::MalformedModel(format!("{what}: {e:#}"))),
        Err(_) => Err(Error::MalformedModel(format!("{what}: the file is corrupt"))),
    }
}

fn unsupported(node: &pb::NodeProto, reason: impl Into<String>) -> Error {
    let name = if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() };
    Error::UnsupportedOp { node: name, op: node.op_type.clone(), reason: reason.into() }
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn load_constant(onnx: &tract_onnx::Onnx, tensor: &pb::TensorProto) -> Result<Constant> {
    let tensor = guarded(&format!("tensor '{}'", tensor.name), || {
        tract_onnx::tensor::load_tensor(&*onnx.provider, tensor, None)
    })?;
    let data = guarded("tensor conversion", || Ok(tensor.cast_to::<f32>()?.as_slice::<f32>()?.to_vec()))?;
    Ok(Constant { shape: tensor.shape().to_vec(), data })
}

/// The current value of the chain: its name in the graph and its shape.
struct Stream {
    name: String,
    shape: Vec<usize>,
    /// The value is the last layer's affine output (no activation yet): an `Add` of a constant
    /// or a `Relu` may still be folded into that layer.
    open_layer: bool,
}

fn input_shape(value: &pb::ValueInfoProto) -> Result<Vec<usize>> {
    let dims = match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default(),
        None => return Err(Error::UnsupportedModel(format!("input '{}' has no tensor type", value.name))),
    };
    dims.iter()
        .enumerate()
        .map(|(i, d)| match (&d.value, i) {
            (Some(Dim::DimValue(v)), _) if *v > 0 => Ok(*v as usize),
            (_, 0) => Ok(1), // symbolic batch dimension: prove one sample
            _ => Err(Error::UnsupportedModel(format!(
                "input '{}' has a dynamic dimension at axis {i}; export the model with a fixed shape",
                value.name
            ))),
        })
        .collect()
}

/// Reads the shape argument of `Reshape` (with ONNX's 0 = keep and -1 = infer).
fn reshape_target(node: &pb::NodeProto, spec: &Constant, from: &[usize]) -> Result<Vec<usize>> {
    let total: usize = from.iter().product();
    let mut out: Vec<i64> = spec.data.iter().map(|v| *v as i64).collect();
    for (i, d) in out.iter_mut().enumerate() {
        if *d == 0 {
            *d = *from.get(i).ok_or_else(|| unsupported(node, "shape 0 refers to a missing axis"))? as i64;
        }
    }
    let known: i64 = out.iter().filter(|d| **d != -1).product();
    if out.iter().filter(|d| **d == -1).count() > 1 || known <= 0 {
        return Err(unsupported(node, format!("invalid target shape {out:?}")));
    }
    let shape: Vec<usize> =
        out.iter().map(|d| if *d == -1 { total / known as usize } else { *d as usize }).collect();
    if shape.iter().product::<usize>() != total {
        return Err(unsupported(node, format!("cannot reshape {from:?} into {out:?}")));
    }
    Ok(shape)
}

fn flatten_shape(node: &pb::NodeProto, shape: &[usize]) -> Vec<usize> {
    let rank = shape.len() as i64;
    let axis = attr_i(node, "axis", 1);
    let axis = if axis < 0 { axis + rank } else { axis }.clamp(0, rank) as usize;
    vec![shape[..axis].iter().product(), shape[axis..].iter().product()]
}

/// `W` as `[out][in]` from `B` of shape `[in, out]` (or `[out, in]` when `transposed`).
fn weight_matrix(node: &pb::NodeProto, b: &Constant, transposed: bool, in_dim: usize) -> Result<(usize, Vec<f32>)> {
    if b.shape.len() != 2 {
        return Err(unsupported(node, format!("weight must be a matrix, got shape {:?}", b.shape)));
    }
    let (rows, cols) = (b.shape[0], b.shape[1]);
    let (k, n) = if transposed { (cols, rows) } else { (rows, cols) };
    if k != in_dim {
        return Err(unsupported(node, format!("weight shape {:?} does not take {in_dim} inputs", b.shape)));
    }
    let w = if transposed {
        b.data.clone()
    } else {
        (0..n).flat_map(|o| (0..k).map(move |i| (o, i))).map(|(o, i)| b.data[i * n + o]).collect()
    };
    Ok((n, w))
}

/// A bias-like constant broadcast to `n` values (`[n]`, `[1, n]` or a scalar).
fn broadcast(node: &pb::NodeProto, c: &Constant, n: usize) -> Result<Vec<f32>> {
    match c.data.len() {
        1 => Ok(vec![c.data[0]; n]),
        len if len == n => Ok(c.data.clone()),
        _ => Err(unsupported(node, format!("constant of shape {:?} does not broadcast to {n} values", c.shape))),
    }
}

impl OnnxModel {
    /// Parses and imports an ONNX model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let proto = guarded("parse", || onnx.proto_model_for_read(&mut &bytes[..]))?;
        let graph = proto.graph.as_ref().ok_or_else(|| Error::MalformedModel("the file holds no graph".into()))?;

        let mut constants: HashMap<String, Constant> = HashMap::new();
        for init in &graph.initializer {
            constants.insert(init.name.clone(), load_constant(&onnx, init)?);
        }
        let inputs: Vec<&pb::ValueInfoProto> =
            graph.input.iter().filter(|i| !constants.contains_key(&i.name)).collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::UnsupportedModel(format!("the model must have one input, it has {}", inputs.len())));
        };
        let input_shape = input_shape(input)?;
        let mut stream = Stream { name: input.name.clone(), shape: input_shape.clone(), open_layer: false };
        let mut layers: Vec<FloatDense> = Vec::new();

        for node in &graph.node {
            let output = node.output.first().cloned().unwrap_or_default();
            let args: Vec<&str> = node.input.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
            let uses_stream = args.contains(&stream.name.as_str());
            if !uses_stream {
                // A node of constants only: fold it.
                let c = |i: usize| -> Result<&Constant> {
                    args.get(i).and_then(|n| constants.get(*n)).ok_or_else(|| {
                        unsupported(node, "reads a value that is neither a constant nor the model's main stream (only chains are supported)")
                    })
                };
                let folded = match node.op_type.as_str() {
                    "Constant" => {
                        let a = node.attribute.first().ok_or_else(|| unsupported(node, "no value"))?;
                        match a.name.as_str() {
                            "value" => load_constant(&onnx, a.t.as_ref().ok_or_else(|| unsupported(node, "empty value"))?)?,
                            "value_float" => Constant { shape: vec![], data: vec![a.f] },
                            "value_floats" => Constant { shape: vec![a.floats.len()], data: a.floats.clone() },
                            "value_int" => Constant { shape: vec![], data: vec![a.i as f32] },
                            "value_ints" => Constant { shape: vec![a.ints.len()], data: a.ints.iter().map(|v| *v as f32).collect() },
                            other => return Err(unsupported(node, format!("constant attribute '{other}'"))),
                        }
                    }
                    "Identity" | "Cast" => c(0)?.clone(),
                    "Reshape" => {
                        let x = c(0)?;
                        Constant { shape: reshape_target(node, c(1)?, &x.shape)?, data: x.data.clone() }
                    }
                    "Flatten" => {
                        let x = c(0)?;
                        Constant { shape: flatten_shape(node, &x.shape), data: x.data.clone() }
                    }
                    "Transpose" => {
                        let x = c(0)?;
                        let [r, cols] = x.shape[..] else {
                            return Err(unsupported(node, "only 2-D constants are transposed"));
                        };
                        Constant { shape: vec![cols, r], data: (0..cols * r).map(|i| x.data[(i % r) * cols + i / r]).collect() }
                    }
                    _ => return Err(unsupported(node, "not supported on constants (or not connected to the model input)")),
                };
                constants.insert(output, folded);
                continue;
            }
            if args.first() != Some(&stream.name.as_str()) && !matches!(node.op_type.as_str(), "Add" | "MatMul") {
                return Err(unsupported(node, "the computed value must be the first operand"));
            }
            let constant_arg = |i: usize| -> Result<&Constant> {
                args.get(i).and_then(|n| constants.get(*n)).ok_or_else(|| {
                    unsupported(node, "needs a constant operand here; two computed operands are not supported")
                })
            };
            let len: usize = stream.shape.iter().product();
            match node.op_type.as_str() {
                "Identity" | "Dropout" => {}
                "Flatten" => stream.shape = flatten_shape(node, &stream.shape),
                "Reshape" => stream.shape = reshape_target(node, constant_arg(1)?, &stream.shape)?,
                "Squeeze" | "Unsqueeze" => {
                    // Only the element count matters to a chain of dense layers.
                    stream.shape = vec![1, len];
                }
                "Gemm" => {
                    if attr_i(node, "transA", 0) != 0 {
                        return Err(unsupported(node, "transA = 1 is not supported"));
                    }
                    let (alpha, beta) = (attr_f(node, "alpha", 1.0), attr_f(node, "beta", 1.0));
                    let (out_dim, w) = weight_matrix(node, constant_arg(1)?, attr_i(node, "transB", 0) != 0, len)?;
                    let bias = match args.get(2) {
                        Some(_) => broadcast(node, constant_arg(2)?, out_dim)?.iter().map(|b| b * beta).collect(),
                        None => vec![0.0; out_dim],
                    };
                    layers.push(FloatDense {
                        name: node.name.clone(),
                        in_dim: len,
                        out_dim,
                        weights: w.iter().map(|v| v * alpha).collect(),
                        bias,
                        activation: Activation::Linear,
                    });
                    stream = Stream { name: output, shape: vec![1, out_dim], open_layer: true };
                    continue;
                }
                "MatMul" => {
                    if args.first() != Some(&stream.name.as_str()) {
                        return Err(unsupported(node, "the constant operand must be on the right"));
                    }
                    let (out_dim, w) = weight_matrix(node, constant_arg(1)?, false, len)?;
                    layers.push(FloatDense {
                        name: node.name.clone(),
                        in_dim: len,
                        out_dim,
                        weights: w,
                        bias: vec![0.0; out_dim],
                        activation: Activation::Linear,
                    });
                    stream = Stream { name: output, shape: vec![1, out_dim], open_layer: true };
                    continue;
                }
                "Add" => {
                    let other = if args.first() == Some(&stream.name.as_str()) { 1 } else { 0 };
                    let c = constant_arg(other)?;
                    let layer = layers.last_mut().filter(|_| stream.open_layer).ok_or_else(|| {
                        unsupported(node, "adding a constant is supported only right after Gemm/MatMul")
                    })?;
                    for (b, v) in layer.bias.iter_mut().zip(broadcast(node, c, layer.out_dim)?) {
                        *b += v;
                    }
                }
                "Relu" => {
                    let layer = layers.last_mut().filter(|_| stream.open_layer).ok_or_else(|| {
                        unsupported(node, "Relu is supported only after Gemm/MatMul")
                    })?;
                    layer.activation = Activation::Relu;
                    stream.open_layer = false;
                }
                _ => return Err(unsupported(node, "operator not supported yet")),
            }
            stream.name = output;
        }

        let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        if outputs != [stream.name.as_str()] {
            return Err(Error::UnsupportedModel(format!(
                "the model must have exactly one output, the end of its chain '{}'; it declares {outputs:?}",
                stream.name
            )));
        }
        if layers.is_empty() {
            return Err(Error::UnsupportedModel("the model has no Gemm/MatMul layer".into()));
        }
        let float = FloatModel { input_shape: input_shape.clone(), layers };
        let reference = guarded("tract", || {
            onnx.model_for_proto_model(&proto)?
                .with_input_fact(0, f32::fact(&input_shape).into())?
                .into_optimized()?
                .into_runnable()
        })?;
        Ok(Self { float, reference })
    }

    /// Runs the original ONNX graph (through tract) in floating point.
    pub fn run_reference(&self, input: &[f32]) -> Result<Vec<f32>> {
        let shape = &self.float.input_shape;
        let out = guarded("float execution", || {
            let x = Tensor::from_shape(shape, input)?;
            let out = self.reference.run(tvec!(x.into()))?;
            Ok(out[0].cast_to::<f32>()?.as_slice::<f32>()?.to_vec())
        })?;
        Ok(out)
    }
}
