//! ONNX import: the model file → a [`FloatModel`] (layers of sparse affine rows with ReLU), plus
//! tract's own execution of the same file as the float reference for fidelity reports.
//!
//! The graph may branch and merge (residual additions, concatenations) but has one input and
//! one output. Supported operators:
//! - linear, folded into the rows of the next layer: `Gemm`, `MatMul` with one constant operand,
//!   `Conv` (1-D and 2-D; strides, padding incl. `auto_pad`, dilation, groups incl. depthwise),
//!   `ConvTranspose` (2-D, explicit padding),
//!   `BatchNormalization`, `AveragePool`, `GlobalAveragePool`, `ReduceSum`, `ReduceMean`,
//!   `Add`/`Sub` (constants or two computed tensors), `Mul`/`Div` by a constant, `Neg`;
//! - shape: `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Transpose`, `Concat`, `Slice`,
//!   `Split`, `Gather` (constant indices), `Pad` (constant mode), `Identity`, `Dropout`, `Cast`;
//! - built from ReLU, one requantization per comparison and no lookup table: `Relu`,
//!   `LeakyRelu`, `Abs`, `Clip`, `HardSigmoid`, `Max`, `Min`, `MaxPool`, `GlobalMaxPool`,
//!   `ReduceMax`, `ReduceMin`;
//! - read from a function table (see [`zkml_circuits::lookup`]): `Sigmoid`, `Tanh`, `Exp`,
//!   `Log`, `Sqrt`, `Erf`, `Softplus`, `HardSwish`, `Reciprocal` (GELU in its `Erf` form);
//! - products of two computed tensors (product layers): `Mul`, `Div` (by a positive divisor,
//!   through its reciprocal), `MatMul` (as in attention), and built from them `Softmax`
//!   (max-subtracted) and `LayerNormalization` (last axis).
//!
//! Nodes that read only constants (`Shape`, `Constant`, arithmetic on initializers, ...) are
//! folded. A symbolic leading (batch) dimension is fixed to 1; any other symbolic dimension is
//! an error; any other operator fails with an error naming the node.

mod affine;
mod tensor;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};
use tract_onnx::prelude::*;
use zkml_circuits::lookup::{Function, LookupFn};
use zkml_circuits::Activation;

use crate::error::{Error, Result};
use crate::float_model::{FloatModel, FloatRow};
use affine::{combine, constant, Affine, Layers, Window};
use tensor::{axis, broadcast_shapes, strides, unravel, Tensor};

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

fn node_name(node: &pb::NodeProto) -> String {
    if node.name.is_empty() {
        node.output.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    }
}

