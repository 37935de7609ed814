//! Synthetic models: seeded random MLPs and CNNs written as real ONNX files, for the demo, tests
//! and benchmarks (and for anyone who wants a model to try the pipeline on).

use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tract_onnx::pb;

fn tensor(name: &str, dims: &[usize], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims.iter().map(|d| Dimension { value: Some(Value::DimValue(*d as i64)), ..Default::default() }).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A node attribute.
#[derive(Clone, Debug)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// A node with the given op, inputs, outputs and attributes.
pub fn node_with(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> pb::NodeProto {
    use pb::attribute_proto::AttributeType;
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs
            .iter()
            .map(|(n, a)| {
                let mut proto = pb::AttributeProto { name: n.to_string(), ..Default::default() };
                match a {
                    Attr::Int(i) => (proto.r#type, proto.i) = (AttributeType::Int as i32, *i),
                    Attr::Ints(v) => (proto.r#type, proto.ints) = (AttributeType::Ints as i32, v.clone()),
                    Attr::Float(f) => (proto.r#type, proto.f) = (AttributeType::Float as i32, *f),
                }
                proto
            })
            .collect(),
        ..Default::default()
    }
}

/// A node with the given op, inputs, outputs and integer attributes.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], ints: &[(&str, i64)]) -> pb::NodeProto {
    let attrs: Vec<(&str, Attr)> = ints.iter().map(|(n, i)| (*n, Attr::Int(*i))).collect();
    node_with(op, name, inputs, outputs, &attrs)
}

/// A float constant (initializer).
pub fn constant(name: &str, dims: &[usize], data: Vec<f32>) -> pb::TensorProto {
    tensor(name, dims, data)
}

/// An `int64` constant (initializer), for shapes, axes and indices.
pub fn integers(name: &str, dims: &[usize], data: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|d| *d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

/// Writes a graph with one float input `input` of shape `[1, input_len]` and one output `output`.
pub fn model_bytes(nodes: Vec<pb::NodeProto>, initializers: Vec<pb::TensorProto>, input_len: usize, output_len: usize) -> Vec<u8> {
    graph_bytes(nodes, initializers, &[1, input_len], &[1, output_len])
}

/// Writes a graph with one float input `input` and one output `output` of the given shapes.
pub fn graph_bytes(
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    input_shape: &[usize],
    output_shape: &[usize],
) -> Vec<u8> {
    let model = pb::ModelProto {
        ir_version: 8,
        producer_name: "zkml".into(),
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(pb::GraphProto {
            name: "model".into(),
            node: nodes,
            initializer: initializers,
            input: vec![value_info("input", input_shape)],
            output: vec![value_info("output", output_shape)],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// Seeded weights uniform in `±1/√fan_in`.
fn weights(rng: &mut ChaCha20Rng, fan_in: usize, count: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    (0..count).map(|_| rng.gen_range(-bound..bound)).collect()
}

/// A model's initializers and the seeded generator their values come from.
struct Initializers {
    rng: ChaCha20Rng,
    tensors: Vec<pb::TensorProto>,
}

impl Initializers {
    fn new(seed: u64) -> Self {
        Self { rng: ChaCha20Rng::seed_from_u64(seed), tensors: Vec::new() }
    }

    /// Adds a tensor of weights uniform in `±1/√fan_in` and returns its name.
    fn weights(&mut self, name: &str, dims: &[usize], fan_in: usize) -> String {
        let data = weights(&mut self.rng, fan_in, dims.iter().product());
        self.tensors.push(tensor(name, dims, data));
        name.to_string()
    }
}

/// Every attribute of a square `Conv`, written out as exporters do (some readers do not apply
/// ONNX's defaults).
fn conv_attrs(kernel: i64, stride: i64, pad: i64) -> [(&'static str, Attr); 5] {
    [
        ("kernel_shape", Attr::Ints(vec![kernel; 2])),
        ("strides", Attr::Ints(vec![stride; 2])),
        ("pads", Attr::Ints(vec![pad; 4])),
        ("dilations", Attr::Ints(vec![1; 2])),
        ("group", Attr::Int(1)),
    ]
}

/// A 2×2 max-pool with stride 2, every attribute written out.
fn pool_attrs() -> [(&'static str, Attr); 3] {
    [("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![0; 4]))]
}

/// A LeNet-5-style CNN on `1×28×28`: conv 6@5×5 → ReLU → max-pool 2 → conv 16@5×5 → ReLU →
/// max-pool 2 → dense 120 → ReLU → dense 84 → ReLU → dense 10 (44 426 parameters), seeded.
pub fn lenet_onnx(seed: u64) -> Vec<u8> {
    let mut p = Initializers::new(seed);
    let (c1w, c1b) = (p.weights("conv1.weight", &[6, 1, 5, 5], 25), p.weights("conv1.bias", &[6], 25));
    let (c2w, c2b) = (p.weights("conv2.weight", &[16, 6, 5, 5], 150), p.weights("conv2.bias", &[16], 150));
    let (f1w, f1b) = (p.weights("fc1.weight", &[120, 256], 256), p.weights("fc1.bias", &[120], 256));
    let (f2w, f2b) = (p.weights("fc2.weight", &[84, 120], 120), p.weights("fc2.bias", &[84], 120));
    let (f3w, f3b) = (p.weights("fc3.weight", &[10, 84], 84), p.weights("fc3.bias", &[10], 84));
    let pool = pool_attrs();
    let conv = conv_attrs(5, 1, 0);
    let nodes = vec![
        node_with("Conv", "conv1", &["input", &c1w, &c1b], &["c1"], &conv),
        node("Relu", "relu1", &["c1"], &["r1"], &[]),
        node_with("MaxPool", "pool1", &["r1"], &["p1"], &pool),
        node_with("Conv", "conv2", &["p1", &c2w, &c2b], &["c2"], &conv),
        node("Relu", "relu2", &["c2"], &["r2"], &[]),
        node_with("MaxPool", "pool2", &["r2"], &["p2"], &pool),
        node("Flatten", "flatten", &["p2"], &["f"], &[]),
        node("Gemm", "fc1", &["f", &f1w, &f1b], &["h1"], &[("transB", 1)]),
        node("Relu", "relu3", &["h1"], &["a1"], &[]),
        node("Gemm", "fc2", &["a1", &f2w, &f2b], &["h2"], &[("transB", 1)]),
        node("Relu", "relu4", &["h2"], &["a2"], &[]),
        node("Gemm", "fc3", &["a2", &f3w, &f3b], &["output"], &[("transB", 1)]),
    ];
    graph_bytes(nodes, p.tensors, &[1, 1, 28, 28], &[1, 10])
}

/// A small CIFAR-style CNN on `3×32×32`: three blocks of conv 3×3 (padding 1) → ReLU →
/// max-pool 2 with 16, 32 and 64 channels, then dense 100 → ReLU → dense 10 (127 094
/// parameters), seeded.
pub fn cifar_cnn_onnx(seed: u64) -> Vec<u8> {
    let mut inits = Initializers::new(seed);
    let mut nodes = Vec::new();
    let pool = pool_attrs();
    let conv = conv_attrs(3, 1, 1);
    let mut current = "input".to_string();
    for (i, (cin, cout)) in [(3usize, 16usize), (16, 32), (32, 64)].into_iter().enumerate() {
        let (w, b) = (format!("conv{i}.weight"), format!("conv{i}.bias"));
        inits.weights(&w, &[cout, cin, 3, 3], cin * 9);
        inits.weights(&b, &[cout], cin * 9);
        let (c, r, p) = (format!("c{i}"), format!("r{i}"), format!("p{i}"));
        nodes.push(node_with("Conv", &format!("conv{i}"), &[&current, &w, &b], &[&c], &conv));
        nodes.push(node("Relu", &format!("relu{i}"), &[&c], &[&r], &[]));
        nodes.push(node_with("MaxPool", &format!("pool{i}"), &[&r], &[&p], &pool));
        current = p;
    }
    nodes.push(node("Flatten", "flatten", &[&current], &["f"], &[]));
    for (i, (fan_in, fan_out)) in [(1024usize, 100usize), (100, 10)].into_iter().enumerate() {
        let (w, b) = (format!("fc{i}.weight"), format!("fc{i}.bias"));
        inits.weights(&w, &[fan_out, fan_in], fan_in);
        inits.weights(&b, &[fan_out], fan_in);
        let input = if i == 0 { "f" } else { "a0" };
        let out = if i == 0 { "h0" } else { "output" };
        nodes.push(node("Gemm", &format!("fc{i}"), &[input, &w, &b], &[out], &[("transB", 1)]));
        if i == 0 {
            nodes.push(node("Relu", "relu_fc0", &["h0"], &["a0"], &[]));
        }
    }
    graph_bytes(nodes, inits.tensors, &[1, 3, 32, 32], &[1, 10])
}

/// A smaller CIFAR-style CNN on `3×32×32` that downsamples early: conv 8@3×3 stride 2 → ReLU →
/// max-pool 2 → conv 16@3×3 → ReLU → conv 32@3×3 stride 2 → ReLU → dense 192 → ReLU → dense 10
/// (padding 1 throughout; 106 458 parameters, most of them in the first dense layer, and about
/// 0.3 M multiply-accumulates against the 2.9 M of [`cifar_cnn_onnx`]), seeded.
pub fn cifar_strided_cnn_onnx(seed: u64) -> Vec<u8> {
    let mut p = Initializers::new(seed);
    let (c0w, c0b) = (p.weights("conv0.weight", &[8, 3, 3, 3], 27), p.weights("conv0.bias", &[8], 27));
    let (c1w, c1b) = (p.weights("conv1.weight", &[16, 8, 3, 3], 72), p.weights("conv1.bias", &[16], 72));
    let (c2w, c2b) = (p.weights("conv2.weight", &[32, 16, 3, 3], 144), p.weights("conv2.bias", &[32], 144));
    let (f0w, f0b) = (p.weights("fc0.weight", &[192, 512], 512), p.weights("fc0.bias", &[192], 512));
    let (f1w, f1b) = (p.weights("fc1.weight", &[10, 192], 192), p.weights("fc1.bias", &[10], 192));
    let (strided, same) = (conv_attrs(3, 2, 1), conv_attrs(3, 1, 1));
    let nodes = vec![
        node_with("Conv", "conv0", &["input", &c0w, &c0b], &["c0"], &strided),
        node("Relu", "relu0", &["c0"], &["r0"], &[]),
        node_with("MaxPool", "pool0", &["r0"], &["p0"], &pool_attrs()),
        node_with("Conv", "conv1", &["p0", &c1w, &c1b], &["c1"], &same),
        node("Relu", "relu1", &["c1"], &["r1"], &[]),
        node_with("Conv", "conv2", &["r1", &c2w, &c2b], &["c2"], &strided),
        node("Relu", "relu2", &["c2"], &["r2"], &[]),
        node("Flatten", "flatten", &["r2"], &["f"], &[]),
        node("Gemm", "fc0", &["f", &f0w, &f0b], &["h0"], &[("transB", 1)]),
        node("Relu", "relu_fc0", &["h0"], &["a0"], &[]),
        node("Gemm", "fc1", &["a0", &f1w, &f1b], &["output"], &[("transB", 1)]),
    ];
    graph_bytes(nodes, p.tensors, &[1, 3, 32, 32], &[1, 10])
}

/// One transformer encoder block on a `1×seq×width` input, seeded: single-head self-attention
/// (`softmax(q·kᵀ/√width)·v`, output projection), residual, layer norm, a ReLU MLP of hidden
/// width `2·width`, residual, layer norm.
pub fn transformer_onnx(seq: usize, width: usize, seed: u64) -> Vec<u8> {
    let mut p = Initializers::new(seed);
    let d = width;
    let [wq, wk, wv, wo] = ["wq", "wk", "wv", "wo"].map(|n| p.weights(n, &[d, d], d));
    let bo = p.weights("bo", &[d], d);
    let (w1, b1) = (p.weights("w1", &[d, 2 * d], d), p.weights("b1", &[2 * d], d));
    let (w2, b2) = (p.weights("w2", &[2 * d, d], 2 * d), p.weights("b2", &[d], 2 * d));
    p.tensors.push(tensor("scale", &[], vec![1.0 / (d as f32).sqrt()]));
    for (name, value) in [("g1", 1.0), ("g2", 1.0), ("be1", 0.0), ("be2", 0.0)] {
        let values = (0..d).map(|_| value + p.rng.gen_range(-0.1..0.1)).collect();
        p.tensors.push(tensor(name, &[d], values));
    }
    let ln = [("axis", Attr::Int(-1)), ("epsilon", Attr::Float(1e-5))];
    let nodes = vec![
        node("MatMul", "q", &["input", &wq], &["q"], &[]),
        node("MatMul", "k", &["input", &wk], &["k"], &[]),
        node("MatMul", "v", &["input", &wv], &["v"], &[]),
        node_with("Transpose", "kt", &["k"], &["kt"], &[("perm", Attr::Ints(vec![0, 2, 1]))]),
        node("MatMul", "scores", &["q", "kt"], &["s"], &[]),
        node("Mul", "scaled", &["s", "scale"], &["ss"], &[]),
        node_with("Softmax", "softmax", &["ss"], &["a"], &[("axis", Attr::Int(-1))]),
        node("MatMul", "attend", &["a", "v"], &["o"], &[]),
        node("MatMul", "proj", &["o", &wo], &["p0"], &[]),
        node("Add", "proj_bias", &["p0", &bo], &["p"], &[]),
        node("Add", "residual1", &["input", "p"], &["r1"], &[]),
        node_with("LayerNormalization", "norm1", &["r1", "g1", "be1"], &["n1"], &ln),
        node("MatMul", "mlp1", &["n1", &w1], &["h0"], &[]),
        node("Add", "mlp1_bias", &["h0", &b1], &["h1"], &[]),
        node("Relu", "mlp_relu", &["h1"], &["h"], &[]),
        node("MatMul", "mlp2", &["h", &w2], &["f0"], &[]),
        node("Add", "mlp2_bias", &["f0", &b2], &["f"], &[]),
        node("Add", "residual2", &["n1", "f"], &["r2"], &[]),
        node_with("LayerNormalization", "norm2", &["r2", "g2", "be2"], &["output"], &ln),
    ];
    graph_bytes(nodes, p.tensors, &[1, seq, d], &[1, seq, d])
}

/// An MLP with layer widths `dims` (`Gemm` + `Relu` between layers, none after the last),
/// weights uniform in `±1/√fan_in`, biases in `±0.1`, seeded by `seed`.
pub fn mlp_onnx(dims: &[usize], seed: u64) -> Vec<u8> {
    assert!(dims.len() >= 2, "an MLP needs an input and an output width");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut current = "input".to_string();
    for (i, w) in dims.windows(2).enumerate() {
        let (fan_in, fan_out) = (w[0], w[1]);
        let weights = weights(&mut rng, fan_in, fan_in * fan_out);
        let bias = (0..fan_out).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let (wn, bn) = (format!("fc{i}.weight"), format!("fc{i}.bias"));
        inits.push(tensor(&wn, &[fan_out, fan_in], weights));
        inits.push(tensor(&bn, &[fan_out], bias));
        let last = i + 2 == dims.len();
        let out = if last { "output".to_string() } else { format!("fc{i}") };
        nodes.push(node("Gemm", &format!("fc{i}"), &[&current, &wn, &bn], &[&out], &[("transB", 1)]));
        if !last {
            let relu = format!("relu{i}");
            nodes.push(node("Relu", &relu, &[&out], &[&relu], &[]));
            current = relu;
        } else {
            current = out;
        }
    }
    model_bytes(nodes, inits, dims[0], *dims.last().unwrap())
}

/// `count` seeded samples of `len` values uniform in `[0, 1)`.
pub fn random_samples(len: usize, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..count).map(|_| (0..len).map(|_| rng.gen::<f32>()).collect()).collect()
}
