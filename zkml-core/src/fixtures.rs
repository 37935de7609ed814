//! Synthetic models: seeded random MLPs written as real ONNX files, for the demo, tests and
//! benchmarks (and for anyone who wants a model to try the pipeline on).

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

/// A node with the given op, inputs, outputs and integer attributes.
pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], ints: &[(&str, i64)]) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: ints
            .iter()
            .map(|(n, i)| pb::AttributeProto {
                name: n.to_string(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: *i,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Writes a graph with one float input `input` of shape `[1, input_len]` and one output `output`.
pub fn model_bytes(nodes: Vec<pb::NodeProto>, initializers: Vec<pb::TensorProto>, input_len: usize, output_len: usize) -> Vec<u8> {
    let model = pb::ModelProto {
        ir_version: 8,
        producer_name: "zkml".into(),
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(pb::GraphProto {
            name: "mlp".into(),
            node: nodes,
            initializer: initializers,
            input: vec![value_info("input", &[1, input_len])],
            output: vec![value_info("output", &[1, output_len])],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
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
        let bound = 1.0 / (fan_in as f32).sqrt();
        let weights = (0..fan_in * fan_out).map(|_| rng.gen_range(-bound..bound)).collect();
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