fn unsupported(node: &pb::NodeProto, reason: impl Into<String>) -> Error {
    Error::UnsupportedOp { node: node_name(node), op: node.op_type.clone(), reason: reason.into() }
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_i(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str, default: f32) -> f64 {
    attr(node, name).map_or(default, |a| a.f) as f64
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn load_constant(onnx: &tract_onnx::Onnx, tensor: &pb::TensorProto) -> Result<Tensor<f64>> {
    let tensor = guarded(&format!("tensor '{}'", tensor.name), || {
        tract_onnx::tensor::load_tensor(&*onnx.provider, tensor, None)
    })?;
    let data = guarded("tensor conversion", || Ok(tensor.cast_to::<f64>()?.as_slice::<f64>()?.to_vec()))?;
    Ok(Tensor::new(tensor.shape().to_vec(), data))
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

/// A value of the graph: a constant, or computed from the input.
#[derive(Clone, Debug)]
enum Val {
    Const(Tensor<f64>),
    Affine(Affine),
}

/// Applies a shape operator to either kind of value.
macro_rules! on_both {
    ($val:expr, $t:ident => $e:expr) => {
        match $val {
            Val::Const($t) => Val::Const($e),
            Val::Affine($t) => Val::Affine($e),
        }
    };
}

impl Val {
    fn shape(&self) -> &[usize] {
        match self {
            Val::Const(t) => &t.shape,
            Val::Affine(t) => &t.shape,
        }
    }

    fn into_affine(self) -> Affine {
        match self {
            Val::Const(t) => Tensor::new(t.shape, t.data.into_iter().map(constant).collect()),
            Val::Affine(t) => t,
        }
    }
}

/// Nonlinear operators the circuit cannot prove yet on computed values.
const NOT_YET: &[&str] = &["LogSoftmax", "Pow", "Sin", "Cos", "Elu", "Selu", "Celu"];

/// Walks the graph in order, keeping every named value.
struct Importer<'a> {
    onnx: &'a tract_onnx::Onnx,
    values: HashMap<String, Val>,
    layers: Layers,
}

impl Importer<'_> {
    /// Input `i` of `node`, `None` when absent (ONNX optional inputs are positional).
    fn opt(&self, node: &pb::NodeProto, i: usize) -> Result<Option<&Val>> {
        match node.input.get(i).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => self
                .values
                .get(name)
                .map(Some)
                .ok_or_else(|| unsupported(node, format!("reads '{name}', which is not defined before it"))),
        }
    }

    fn arg(&self, node: &pb::NodeProto, i: usize) -> Result<&Val> {
        self.opt(node, i)?.ok_or_else(|| unsupported(node, format!("input {i} is missing")))
    }

    fn constant(&self, node: &pb::NodeProto, i: usize) -> Result<&Tensor<f64>> {
        match self.arg(node, i)? {
            Val::Const(t) => Ok(t),
            Val::Affine(_) => Err(unsupported(node, format!("input {i} must be a constant, but it is computed from the model input"))),
        }
    }

    /// Integer list from a constant input (or `None` when that input is absent).
    fn ints(&self, node: &pb::NodeProto, i: usize) -> Result<Option<Vec<i64>>> {
        match self.opt(node, i)? {
            None => Ok(None),
            Some(Val::Const(t)) => Ok(Some(t.data.iter().map(|v| *v as i64).collect())),
            Some(Val::Affine(_)) => Err(unsupported(node, format!("input {i} must be a constant"))),
        }
    }

    /// Axes from the attribute (older opsets) or from input `i` (newer ones).
    fn axes(&self, node: &pb::NodeProto, i: usize) -> Result<Option<Vec<i64>>> {
        Ok(match attr_ints(node, "axes") {
            Some(a) => Some(a),
            None => self.ints(node, i)?,
        })
    }

    fn import(&mut self, node: &pb::NodeProto) -> Result<Vec<Val>> {
        let name = node_name(node);
        let op = node.op_type.as_str();
        let computed = (0..node.input.len()).any(|i| matches!(self.opt(node, i), Ok(Some(Val::Affine(_)))));
        if computed && NOT_YET.contains(&op) {
            return Err(unsupported(node, "not supported yet on values computed from the input"));
        }
        if let (true, Some(f)) = (computed, Function::from_onnx(op)) {
            let x = self.arg(node, 0)?.clone().into_affine();
            return Ok(vec![Val::Affine(self.table(&name, x, f))]);
        }
        let one = |v: Val| Ok(vec![v]);
        match op {
            "Constant" => {
                let a = node.attribute.first().ok_or_else(|| unsupported(node, "no value"))?;
                let t = match a.name.as_str() {
                    "value" => load_constant(self.onnx, a.t.as_ref().ok_or_else(|| unsupported(node, "empty value"))?)?,
                    "value_float" => Tensor::new(vec![], vec![a.f as f64]),
                    "value_floats" => Tensor::new(vec![a.floats.len()], a.floats.iter().map(|v| *v as f64).collect()),
                    "value_int" => Tensor::new(vec![], vec![a.i as f64]),
                    "value_ints" => Tensor::new(vec![a.ints.len()], a.ints.iter().map(|v| *v as f64).collect()),
                    other => return Err(unsupported(node, format!("constant attribute '{other}'"))),
                };
                one(Val::Const(t))
            }
            "Identity" | "Dropout" | "Cast" => one(self.arg(node, 0)?.clone()),
            "Shape" => {
                let shape = self.arg(node, 0)?.shape();
                let t = Tensor::new(vec![shape.len()], shape.iter().map(|d| *d as f64).collect());
                let (start, end) = (attr_i(node, "start", 0), attr_i(node, "end", shape.len() as i64));
                one(Val::Const(t.slice(0, start, end, 1)?))
            }
            "Reshape" => {
                let x = self.arg(node, 0)?.clone();
                let target = self.ints(node, 1)?.ok_or_else(|| unsupported(node, "no target shape"))?;
                let shape = reshape_target(node, &target, x.shape())?;
                one(on_both!(x, t => t.reshape(shape.clone())))
            }
            "Flatten" => {
                let x = self.arg(node, 0)?.clone();
                let a = axis(attr_i(node, "axis", 1), x.shape().len() + 1)?;
                let shape = vec![x.shape()[..a].iter().product(), x.shape()[a..].iter().product()];
                one(on_both!(x, t => t.reshape(shape.clone())))
            }
            "Squeeze" => {
                let x = self.arg(node, 0)?.clone();
                let rank = x.shape().len();
                let axes: Vec<usize> = match self.axes(node, 1)? {
                    Some(a) => a.iter().map(|a| axis(*a, rank)).collect::<Result<_>>()?,
                    None => (0..rank).filter(|d| x.shape()[*d] == 1).collect(),
                };
                let shape = x.shape().iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, n)| *n).collect::<Vec<_>>();
                one(on_both!(x, t => t.reshape(shape.clone())))
            }
            "Unsqueeze" => {
                let x = self.arg(node, 0)?.clone();
                let axes = self.axes(node, 1)?.ok_or_else(|| unsupported(node, "no axes"))?;
                let rank = x.shape().len() + axes.len();
                let axes: Vec<usize> = axes.iter().map(|a| axis(*a, rank)).collect::<Result<_>>()?;
                let mut dims = x.shape().iter();
                let shape: Vec<usize> =
                    (0..rank).map(|d| if axes.contains(&d) { 1 } else { *dims.next().unwrap_or(&1) }).collect();
                one(on_both!(x, t => t.reshape(shape.clone())))
            }
            "Transpose" => {
                let x = self.arg(node, 0)?.clone();
                let rank = x.shape().len();
                let perm: Vec<usize> = match attr_ints(node, "perm") {
                    Some(p) => p.iter().map(|a| axis(*a, rank)).collect::<Result<_>>()?,
                    None => (0..rank).rev().collect(),
                };
                one(on_both!(x, t => t.transpose(&perm)?))
            }
            "Concat" => {
                let parts: Vec<Val> = (0..node.input.len()).map(|i| self.arg(node, i).cloned()).collect::<Result<_>>()?;
                let a = axis(attr_i(node, "axis", 0), parts[0].shape().len())?;
                if parts.iter().all(|p| matches!(p, Val::Const(_))) {
                    let ts: Vec<Tensor<f64>> = parts.into_iter().map(|p| match p { Val::Const(t) => t, Val::Affine(_) => unreachable!() }).collect();
                    one(Val::Const(Tensor::concat(&ts, a)?))
                } else {
                    let ts: Vec<Affine> = parts.into_iter().map(Val::into_affine).collect();
                    one(Val::Affine(Tensor::concat(&ts, a)?))
                }
            }
            "Slice" => {
                let mut x = self.arg(node, 0)?.clone();
                let rank = x.shape().len();
                let (starts, ends, axes, steps) = match attr_ints(node, "starts") {
                    Some(starts) => (starts, attr_ints(node, "ends").unwrap_or_default(), attr_ints(node, "axes"), None),
                    None => (
                        self.ints(node, 1)?.ok_or_else(|| unsupported(node, "no starts"))?,
                        self.ints(node, 2)?.ok_or_else(|| unsupported(node, "no ends"))?,
                        self.ints(node, 3)?,
                        self.ints(node, 4)?,
                    ),
                };
                let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
                if ends.len() != starts.len() || axes.len() != starts.len() {
                    return Err(unsupported(node, "starts, ends and axes differ in length"));
                }
                for (i, a) in axes.iter().enumerate() {
                    let a = axis(*a, rank)?;
                    let step = steps.as_ref().map_or(1, |s| s[i]);
                    x = on_both!(x, t => t.slice(a, starts[i], ends[i], step)?);
                }
                one(x)
            }
            "Split" => {
                let x = self.arg(node, 0)?.clone();
                let a = axis(attr_i(node, "axis", 0), x.shape().len())?;
                let n = x.shape()[a];
                let sizes: Vec<usize> = match attr_ints(node, "split").map(Some).map_or_else(|| self.ints(node, 1), Ok)? {
                    Some(s) => s.iter().map(|v| *v as usize).collect(),
                    None => {
                        let parts = node.output.len();
                        let each = n.div_ceil(parts);
                        (0..parts).map(|p| each.min(n.saturating_sub(p * each))).collect()
                    }
                };
                if sizes.iter().sum::<usize>() != n || sizes.len() != node.output.len() {
                    return Err(unsupported(node, format!("split sizes {sizes:?} do not divide axis {a} of {n}")));
                }
                let mut start = 0i64;
                sizes
                    .iter()
                    .map(|size| {
                        let end = start + *size as i64;
                        let part = on_both!(x.clone(), t => t.slice(a, start, end, 1)?);
                        start = end;
                        Ok(part)
                    })
                    .collect()
            }
            "Gather" => {
                let x = self.arg(node, 0)?.clone();
                let idx = self.constant(node, 1)?.clone();
                let a = axis(attr_i(node, "axis", 0), x.shape().len())?;
                let n = x.shape()[a] as i64;
                let indices: Vec<usize> = idx
                    .data
                    .iter()
                    .map(|v| {
                        let i = *v as i64;
                        let i = if i < 0 { i + n } else { i };
                        (0..n).contains(&i).then_some(i as usize).ok_or_else(|| unsupported(node, format!("index {v} out of range")))
                    })
                    .collect::<Result<_>>()?;
                one(on_both!(x, t => t.gather(a, &indices, &idx.shape)))
            }
            "Pad" => {
                let x = self.arg(node, 0)?.clone();
                let mode = attr(node, "mode").map_or("constant".to_string(), |a| String::from_utf8_lossy(&a.s).into_owned());
                if mode != "constant" {
                    return Err(unsupported(node, format!("pad mode '{mode}' (only 'constant')")));
                }
                if self.opt(node, 3)?.is_some() {
                    return Err(unsupported(node, "the axes input is not supported"));
                }
                let pads = match attr_ints(node, "pads") {
                    Some(p) => p,
                    None => self.ints(node, 1)?.ok_or_else(|| unsupported(node, "no pads"))?,
                };
                if pads.len() != 2 * x.shape().len() || pads.iter().any(|p| *p < 0) {
                    return Err(unsupported(node, format!("pads {pads:?} (negative pads are not supported)")));
                }
                let pads: Vec<usize> = pads.iter().map(|p| *p as usize).collect();
                let fill = match self.opt(node, 2)? {
                    Some(Val::Const(t)) => t.data.first().copied().unwrap_or(0.0),
                    Some(Val::Affine(_)) => return Err(unsupported(node, "the pad value must be a constant")),
                    None => attr_f(node, "value", 0.0),
                };
                one(match x {
                    Val::Const(t) => Val::Const(t.pad(&pads, fill)),
                    Val::Affine(t) => Val::Affine(t.pad(&pads, constant(fill))),
                })
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (a, b) = (self.arg(node, 0)?.clone(), self.arg(node, 1)?.clone());
                match (a, b) {
                    (Val::Affine(a), Val::Affine(b)) if matches!(op, "Mul" | "Div") => {
                        let shape = broadcast_shapes(&a.shape, &b.shape)?;
                        let (a, b) = (a.broadcast_to(&shape), b.broadcast_to(&shape));
                        // a / b = a · (1/b), the reciprocal read from a table.
                        let b = if op == "Div" { self.table(&format!("{name} (reciprocal)"), b, Function::Reciprocal) } else { b };
                        one(Val::Affine(self.multiply(&name, &a, &b)))
                    }
                    (a, b) => one(binary(node, a, b)?),
                }
            }
            "Softmax" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                let a = axis(attr_i(node, "axis", -1), x.shape.len())?;
                one(Val::Affine(self.softmax(&name, x, a)))
            }
            "LayerNormalization" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                let a = axis(attr_i(node, "axis", -1), x.shape.len())?;
                if a + 1 != x.shape.len() {
                    return Err(unsupported(node, "only normalization over the last axis is supported"));
                }
                let n = x.shape[a];
                let gamma = self.constant(node, 1)?.broadcast_to(&[n]);
                let beta = match self.opt(node, 2)? {
                    Some(Val::Const(b)) => b.broadcast_to(&[n]),
                    Some(Val::Affine(_)) => return Err(unsupported(node, "the bias must be a constant")),
                    None => Tensor::new(vec![n], vec![0.0; n]),
                };
                let eps = attr_f(node, "epsilon", 1e-5);
                one(Val::Affine(self.layer_norm(&name, x, &gamma.data, &beta.data, eps)))
            }
            "Neg" => one(match self.arg(node, 0)?.clone() {
                Val::Const(t) => Val::Const(Tensor::new(t.shape, t.data.iter().map(|v| -v).collect())),
                Val::Affine(t) => Val::Affine(Tensor::new(t.shape, t.data.iter().map(|r| combine([(-1.0, r)])).collect())),
            }),
            _ if Function::from_onnx(op).is_some() => {
                let f = Function::from_onnx(op).expect("checked");
                let t = self.constant(node, 0)?;
                one(Val::Const(Tensor::new(t.shape.clone(), t.data.iter().map(|v| f.eval(*v)).collect())))
            }
            "HardSigmoid" => {
                // clip(α·x + β, 0, 1).
                let (alpha, beta) = (attr_f(node, "alpha", 0.2), attr_f(node, "beta", 0.5));
                let x = self.arg(node, 0)?.clone().into_affine();
                let one_row = constant(1.0);
                let rows = x.data.iter().map(|r| combine([(alpha, r), (beta, &one_row)])).collect();
                one(Val::Affine(self.clip(&name, Tensor::new(x.shape, rows), Some(0.0), Some(1.0))))
            }
            "Relu" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                one(Val::Affine(self.layers.relu(&name, &x)))
            }
            "LeakyRelu" => {
                // α·x + (1 − α)·relu(x), for any α.
                let alpha = attr_f(node, "alpha", 0.01);
                let x = self.arg(node, 0)?.clone().into_affine();
                let r = self.layers.relu(&name, &x);
                let rows = x.data.iter().zip(&r.data).map(|(x, r)| combine([(alpha, x), (1.0 - alpha, r)])).collect();
                one(Val::Affine(Tensor::new(x.shape, rows)))
            }
            "Abs" => {
                // 2·relu(x) − x.
                let x = self.arg(node, 0)?.clone().into_affine();
                let r = self.layers.relu(&name, &x);
                let rows = x.data.iter().zip(&r.data).map(|(x, r)| combine([(2.0, r), (-1.0, x)])).collect();
                one(Val::Affine(Tensor::new(x.shape, rows)))
            }
            "Clip" => {
                let bound = |i: usize, key: &str| -> Result<Option<f64>> {
                    Ok(match self.opt(node, i)? {
                        Some(Val::Const(t)) => t.data.first().copied(),
                        Some(Val::Affine(_)) => return Err(unsupported(node, "clip bounds must be constants")),
                        None => attr(node, key).map(|a| a.f as f64),
                    })
                };
                let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
                let x = self.arg(node, 0)?.clone().into_affine();
                one(Val::Affine(self.clip(&name, x, lo, hi)))
            }
            "Max" | "Min" => {
                let parts: Vec<Val> = (0..node.input.len()).map(|i| self.arg(node, i).cloned()).collect::<Result<_>>()?;
                let shape = parts.iter().try_fold(Vec::new(), |s, p| broadcast_shapes(&s, p.shape()))?;
                let sign = if op == "Max" { 1.0 } else { -1.0 };
                let parts: Vec<Affine> = parts.into_iter().map(|p| p.into_affine().broadcast_to(&shape)).collect();
                let candidates = (0..shape.iter().product())
                    .map(|i| parts.iter().map(|p| combine([(sign, &p.data[i])])).collect())
                    .collect();
                let rows = self.layers.max_of(&name, candidates).iter().map(|r| combine([(sign, r)])).collect();
                one(Val::Affine(Tensor::new(shape, rows)))
            }
            "MatMul" | "Gemm" => {
                let (a, b) = (self.arg(node, 0)?.clone(), self.arg(node, 1)?.clone());
                let (trans_a, trans_b) = (attr_i(node, "transA", 0) != 0, attr_i(node, "transB", 0) != 0);
                let (alpha, beta) = (attr_f(node, "alpha", 1.0), attr_f(node, "beta", 1.0));
                let bias = match self.opt(node, 2)? {
                    Some(Val::Const(c)) => Some(c.clone()),
                    Some(Val::Affine(_)) => return Err(unsupported(node, "the bias must be a constant")),
                    None => None,
                };
                one(self.matmul(node, a, b, trans_a, trans_b, alpha, bias.map(|c| (beta, c)))?)
            }
            "Conv" | "ConvTranspose" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                let w = self.constant(node, 1)?.clone();
                let bias = match self.opt(node, 2)? {
                    Some(Val::Const(b)) => Some(b.clone()),
                    Some(Val::Affine(_)) => return Err(unsupported(node, "the bias must be a constant")),
                    None => None,
                };
                one(Val::Affine(if op == "Conv" {
                    self.conv(node, x, &w, bias.as_ref())?
                } else {
                    self.conv_transpose(node, x, &w, bias.as_ref())?
                }))
            }
            "BatchNormalization" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                let [scale, shift, mean, var] = [1, 2, 3, 4].map(|i| self.constant(node, i).cloned());
                let (scale, shift, mean, var) = (scale?, shift?, mean?, var?);
                let eps = attr_f(node, "epsilon", 1e-5);
                let channels = *x.shape.get(1).ok_or_else(|| unsupported(node, "input has no channel axis"))?;
                if [&scale, &shift, &mean, &var].iter().any(|t| t.len() != channels) {
                    return Err(unsupported(node, "statistics do not match the channel count"));
                }
                let inner: usize = x.shape[2..].iter().product();
                let rows = x
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let c = (i / inner) % channels;
                        let g = scale.data[c] / (var.data[c] + eps).sqrt();
                        combine([(g, r), (shift.data[c] - mean.data[c] * g, &constant(1.0))])
                    })
                    .collect();
                one(Val::Affine(Tensor::new(x.shape, rows)))
            }
            "AveragePool" | "MaxPool" | "GlobalAveragePool" | "GlobalMaxPool" => {
                let x = self.arg(node, 0)?.clone().into_affine();
                one(Val::Affine(self.pool(node, x)?))
            }
            "ReduceSum" | "ReduceMean" | "ReduceMax" | "ReduceMin" => {
                let x = self.arg(node, 0)?.clone();
                let rank = x.shape().len();
                let axes: Vec<usize> = match self.axes(node, 1)? {
                    Some(a) if !a.is_empty() => a.iter().map(|a| axis(*a, rank)).collect::<Result<_>>()?,
                    _ if attr_i(node, "noop_with_empty_axes", 0) != 0 => return one(x),
                    _ => (0..rank).collect(),
                };
                let keep = attr_i(node, "keepdims", 1) != 0;
                one(Val::Affine(self.reduce(node, x.into_affine(), &axes, keep)?))
            }
            _ if NOT_YET.contains(&op) => Err(unsupported(node, "supported only on constants")),
            _ => Err(unsupported(node, "operator not supported yet")),
        }
    }

    /// `clip(x, lo, hi) = lo + relu(x − lo) − relu(x − hi)` (one side when the other is absent).
    fn clip(&mut self, name: &str, x: Affine, lo: Option<f64>, hi: Option<f64>) -> Affine {
        let one = constant(1.0);
        let n = x.len();
        let mut stacked: Vec<FloatRow> = Vec::new();
        if let Some(lo) = lo {
            stacked.extend(x.data.iter().map(|r| combine([(1.0, r), (-lo, &one)])));
        }
        if let Some(hi) = hi {
            stacked.extend(x.data.iter().map(|r| combine([(1.0, r), (-hi, &one)])));
        }
        if stacked.is_empty() {
            return x;
        }
        let relus = self.layers.materialize(name, stacked, Activation::Relu);
        let rows = (0..n)
            .map(|i| match (lo, hi) {
                (Some(lo), Some(_)) => combine([(lo, &one), (1.0, &relus[i]), (-1.0, &relus[n + i])]),
                (Some(lo), None) => combine([(lo, &one), (1.0, &relus[i])]),
                (None, Some(_)) => combine([(1.0, &x.data[i]), (-1.0, &relus[i])]),
                (None, None) => unreachable!(),
            })
            .collect();
        Tensor::new(x.shape, rows)
    }

    /// Matrix product with one constant operand (and Gemm's transposes, scale and bias).
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &mut self,
        node: &pb::NodeProto,
        a: Val,
        b: Val,
        trans_a: bool,
        trans_b: bool,
        alpha: f64,
        bias: Option<(f64, Tensor<f64>)>,
    ) -> Result<Val> {
        let t2 = |v: Val, trans: bool| -> Result<Val> {
            let rank = v.shape().len();
            if !trans {
                return Ok(v);
            }
            let perm: Vec<usize> = (0..rank - 2).chain([rank - 1, rank - 2]).collect();
            Ok(on_both!(v, t => t.transpose(&perm)?))
        };
        let (a, b) = (t2(a, trans_a)?, t2(b, trans_b)?);
        let name = node_name(node);
        let out = match (a, b) {
            (Val::Affine(x), Val::Const(w)) => {
                let [k, n] = w.shape[..] else {
                    return Err(unsupported(node, format!("the constant operand must be a matrix, got shape {:?}", w.shape)));
                };
                let rank = x.shape.len();
                if rank == 0 || x.shape[rank - 1] != k {
                    return Err(unsupported(node, format!("shapes {:?} and {:?} do not multiply", x.shape, w.shape)));
                }
                let x = self.layers.compact(&name, x, k);
                let mut shape = x.shape.clone();
                shape[rank - 1] = n;
                Tensor::from_fn(shape, |idx| {
                    let base = (idx.iter().zip(strides(&x.shape)).take(rank - 1).map(|(i, s)| i * s).sum::<usize>(), idx[rank - 1]);
                    combine((0..k).map(|j| (alpha * w.data[j * n + base.1], &x.data[base.0 + j])))
                })
            }
            (Val::Const(c), Val::Affine(x)) => {
                let (&[m, k], &[k2, n]) = (&c.shape[..], &x.shape[..]) else {
                    return Err(unsupported(node, format!("shapes {:?} and {:?}: only 2-D products with a constant left operand", c.shape, x.shape)));
                };
                if k != k2 {
                    return Err(unsupported(node, format!("shapes {:?} and {:?} do not multiply (2-D only)", c.shape, x.shape)));
                }
                let x = self.layers.compact(&name, x, k);
                Tensor::from_fn(vec![m, n], |idx| combine((0..k).map(|j| (alpha * c.data[idx[0] * k + j], &x.data[j * n + idx[1]]))))
            }
            (Val::Const(_), Val::Const(_)) => return Err(unsupported(node, "a product of constants is not folded")),
            (Val::Affine(a), Val::Affine(b)) => self.matmul_computed(node, a, b, alpha)?,
        };
        let out = match bias {
            None => out,
            Some((beta, c)) => {
                let shape = broadcast_shapes(&out.shape, &c.shape)?;
                if shape != out.shape {
                    return Err(unsupported(node, format!("bias of shape {:?} does not fit the output {:?}", c.shape, out.shape)));
                }
                let c = c.broadcast_to(&shape);
                let one = constant(1.0);
                Tensor::new(shape, out.data.iter().zip(&c.data).map(|(r, b)| combine([(1.0, r), (beta * b, &one)])).collect())
            }
        };
        Ok(Val::Affine(out))
    }

    /// `f` of every element of `x`, read from a function table.
    fn table(&mut self, name: &str, x: Affine, f: Function) -> Affine {
        let rows = self.layers.materialize(name, x.data, Activation::Table(LookupFn::of(f)));
        Tensor::new(x.shape, rows)
    }

    /// The elementwise product of two computed tensors of one shape (a product layer).
    fn multiply(&mut self, name: &str, a: &Affine, b: &Affine) -> Affine {
        let (va, ca) = self.layers.operand(name, a);
        // A square reads one operand twice; materialize it once.
        let (vb, cb) = if a == b { (va.clone(), ca) } else { self.layers.operand(name, b) };
        let pairs = va.iter().zip(&vb).map(|(a, b)| vec![(*a, *b)]).collect();
        let rows = self.layers.product(name, pairs, Activation::Linear);
        Tensor::new(a.shape.clone(), rows.iter().map(|r| combine([(ca * cb, r)])).collect())
    }

    /// The matrix product of two computed tensors `[.., M, K] × [.., K, N]` (batch dimensions
    /// equal), one product layer of `K` pairs per output.
    fn matmul_computed(&mut self, node: &pb::NodeProto, a: Affine, b: Affine, alpha: f64) -> Result<Affine> {
        let (ra, rb) = (a.shape.len(), b.shape.len());
        if ra < 2 || ra != rb || a.shape[..ra - 2] != b.shape[..rb - 2] || a.shape[ra - 1] != b.shape[rb - 2] {
            return Err(unsupported(node, format!("shapes {:?} and {:?} do not multiply (equal batch dimensions only)", a.shape, b.shape)));
        }
        let (m, k, n) = (a.shape[ra - 2], a.shape[ra - 1], b.shape[rb - 1]);
        let batches: usize = a.shape[..ra - 2].iter().product();
        let name = node_name(node);
        let (va, ca) = self.layers.operand(&name, &a);
        let (vb, cb) = self.layers.operand(&name, &b);
        let pairs = (0..batches * m * n)
            .map(|o| {
                let (batch, i, j) = (o / (m * n), o / n % m, o % n);
                (0..k).map(|t| (va[(batch * m + i) * k + t], vb[(batch * k + t) * n + j])).collect()
            })
            .collect();
        let rows = self.layers.product(&name, pairs, Activation::Linear);
        let mut shape = a.shape.clone();
        shape[ra - 1] = n;
        Ok(Tensor::new(shape, rows.iter().map(|r| combine([(alpha * ca * cb, r)])).collect()))
    }

    /// Flat indices of `shape`'s elements grouped by slice along `axis` (one group per position
    /// of the other axes, in order).
    fn slices(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
        let stride: usize = shape[axis + 1..].iter().product();
        let n = shape[axis];
        let outer: usize = shape[..axis].iter().product();
        (0..outer * stride)
            .map(|g| {
                let (o, i) = (g / stride, g % stride);
                (0..n).map(|t| (o * n + t) * stride + i).collect()
            })
            .collect()
    }

    /// `softmax(x) = e^(x − max) / Σ e^(x − max)` along `axis`: a ReLU tree for the maximum, an
    /// exp table, a sum, a reciprocal table (of a sum in `[1, n]`), and one product per element.
    fn softmax(&mut self, name: &str, x: Affine, axis: usize) -> Affine {
        let groups = Self::slices(&x.shape, axis);
        let candidates = groups.iter().map(|g| g.iter().map(|i| x.data[*i].clone()).collect()).collect();
        let maxima = self.layers.max_of(&format!("{name} (max)"), candidates);
        let mut shifted = vec![Vec::new(); x.len()];
        for (g, max) in groups.iter().zip(&maxima) {
            for i in g {
                shifted[*i] = combine([(1.0, &x.data[*i]), (-1.0, max)]);
            }
        }
        let exp = self.table(&format!("{name} (exp)"), Tensor::new(x.shape.clone(), shifted), Function::Exp);
        let sums = groups.iter().map(|g| combine(g.iter().map(|i| (1.0, &exp.data[*i])))).collect();
        let recip = self.table(&format!("{name} (reciprocal)"), Tensor::new(vec![groups.len()], sums), Function::Reciprocal);
        let mut spread = vec![Vec::new(); x.len()];
        for (g, r) in groups.iter().zip(&recip.data) {
            for i in g {
                spread[*i] = r.clone();
            }
        }
        self.multiply(name, &exp, &Tensor::new(x.shape, spread))
    }

    /// Layer normalization over the last axis: `γ·(x − μ)/√(σ² + ε) + β`, with the centred values
    /// squared by a product layer and `1/√·` read from a table.
    fn layer_norm(&mut self, name: &str, x: Affine, gamma: &[f64], beta: &[f64], eps: f64) -> Affine {
        let n = *x.shape.last().expect("normalized tensors have an axis");
        let groups = Self::slices(&x.shape, x.shape.len() - 1);
        let mut centred = vec![Vec::new(); x.len()];
        for g in &groups {
            let mean = combine(g.iter().map(|i| (1.0 / n as f64, &x.data[*i])));
            for i in g {
                centred[*i] = combine([(1.0, &x.data[*i]), (-1.0, &mean)]);
            }
        }
        let (values, c) = self.layers.operand(&format!("{name} (centred)"), &Tensor::new(x.shape.clone(), centred));
        let centred = Tensor::new(x.shape.clone(), values.iter().map(|v| vec![(*v, c)]).collect());
        let squares = self.multiply(&format!("{name} (square)"), &centred, &centred);
        let one = constant(1.0);
        let variances =
            groups.iter().map(|g| combine(g.iter().map(|i| (1.0 / n as f64, &squares.data[*i])).chain([(eps, &one)]))).collect();
        let rsqrt = self.table(&format!("{name} (rsqrt)"), Tensor::new(vec![groups.len()], variances), Function::Rsqrt);
        let mut spread = vec![Vec::new(); x.len()];
        for (g, r) in groups.iter().zip(&rsqrt.data) {
            for i in g {
                spread[*i] = r.clone();
            }
        }
        let normalized = self.multiply(name, &centred, &Tensor::new(x.shape.clone(), spread));
        let rows = normalized
            .data
            .iter()
            .enumerate()
            .map(|(i, r)| combine([(gamma[i % n], r), (beta[i % n], &one)]))
            .collect();
        Tensor::new(x.shape, rows)
    }

    /// The sliding window of a convolution or pooling node over `x` of shape `[1, C, (H,) W]`.
    fn window(node: &pb::NodeProto, x: &[usize], kernel: &[usize]) -> Result<Window> {
        let spatial = x.len().checked_sub(2).filter(|r| (1..=2).contains(r)).ok_or_else(|| {
            unsupported(node, format!("input of shape {x:?}: only 1-D and 2-D windows over [batch, channels, ...]"))
        })?;
        if x[0] != 1 {
            return Err(unsupported(node, "batch size must be 1"));
        }
        let list = |key: &str, default: usize, len: usize| -> Result<Vec<usize>> {
            let v = attr_ints(node, key).unwrap_or_else(|| vec![default as i64; len]);
            if v.len() != len || v.iter().any(|d| *d < 0) {
                return Err(unsupported(node, format!("attribute {key} = {v:?}")));
            }
            Ok(v.iter().map(|d| *d as usize).collect())
        };
        // Promote 1-D to 2-D with a height-1 plane.
        let two = |v: Vec<usize>, fill: usize| -> [usize; 2] { if v.len() == 1 { [fill, v[0]] } else { [v[0], v[1]] } };
        let strides = two(list("strides", 1, spatial)?, 1);
        let dilations = two(list("dilations", 1, spatial)?, 1);
        let kernel = two(kernel.to_vec(), 1);
        let input = two(x[2..].to_vec(), 1);
        if attr_i(node, "ceil_mode", 0) != 0 {
            return Err(unsupported(node, "ceil_mode = 1 is not supported"));
        }
        let auto_pad = attr(node, "auto_pad").map_or(String::new(), |a| String::from_utf8_lossy(&a.s).into_owned());
        let pads = match auto_pad.as_str() {
            "" | "NOTSET" => {
                let p = list("pads", 0, 2 * spatial)?;
                if spatial == 1 {
                    [0, p[0], 0, p[1]]
                } else {
                    [p[0], p[1], p[2], p[3]]
                }
            }
            "VALID" => [0; 4],
            "SAME_UPPER" | "SAME_LOWER" => {
                let total = |d: usize| {
                    let out = input[d].div_ceil(strides[d]);
                    ((out - 1) * strides[d] + dilations[d] * (kernel[d] - 1) + 1).saturating_sub(input[d])
                };
                let (ty, tx) = (total(0), total(1));
                let begin = |t: usize| if auto_pad == "SAME_UPPER" { t / 2 } else { t.div_ceil(2) };
                [begin(ty), begin(tx), ty - begin(ty), tx - begin(tx)]
            }
            other => return Err(unsupported(node, format!("auto_pad = {other}"))),
        };
        let w = Window { input, kernel, strides, dilations, pads };
        for d in 0..2 {
            if kernel[d] == 0 || strides[d] == 0 || dilations[d] == 0 || w.dilations[d] * (kernel[d] - 1) + 1 > input[d] + pads[d] + pads[d + 2] {
                return Err(unsupported(node, format!("the window does not fit the input {x:?}")));
            }
        }
        Ok(w)
    }

    fn conv(&mut self, node: &pb::NodeProto, x: Affine, w: &Tensor<f64>, bias: Option<&Tensor<f64>>) -> Result<Affine> {
        let groups = attr_i(node, "group", 1).max(1) as usize;
        if w.shape.len() != x.shape.len() || w.shape.len() < 3 {
            return Err(unsupported(node, format!("weights {:?} do not fit input {:?}", w.shape, x.shape)));
        }
        let (m, cg) = (w.shape[0], w.shape[1]);
        let c = x.shape[1];
        if cg * groups != c || m % groups != 0 {
            return Err(unsupported(node, format!("{c} input channels, {m} filters of {cg} channels and {groups} groups do not fit")));
        }
        if bias.is_some_and(|b| b.len() != m) {
            return Err(unsupported(node, "bias length differs from the filter count"));
        }
        let win = Self::window(node, &x.shape, &w.shape[2..])?;
        let [oh, ow] = win.output();
        let [kh, kw] = win.kernel;
        let [h, wd] = win.input;
        let x = self.layers.compact(&node_name(node), x, cg * kh * kw);
        let one = constant(1.0);
        let mut rows = Vec::with_capacity(m * oh * ow);
        for f in 0..m {
            let g = f / (m / groups);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut parts: Vec<(f64, &FloatRow)> = Vec::with_capacity(cg * kh * kw + 1);
                    for ci in 0..cg {
                        let ch = g * cg + ci;
                        for (ky, kx, iy, ix) in win.taps(oy, ox) {
                            let weight = w.data[((f * cg + ci) * kh + ky) * kw + kx];
                            parts.push((weight, &x.data[(ch * h + iy) * wd + ix]));
                        }
                    }
                    if let Some(b) = bias {
                        parts.push((b.data[f], &one));
                    }
                    rows.push(combine(parts));
                }
            }
        }
        let mut shape = vec![1, m];
        shape.extend(if x.shape.len() == 3 { vec![ow] } else { vec![oh, ow] });
        Ok(Tensor::new(shape, rows))
    }

    /// Transposed 2-D convolution: each input pixel scatters `w·x` into the outputs its kernel
    /// covers (explicit `pads`, `strides`, `dilations`, `output_padding`, `group`).
    fn conv_transpose(&mut self, node: &pb::NodeProto, x: Affine, w: &Tensor<f64>, bias: Option<&Tensor<f64>>) -> Result<Affine> {
        let (&[1, c, h, wd], &[wc, mg, kh, kw]) = (&x.shape[..], &w.shape[..]) else {
            return Err(unsupported(node, format!("input {:?} and weights {:?}: only 2-D, batch 1", x.shape, w.shape)));
        };
        let groups = attr_i(node, "group", 1).max(1) as usize;
        if wc != c || c % groups != 0 || bias.is_some_and(|b| b.len() != mg * groups) {
            return Err(unsupported(node, format!("weights {:?} and {groups} groups do not fit {c} input channels", w.shape)));
        }
        if attr(node, "output_shape").is_some() || attr(node, "auto_pad").is_some_and(|a| a.s != b"NOTSET") {
            return Err(unsupported(node, "output_shape and auto_pad are not supported; give pads"));
        }
        let list = |key: &str, default: i64, len: usize| -> Result<Vec<i64>> {
            let v = attr_ints(node, key).unwrap_or_else(|| vec![default; len]);
            if v.len() != len || v.iter().any(|d| *d < 0) {
                return Err(unsupported(node, format!("attribute {key} = {v:?}")));
            }
            Ok(v)
        };
        let (strides, dilations) = (list("strides", 1, 2)?, list("dilations", 1, 2)?);
        let (pads, extra) = (list("pads", 0, 4)?, list("output_padding", 0, 2)?);
        let size = |d: usize, n: usize, k: usize| strides[d] * (n as i64 - 1) + extra[d] + dilations[d] * (k as i64 - 1) + 1 - pads[d] - pads[d + 2];
        let (oh, ow) = (size(0, h, kh), size(1, wd, kw));
        if oh <= 0 || ow <= 0 || strides.contains(&0) || dilations.contains(&0) {
            return Err(unsupported(node, "the output would be empty"));
        }
        let (oh, ow) = (oh as usize, ow as usize);
        let m = mg * groups;
        let x = self.layers.compact(&node_name(node), x, c / groups * kh * kw);
        let one = constant(1.0);
        let mut parts: Vec<Vec<(f64, &FloatRow)>> = vec![Vec::new(); m * oh * ow];
        for ci in 0..c {
            let g = ci / (c / groups);
            for (iy, ix) in (0..h).flat_map(|iy| (0..wd).map(move |ix| (iy, ix))) {
                let row = &x.data[(ci * h + iy) * wd + ix];
                for (mo, ky, kx) in (0..mg).flat_map(|mo| (0..kh).flat_map(move |ky| (0..kw).map(move |kx| (mo, ky, kx)))) {
                    let oy = (iy as i64) * strides[0] + (ky as i64) * dilations[0] - pads[0];
                    let ox = (ix as i64) * strides[1] + (kx as i64) * dilations[1] - pads[1];
                    if (0..oh as i64).contains(&oy) && (0..ow as i64).contains(&ox) {
                        let f = g * mg + mo;
                        parts[(f * oh + oy as usize) * ow + ox as usize].push((w.data[((ci * mg + mo) * kh + ky) * kw + kx], row));
                    }
                }
            }
        }
        if let Some(b) = bias {
            for (i, p) in parts.iter_mut().enumerate() {
                p.push((b.data[i / (oh * ow)], &one));
            }
        }
        Ok(Tensor::new(vec![1, m, oh, ow], parts.into_iter().map(combine).collect()))
    }

    fn pool(&mut self, node: &pb::NodeProto, x: Affine) -> Result<Affine> {
        let op = node.op_type.as_str();
        let name = node_name(node);
        let global = op.starts_with("Global");
        let spatial = &x.shape[2.min(x.shape.len())..];
        let kernel: Vec<usize> = if global {
            spatial.to_vec()
        } else {
            attr_ints(node, "kernel_shape").ok_or_else(|| unsupported(node, "no kernel_shape"))?.iter().map(|k| *k as usize).collect()
        };
        if kernel.len() != spatial.len() {
            return Err(unsupported(node, format!("kernel {kernel:?} does not fit input {:?}", x.shape)));
        }
        let win = if global {
            Window { input: [1, 1], kernel: [1, 1], strides: [1, 1], dilations: [1, 1], pads: [0; 4] }
        } else {
            Self::window(node, &x.shape, &kernel)?
        };
        let plane: usize = spatial.iter().product();
        let channels = x.shape[1];
        let [oh, ow] = if global { [1, 1] } else { win.output() };
        // Each output's input elements (flat indices).
        let taps: Vec<Vec<usize>> = (0..channels)
            .flat_map(|c| {
                let win = &win;
                (0..oh * ow).map(move |o| {
                    if global {
                        (c * plane..(c + 1) * plane).collect()
                    } else {
                        win.taps(o / ow, o % ow).map(|(_, _, iy, ix)| c * plane + iy * win.input[1] + ix).collect()
                    }
                })
            })
            .collect();
        let mut shape = x.shape[..2].to_vec();
        shape.extend(if global { vec![1; spatial.len()] } else if spatial.len() == 1 { vec![ow] } else { vec![oh, ow] });
        let rows = if op.ends_with("MaxPool") {
            let candidates = taps.iter().map(|t| t.iter().map(|i| x.data[*i].clone()).collect()).collect();
            self.layers.max_of(&name, candidates)
        } else {
            let full = (win.kernel[0] * win.kernel[1]) as f64;
            let include_pad = attr_i(node, "count_include_pad", 0) != 0;
            let x = self.layers.compact(&name, x, taps.first().map_or(1, Vec::len));
            taps.iter()
                .map(|t| {
                    let d = if global { plane as f64 } else if include_pad { full } else { t.len() as f64 };
                    combine(t.iter().map(|i| (1.0 / d, &x.data[*i])))
                })
                .collect()
        };
        Ok(Tensor::new(shape, rows))
    }

    fn reduce(&mut self, node: &pb::NodeProto, x: Affine, axes: &[usize], keep: bool) -> Result<Affine> {
        let op = node.op_type.as_str();
        let name = node_name(node);
        let kept: Vec<usize> = x.shape.iter().enumerate().map(|(d, n)| if axes.contains(&d) { 1 } else { *n }).collect();
        let out_len: usize = kept.iter().product();
        let out_strides = strides(&kept);
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); out_len];
        for i in 0..x.len() {
            let idx = unravel(i, &x.shape);
            let o: usize = idx.iter().zip(&out_strides).enumerate().map(|(d, (v, s))| if axes.contains(&d) { 0 } else { v * s }).sum();
            groups[o].push(i);
        }
        let shape = if keep { kept } else { x.shape.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, n)| *n).collect() };
        let rows = match op {
            "ReduceSum" | "ReduceMean" => {
                let scale = if op == "ReduceMean" { 1.0 / groups.first().map_or(1, Vec::len) as f64 } else { 1.0 };
                let x = self.layers.compact(&name, x, groups.first().map_or(1, Vec::len));
                groups.iter().map(|g| combine(g.iter().map(|i| (scale, &x.data[*i])))).collect()
            }
            _ => {
                let sign = if op == "ReduceMax" { 1.0 } else { -1.0 };
                let candidates = groups.iter().map(|g| g.iter().map(|i| combine([(sign, &x.data[*i])])).collect()).collect();
                self.layers.max_of(&name, candidates).iter().map(|r| combine([(sign, r)])).collect()
            }
        };
        Ok(Tensor::new(shape, rows))
    }
}

/// `Add`, `Sub`, `Mul`, `Div` with numpy broadcasting; products need a constant operand.
fn binary(node: &pb::NodeProto, a: Val, b: Val) -> Result<Val> {
    let op = node.op_type.as_str();
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let f = |x: f64, y: f64| match op {
        "Add" => x + y,
        "Sub" => x - y,
        "Mul" => x * y,
        _ => x / y,
    };
    Ok(match (a, b) {
        (Val::Const(a), Val::Const(b)) => {
            let (a, b) = (a.broadcast_to(&shape), b.broadcast_to(&shape));
            Val::Const(Tensor::new(shape, a.data.iter().zip(&b.data).map(|(x, y)| f(*x, *y)).collect()))
        }
        (Val::Affine(x), Val::Const(c)) | (Val::Const(c), Val::Affine(x)) if matches!(op, "Mul") => {
            let (x, c) = (x.broadcast_to(&shape), c.broadcast_to(&shape));
            Val::Affine(Tensor::new(shape, x.data.iter().zip(&c.data).map(|(r, c)| combine([(*c, r)])).collect()))
        }
        (Val::Affine(x), Val::Const(c)) if op == "Div" => {
            let (x, c) = (x.broadcast_to(&shape), c.broadcast_to(&shape));
            Val::Affine(Tensor::new(shape, x.data.iter().zip(&c.data).map(|(r, c)| combine([(1.0 / c, r)])).collect()))
        }
        (a, b) if matches!(op, "Add" | "Sub") => {
            let sign = if op == "Add" { 1.0 } else { -1.0 };
            let (a, b) = (a.into_affine().broadcast_to(&shape), b.into_affine().broadcast_to(&shape));
            Val::Affine(Tensor::new(shape, a.data.iter().zip(&b.data).map(|(x, y)| combine([(1.0, x), (sign, y)])).collect()))
        }
        _ => return Err(unsupported(node, "a product or quotient of two computed tensors is not supported yet")),
    })
}

/// Reads the shape argument of `Reshape` (with ONNX's 0 = keep and -1 = infer).
fn reshape_target(node: &pb::NodeProto, spec: &[i64], from: &[usize]) -> Result<Vec<usize>> {
    let total: usize = from.iter().product();
    let mut out = spec.to_vec();
    for (i, d) in out.iter_mut().enumerate() {
        if *d == 0 {
            *d = *from.get(i).ok_or_else(|| unsupported(node, "shape 0 refers to a missing axis"))? as i64;
        }
    }
    let known: i64 = out.iter().filter(|d| **d != -1).product();
    if out.iter().filter(|d| **d == -1).count() > 1 || known <= 0 || out.iter().any(|d| *d < -1) {
        return Err(unsupported(node, format!("invalid target shape {out:?}")));
    }
    let shape: Vec<usize> = out.iter().map(|d| if *d == -1 { total / known as usize } else { *d as usize }).collect();
    if shape.iter().product::<usize>() != total {
        return Err(unsupported(node, format!("cannot reshape {from:?} into {out:?}")));
    }
    Ok(shape)
}

impl OnnxModel {
    /// Parses and imports an ONNX model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let onnx = tract_onnx::onnx();
        let proto = guarded("parse", || onnx.proto_model_for_read(&mut &bytes[..]))?;
        let graph = proto.graph.as_ref().ok_or_else(|| Error::MalformedModel("the file holds no graph".into()))?;

        let mut values: HashMap<String, Val> = HashMap::new();
        for init in &graph.initializer {
            values.insert(init.name.clone(), Val::Const(load_constant(&onnx, init)?));
        }
        let inputs: Vec<&pb::ValueInfoProto> = graph.input.iter().filter(|i| !values.contains_key(&i.name)).collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::UnsupportedModel(format!("the model must have one input, it has {}", inputs.len())));
        };
        let input_shape = input_shape(input)?;
        let input_len: usize = input_shape.iter().product();
        values.insert(input.name.clone(), Val::Affine(Layers::input(input_shape.clone())));
        let mut importer = Importer { onnx: &onnx, values, layers: Layers::new(input_len) };
        for node in &graph.node {
            let outputs = importer.import(node)?;
            for (name, value) in node.output.iter().zip(outputs) {
                if !name.is_empty() {
                    importer.values.insert(name.clone(), value);
                }
            }
        }

        let [output] = graph.output.as_slice() else {
            return Err(Error::UnsupportedModel(format!("the model must have one output, it has {}", graph.output.len())));
        };
        let out = match importer.values.get(&output.name) {
            Some(Val::Affine(t)) => t.clone(),
            Some(Val::Const(_)) => return Err(Error::UnsupportedModel("the output does not depend on the input".into())),
            None => return Err(Error::UnsupportedModel(format!("the output '{}' is never computed", output.name))),
        };
        // Outputs that are plain values are read directly; anything else becomes a last layer.
        let direct: Option<Vec<u32>> = out
            .data
            .iter()
            .map(|r| match r[..] {
                [(v, w)] if w == 1.0 && v != zkml_circuits::quantized::ONE => Some(v),
                _ => None,
            })
            .collect();
        let layers = &mut importer.layers;
        let outputs = match direct {
            Some(v) if !layers.layers.is_empty() => v,
            _ => {
                let first = layers.next;
                layers.materialize("output", out.data, Activation::Linear);
                (first..layers.next).collect()
            }
        };
        let float = FloatModel { input_shape: input_shape.clone(), layers: std::mem::take(&mut layers.layers), outputs };
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
            let x = tract_onnx::prelude::Tensor::from_shape(shape, input)?;
            let out = self.reference.run(tvec!(x.into()))?;
            Ok(out[0].cast_to::<f32>()?.as_slice::<f32>()?.to_vec())
        })?;
        Ok(out)
    }
}
