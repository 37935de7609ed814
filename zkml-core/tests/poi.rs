//! End-to-end Proof of Intelligence tests: real proofs at small k, files, soundness, bad input.

use std::path::PathBuf;

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::srs::dev_srs;
use zkml_core::artifacts::files;
use zkml_core::fixtures::{mlp_onnx, model_bytes, node, random_samples};
use zkml_core::onnx::OnnxModel;
use zkml_core::{
    compile, prove, setup, verify, CompileOptions, CompiledModel, Error, InputVisibility, Keys, ParamVisibility, Proof,
    VerifierKeys,
};

/// An empty directory for one test under cargo's `target/tmp`: emptied when the test starts,
/// so repeated runs reuse it instead of piling up in the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("zkml-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compiled(dims: &[usize], seed: u64, options: CompileOptions) -> (CompiledModel, Vec<Vec<f32>>) {
    let samples = random_samples(dims[0], 8, seed);
    let model = compile(&mlp_onnx(dims, seed), &samples, &options).unwrap();
    (model, samples)
}

fn keys_for(model: &CompiledModel) -> Keys {
    setup(model, dev_srs(model.settings.k).unwrap(), |_| {}).unwrap()
}

fn verifier(keys: &Keys) -> VerifierKeys {
    VerifierKeys { srs: keys.srs().clone(), vk: keys.vk().clone() }
}

/// Proves `input` (the model's input private, so the instances are its outputs), verifies the
/// proof, and checks that moving output `index` by one quantization step, in the instance and in
/// the stated float, is rejected.
fn proves_and_rejects_a_changed_output(model: &CompiledModel, input: &[f32], index: usize) {
    let keys = keys_for(model);
    let proof = prove(model, &keys, input).unwrap();
    verify(&model.settings, &verifier(&keys), &proof).unwrap();
    let mut tampered = proof.clone();
    tampered.instances[index] += Fr::one();
    tampered.outputs[index] += 1.0 / (1u64 << model.settings.scale_bits) as f32;
    assert!(verify(&model.settings, &verifier(&keys), &tampered).is_err());
}

#[test]
fn prove_and_verify_round_trip_through_files() {
    let dir = temp_dir("round-trip");
    let (model, samples) = compiled(&[12, 8, 6, 3], 1, CompileOptions::default());
    model.save(&dir).unwrap();
    keys_for(&model).save(&dir).unwrap();

    let model = CompiledModel::load(&dir).unwrap();
    let keys = Keys::load(&dir, &model.settings).unwrap();
    let input = &samples[3];
    let proof = prove(&model, &keys, input).unwrap();
    let proof_path = dir.join("proof.json");
    proof.save(&proof_path).unwrap();

    let proof = Proof::load(&proof_path).unwrap();
    let verifier = VerifierKeys::load(&dir, &model.settings).unwrap();
    verify(&model.settings, &verifier, &proof).unwrap();

    // The circuit's public outputs are exactly the quantized executor's outputs...
    assert_eq!(proof.outputs, model.predict(input).unwrap());
    // ...and match float execution of the ONNX file within the calibration's reported error
    // (with slack: this input is one of the calibration samples, but rounding may differ).
    let reference = OnnxModel::from_bytes(&mlp_onnx(&[12, 8, 6, 3], 1)).unwrap().run_reference(input).unwrap();
    for (a, b) in proof.outputs.iter().zip(&reference) {
        assert!(((a - b).abs() as f64) <= model.settings.fidelity.max_abs_error + 1e-6, "{a} vs {b}");
    }
    assert!(model.settings.fidelity.max_abs_error < 1e-2);
    assert_eq!(model.settings.fidelity.top1_agreement, 8);
}

#[test]
fn public_input_and_private_params_prove_and_verify() {
    for options in [
        CompileOptions { input_visibility: InputVisibility::Public, ..Default::default() },
        CompileOptions { param_visibility: ParamVisibility::Private, ..Default::default() },
    ] {
        let (model, samples) = compiled(&[10, 7, 4], 2, options);
        let keys = keys_for(&model);
        let proof = prove(&model, &keys, &samples[0]).unwrap();
        assert_eq!(proof.instances.len(), model.settings.instance_len());
        assert!(proof.proof.len() <= CompileOptions::default().max_proof_bytes);
        verify(&model.settings, &verifier(&keys), &proof).unwrap();
    }
}

#[test]
fn tampered_proofs_instances_outputs_and_keys_are_rejected() {
    let (model, samples) = compiled(&[9, 6, 4], 3, CompileOptions::default());
    let keys = keys_for(&model);
    let verifier = verifier(&keys);
    let proof = prove(&model, &keys, &samples[1]).unwrap();
    verify(&model.settings, &verifier, &proof).unwrap();

    let mut flipped = proof.clone();
    let middle = flipped.proof.len() / 2;
    flipped.proof[middle] ^= 1;
    assert!(verify(&model.settings, &verifier, &flipped).is_err(), "flipped proof byte");

    let mut truncated = proof.clone();
    truncated.proof.truncate(proof.proof.len() - 10);
    assert!(verify(&model.settings, &verifier, &truncated).is_err(), "truncated proof");

    let mut padded = proof.clone();
    padded.proof.push(0);
    assert!(verify(&model.settings, &verifier, &padded).is_err(), "trailing bytes");

    // A different public output (and the float outputs stated to match it).
    let scale = (1u64 << model.settings.scale_bits) as f64;
    let mut changed = proof.clone();
    changed.instances[0] += Fr::one();
    changed.outputs[0] = (((proof.outputs[0] as f64 * scale).round() + 1.0) / scale) as f32;
    let err = verify(&model.settings, &verifier, &changed).unwrap_err().to_string();
    assert!(err.contains("does not satisfy the circuit"), "{err}");

    // Float outputs that do not match the proven instances.
    let mut lying = proof.clone();
    lying.outputs[2] = 42.0;
    assert!(verify(&model.settings, &verifier, &lying).is_err(), "stated outputs");

    // The verifying key of another model with the same shape of inputs and outputs.
    let (other, _) = compiled(&[9, 6, 4], 4, CompileOptions::default());
    let other_keys = keys_for(&other);
    let mut settings = model.settings.clone();
    settings.shape = other.settings.shape;
    settings.k = other.settings.k;
    let err = verify(&settings, &self::verifier(&other_keys), &proof).unwrap_err().to_string();
    assert!(err.contains("does not satisfy the circuit"), "{err}");
}

#[test]
fn bad_models_are_reported_with_the_node_and_op() {
    let err = OnnxModel::from_bytes(b"definitely not a protobuf").unwrap_err();
    assert!(matches!(err, Error::MalformedModel(_)), "{err}");
    let bytes = mlp_onnx(&[4, 3], 1);
    let err = OnnxModel::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, Error::MalformedModel(_)), "{err}");

    // An operator outside the supported set.
    let graph = vec![node("LogSoftmax", "squash", &["input"], &["output"], &[])];
    let err = OnnxModel::from_bytes(&model_bytes(graph, vec![], 4, 4)).unwrap_err();
    match err {
        Error::UnsupportedOp { node, op, .. } => assert_eq!((node.as_str(), op.as_str()), ("squash", "LogSoftmax")),
        other => panic!("expected UnsupportedOp, got {other}"),
    }
    // MatMul of two computed values (the input with itself).
    let graph = vec![node("MatMul", "mm", &["input", "input"], &["output"], &[])];
    let err = OnnxModel::from_bytes(&model_bytes(graph, vec![], 4, 4)).unwrap_err();
    assert!(err.to_string().contains("'mm' (op MatMul)"), "{err}");
}

#[test]
fn bad_inputs_are_rejected_with_clear_errors() {
    let (model, samples) = compiled(&[5, 4, 2], 5, CompileOptions::default());
    let err = model.predict(&samples[0][..4]).unwrap_err();
    assert!(err.to_string().contains("has 4 values but the model expects 5"), "{err}");
    let mut nan = samples[0].clone();
    nan[2] = f32::NAN;
    assert!(model.predict(&nan).unwrap_err().to_string().contains("value 2 is NaN"));
    nan[2] = f32::INFINITY;
    assert!(model.predict(&nan).unwrap_err().to_string().contains("not a finite number"));
    // Far outside the calibrated range: refused before proving, naming the layer.
    let huge = vec![1e6f32; 5];
    let err = model.predict(&huge).unwrap_err();
    assert!(err.to_string().contains("calibrated range"), "{err}");
    assert!(compile(&mlp_onnx(&[5, 4, 2], 5), &[vec![0.5; 3]], &CompileOptions::default()).is_err());
    assert!(zkml_core::data::parse_input_data(br#"{"input": [1]}"#).is_err());
    assert_eq!(zkml_core::data::parse_input_data(br#"{"input_data": [[1, 2.5]]}"#).unwrap(), vec![vec![1.0, 2.5]]);
}

#[test]
fn truncated_or_foreign_artifact_files_are_rejected() {
    let dir = temp_dir("artifacts");
    let (model, samples) = compiled(&[6, 4, 3], 6, CompileOptions::default());
    model.save(&dir).unwrap();
    let keys = keys_for(&model);
    keys.save(&dir).unwrap();
    let proof = prove(&model, &keys, &samples[0]).unwrap();
    proof.save(&dir.join("proof.json")).unwrap();

    for (file, keep) in [(files::VK, 0.5), (files::PK, 0.5), (files::SRS, 0.9), ("proof.json", 0.5)] {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap();
        let err = match file {
            "proof.json" => Proof::load(&path).map(|_| ()),
            files::PK => Keys::load(&dir, &model.settings).map(|_| ()),
            _ => VerifierKeys::load(&dir, &model.settings).map(|_| ()),
        }
        .unwrap_err();
        assert!(err.to_string().contains(file), "{file}: {err}");
        std::fs::write(&path, &bytes).unwrap();
    }
    // A network file from another compilation.
    let (other, _) = compiled(&[6, 4, 3], 7, CompileOptions::default());
    let other_dir = temp_dir("artifacts-other");
    other.save(&other_dir).unwrap();
    std::fs::copy(other_dir.join(files::NETWORK), dir.join(files::NETWORK)).unwrap();
    assert!(CompiledModel::load(&dir).unwrap_err().to_string().contains("digest"));
    // Settings whose layout cannot be configured.
    let (good, _) = compiled(&[6, 4, 3], 6, CompileOptions::default());
    good.save(&dir).unwrap();
    let mut broken = good.settings.clone();
    broken.shape.outputs_per_row = 0;
    zkml_core::artifacts::write_json(&dir.join(files::SETTINGS), &broken).unwrap();
    assert!(CompiledModel::load(&dir).unwrap_err().to_string().contains("invalid circuit shape"));
    // A non-canonical instance in a proof file.
    let mut file = proof.to_file();
    file.instances[0] = "ff".repeat(32);
    assert!(Proof::from_file(&file).is_err());
}

/// A small CNN touching every operator family of the importer: padded and strided
/// convolutions, batch normalization, depthwise convolution, max and average pooling, a
/// residual addition, clip, leaky ReLU, global pooling, concatenation, slicing, transposition
/// and elementwise arithmetic with constants.
fn operator_zoo_onnx(seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    use zkml_core::fixtures::{constant, graph_bytes, node_with, Attr};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut inits = Vec::new();
    let mut c = |name: &str, dims: &[usize], lo: f32, hi: f32| {
        inits.push(constant(name, dims, (0..dims.iter().product()).map(|_| rng.gen_range(lo..hi)).collect()));
        name.to_string()
    };
    let (w1, b1) = (c("w1", &[4, 2, 3, 3], -0.4, 0.4), c("b1", &[4], -0.1, 0.1));
    let bn = [c("bn_scale", &[4], 0.5, 1.5), c("bn_bias", &[4], -0.2, 0.2), c("bn_mean", &[4], -0.1, 0.1), c("bn_var", &[4], 0.5, 2.0)];
    let wd = c("wd", &[4, 1, 3, 3], -0.5, 0.5);
    let (wf, bf) = (c("wf", &[20, 5], -0.4, 0.4), c("bf", &[5], -0.1, 0.1));
    let scale = c("scale", &[5], 0.5, 2.0);
    let mut fixed = |name: &str, dims: &[usize], data: Vec<f32>| {
        inits.push(constant(name, dims, data));
        name.to_string()
    };
    let (lo, hi) = (fixed("lo", &[], vec![0.0]), fixed("hi", &[], vec![0.6]));
    let (starts, ends, axes) = (fixed("starts", &[1], vec![1.0]), fixed("ends", &[1], vec![3.0]), fixed("axes", &[1], vec![3.0]));
    fixed("shape", &[4], vec![1.0, 1.0, 1.0, 5.0]);
    let zero = fixed("zero", &[1], vec![0.0]);
    let ints = |v: &[i64]| Attr::Ints(v.to_vec());
    let nodes = vec![
        node_with("Conv", "conv", &["input", &w1, &b1], &["c1"], &[("pads", ints(&[1, 1, 1, 1]))]),
        node_with("BatchNormalization", "bn", &["c1", &bn[0], &bn[1], &bn[2], &bn[3]], &["n1"], &[]),
        node_with("Relu", "relu", &["n1"], &["r1"], &[]),
        node_with("MaxPool", "maxpool", &["r1"], &["p1"], &[("kernel_shape", ints(&[2, 2])), ("strides", ints(&[2, 2]))]),
        node_with("Conv", "depthwise", &["p1", &wd], &["d1"], &[("group", Attr::Int(4)), ("pads", ints(&[1, 1, 1, 1]))]),
        node_with("Clip", "clip", &["d1", &lo, &hi], &["k1"], &[]),
        node_with("Add", "residual", &["p1", "k1"], &["s1"], &[]),
        node_with("LeakyRelu", "leaky", &["s1"], &["l1"], &[("alpha", Attr::Float(0.1))]),
        node_with("AveragePool", "avgpool", &["l1"], &["a1"], &[("kernel_shape", ints(&[3, 3])), ("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1]))]),
        node_with("GlobalAveragePool", "gap", &["l1"], &["g1"], &[]),
        node_with("Flatten", "flat_a", &["a1"], &["fa"], &[]),
        node_with("Flatten", "flat_g", &["g1"], &["fg"], &[]),
        node_with("Concat", "concat", &["fa", "fg"], &["cat"], &[("axis", Attr::Int(1))]),
        node_with("Gemm", "fc", &["cat", &wf, &bf], &["y"], &[]),
        node_with("Mul", "mul", &["y", &scale], &["ys"], &[]),
        node_with("Abs", "abs", &["ys"], &["ya"], &[]),
        node_with("Unsqueeze", "unsqueeze", &["ya", &zero], &["yu"], &[]),
        node_with("Transpose", "transpose", &["yu"], &["yt"], &[("perm", ints(&[1, 0, 2]))]),
        node_with("Reshape", "reshape", &["yt", "shape"], &["yr"], &[]),
        node_with("Slice", "slice", &["yr", &starts, &ends, &axes], &["output"], &[]),
    ];
    graph_bytes(nodes, inits, &[1, 2, 8, 8], &[1, 1, 1, 2])
}

#[test]
fn cnn_operators_match_onnx_execution_and_prove() {
    let onnx = operator_zoo_onnx(3);
    let samples: Vec<Vec<f32>> = random_samples(128, 6, 4).into_iter().map(|s| s.iter().map(|v| v * 2.0 - 1.0).collect()).collect();
    // Compiling checks our reading of every node against tract's execution of the file.
    let model = compile(&onnx, &samples, &CompileOptions::default()).unwrap();
    assert_eq!(model.settings.output_len, 2);
    assert!(model.settings.fidelity.max_abs_error < 0.05, "{}", model.settings.fidelity);
    proves_and_rejects_a_changed_output(&model, &samples[1], 1);
}

#[test]
fn benchmark_cnns_compile_with_convolution_blocks() {
    for (onnx, input_len) in [(zkml_core::fixtures::lenet_onnx(1), 784), (zkml_core::fixtures::cifar_strided_cnn_onnx(1), 3 * 32 * 32)] {
        let samples = random_samples(input_len, 3, 9);
        let model = compile(&onnx, &samples, &CompileOptions::default()).unwrap();
        assert_eq!(model.settings.output_len, 10);
        assert_eq!(model.settings.fidelity.top1_agreement, 3, "{}", model.settings.fidelity);
        assert!(model.settings.k <= 20, "k = {}", model.settings.k);
    }
}

#[test]
fn hashed_input_and_output_prove_without_revealing_them() {
    use zkml_core::{input_commitment, output_commitment, OutputVisibility};
    let options = CompileOptions {
        input_visibility: InputVisibility::Hashed,
        output_visibility: OutputVisibility::Hashed,
        ..CompileOptions::default()
    };
    let (model, samples) = compiled(&[10, 6, 3], 8, options);
    let keys = keys_for(&model);
    let proof = prove(&model, &keys, &samples[2]).unwrap();
    // Two instances: the input's commitment and the output's.
    assert_eq!(proof.instances.len(), 2);
    let settings = &model.settings;
    assert_eq!(proof.input_commitment(settings), Some(input_commitment(settings, &samples[2]).unwrap()));
    assert_eq!(proof.output_commitment(settings), Some(output_commitment(settings, &proof.outputs).unwrap()));
    assert_ne!(input_commitment(settings, &samples[3]).unwrap(), proof.instances[0]);

    // The verifier never sees the input; the prover may also withhold the outputs.
    verify(settings, &verifier(&keys), &proof).unwrap();
    let withheld = Proof { outputs: Vec::new(), ..proof.clone() };
    verify(settings, &verifier(&keys), &withheld).unwrap();

    // Stated outputs that do not match the commitment, or another input's commitment.
    let mut lying = proof.clone();
    lying.outputs[0] += 0.5;
    assert!(verify(settings, &verifier(&keys), &lying).unwrap_err().to_string().contains("commitment"));
    let mut other = proof.clone();
    other.instances[0] = input_commitment(settings, &samples[3]).unwrap();
    assert!(verify(settings, &verifier(&keys), &other).unwrap_err().to_string().contains("does not satisfy"));
}

/// Every function-table activation side by side: `Gemm` → {Sigmoid, Tanh, Erf, Softplus,
/// HardSwish, HardSigmoid, Log, Sqrt, Exp} → `Concat` → `Gemm`.
fn function_zoo_onnx(seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    use zkml_core::fixtures::{constant, graph_bytes, node_with};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut inits = Vec::new();
    let mut c = |name: &str, dims: &[usize], data: Vec<f32>| {
        inits.push(constant(name, dims, data));
        name.to_string()
    };
    let w1 = c("w1", &[16, 12], (0..16 * 12).map(|_| rng.gen_range(-0.6..0.6)).collect());
    let w2 = c("w2", &[108, 4], (0..108 * 4).map(|_| rng.gen_range(-0.3..0.3)).collect());
    let (half, b2) = (c("half", &[], vec![0.5]), c("b2", &[4], vec![0.1, -0.1, 0.2, 0.0]));
    let mut nodes = vec![node_with("Gemm", "fc1", &["input", &w1], &["x"], &[])];
    let branches = ["Sigmoid", "Tanh", "Erf", "Softplus", "HardSwish", "HardSigmoid"];
    for op in branches {
        nodes.push(node_with(op, &op.to_lowercase(), &["x"], &[op], &[]));
    }
    nodes.push(node_with("Add", "shift", &["Sigmoid", &half], &["s"], &[]));
    nodes.push(node_with("Log", "log", &["s"], &["Log"], &[]));
    nodes.push(node_with("Sqrt", "sqrt", &["Sigmoid"], &["Sqrt"], &[]));
    nodes.push(node_with("Mul", "scale", &["x", &half], &["xh"], &[]));
    nodes.push(node_with("Exp", "exp", &["xh"], &["Exp"], &[]));
    let all: Vec<&str> = branches.iter().copied().chain(["Log", "Sqrt", "Exp"]).collect();
    nodes.push(node_with("Concat", "concat", &all, &["cat"], &[("axis", zkml_core::fixtures::Attr::Int(1))]));
    nodes.push(node_with("Gemm", "fc2", &["cat", &w2, &b2], &["output"], &[]));
    graph_bytes(nodes, inits, &[1, 16], &[1, 4])
}

#[test]
fn function_tables_match_onnx_execution_and_prove() {
    let onnx = function_zoo_onnx(5);
    let samples: Vec<Vec<f32>> = random_samples(16, 6, 6).into_iter().map(|s| s.iter().map(|v| v * 4.0 - 2.0).collect()).collect();
    let model = compile(&onnx, &samples, &CompileOptions::default()).unwrap();
    assert!(model.settings.fidelity.max_abs_error < 0.02, "{}", model.settings.fidelity);
    eprintln!("function tables: k = {}, {}", model.settings.k, model.settings.fidelity);
    let keys = keys_for(&model);
    let proof = prove(&model, &keys, &samples[0]).unwrap();
    verify(&model.settings, &verifier(&keys), &proof).unwrap();

    // An input outside Log's domain is reported at calibration, naming the layer.
    let negative = zkml_core::fixtures::graph_bytes(
        vec![node("Log", "logarithm", &["input"], &["output"], &[])],
        vec![],
        &[1, 4],
        &[1, 4],
    );
    let err = compile(&negative, &[vec![0.5, -1.0, 2.0, 3.0]], &CompileOptions::default()).unwrap_err().to_string();
    assert!(err.contains("logarithm") && err.contains("-1.0000"), "{err}");
}

#[test]
fn transposed_convolution_matches_onnx_execution_and_proves() {
    use rand::{Rng, SeedableRng};
    use zkml_core::fixtures::{constant, graph_bytes, node_with, Attr};
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
    let mut random = |n: usize| (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect::<Vec<_>>();
    let inits = vec![
        constant("w", &[4, 3, 3, 3], random(108)),
        constant("b", &[3], random(3)),
        constant("wf", &[192, 2], random(384)),
    ];
    let ints = |v: &[i64]| Attr::Ints(v.to_vec());
    let nodes = vec![
        node_with(
            "ConvTranspose",
            "up",
            &["input", "w", "b"],
            &["u"],
            &[("strides", ints(&[2, 2])), ("pads", ints(&[1, 1, 1, 1])), ("output_padding", ints(&[1, 1])), ("group", Attr::Int(1))],
        ),
        node_with("Relu", "relu", &["u"], &["r"], &[]),
        node_with("Flatten", "flatten", &["r"], &["f"], &[]),
        node_with("Gemm", "fc", &["f", "wf"], &["output"], &[]),
    ];
    let onnx = graph_bytes(nodes, inits, &[1, 4, 4, 4], &[1, 2]);
    let samples = random_samples(64, 4, 13);
    let model = compile(&onnx, &samples, &CompileOptions::default()).unwrap();
    let keys = keys_for(&model);
    let proof = prove(&model, &keys, &samples[0]).unwrap();
    verify(&model.settings, &verifier(&keys), &proof).unwrap();
}

#[test]
fn transformer_block_matches_onnx_execution_and_proves() {
    // Self-attention (products of two computed matrices, softmax), residuals, layer norms.
    let onnx = zkml_core::fixtures::transformer_onnx(4, 8, 2);
    let samples: Vec<Vec<f32>> = random_samples(32, 4, 21).into_iter().map(|s| s.iter().map(|v| v * 2.0 - 1.0).collect()).collect();
    let model = compile(&onnx, &samples, &CompileOptions::default()).unwrap();
    eprintln!("transformer block: k = {}, {}", model.settings.k, model.settings.fidelity);
    assert!(model.settings.fidelity.max_abs_error < 0.05, "{}", model.settings.fidelity);
    proves_and_rejects_a_changed_output(&model, &samples[1], 3);
}

#[test]
fn hashed_parameters_bind_the_proof_to_the_committed_weights() {
    use zkml_circuits::LayerOp;
    use zkml_core::artifacts::field_to_hex;
    let options = CompileOptions { param_visibility: ParamVisibility::Hashed, ..CompileOptions::default() };
    let (model, samples) = compiled(&[6, 4, 3], 31, options);
    let keys = keys_for(&model);
    let proof = prove(&model, &keys, &samples[0]).unwrap();
    verify(&model.settings, &verifier(&keys), &proof).unwrap();
    let committed = proof.params_commitment(&model.settings).unwrap();
    assert_eq!(Some(field_to_hex(&committed)), model.settings.params_commitment);

    // One weight changed: another commitment.
    let mut changed = model.clone();
    let LayerOp::Affine(rows) = &mut changed.network.layers[0].op else { panic!("the first layer is affine") };
    rows[1][2].1 += 1;
    let new_commitment = changed.circuit().params_commitment();
    assert_ne!(new_commitment, committed);
    let mut settings = model.settings.clone();
    settings.params_commitment = Some(field_to_hex(&new_commitment));

    // The old weights' proof fails against the new commitment, whether or not its instance is
    // rewritten to claim it.
    assert!(verify(&settings, &verifier(&keys), &proof).unwrap_err().to_string().contains("parameter commitment"));
    let mut claimed = proof.clone();
    claimed.instances[0] = new_commitment;
    assert!(verify(&settings, &verifier(&keys), &claimed).unwrap_err().to_string().contains("does not satisfy"));
    // The new weights prove against the new commitment (same keys: weights are witnesses), and
    // only against it.
    let new_proof = prove(&changed, &keys, &samples[0]).unwrap();
    verify(&settings, &verifier(&keys), &new_proof).unwrap();
    assert!(verify(&model.settings, &verifier(&keys), &new_proof).is_err());
}

/// Shape, reduction and elementwise operators not covered by the other models: `Pad`, `Split`,
/// `Sub`, `Neg`, `Min`, `Div` by a computed tensor, `Gather`, `ReduceSum`, `ReduceMean`,
/// `ReduceMax`, `GlobalMaxPool`, `Squeeze`, GELU in its `Erf` form (a product of two computed
/// tensors), and a `MatMul` with a constant left operand.
fn shape_zoo_onnx() -> Vec<u8> {
    use zkml_core::fixtures::{constant, graph_bytes, integers, node_with, Attr};
    let ints = |v: &[i64]| Attr::Ints(v.to_vec());
    let floats = |name: &str, dims: &[usize], v: Vec<f32>| constant(name, dims, v);
    let inits = vec![
        floats("half", &[], vec![0.5]),
        floats("one", &[], vec![1.0]),
        floats("sqrt2", &[], vec![std::f32::consts::SQRT_2]),
        integers("pads", &[8], vec![0, 0, 1, 1, 0, 0, 1, 1]),
        integers("idx", &[2], vec![0, 2]),
        integers("axes23", &[2], vec![2, 3]),
        integers("shape", &[2], vec![5, 1]),
        floats("left", &[2, 5], vec![0.5, -1.0, 0.25, 1.0, 0.5, -0.5, 0.75, 0.1, -0.2, 0.3]),
    ];
    let nodes = vec![
        node_with("Pad", "pad", &["input", "pads"], &["p"], &[]),
        node_with("Split", "split", &["p"], &["a", "b"], &[("axis", Attr::Int(1))]),
        node_with("Sub", "sub", &["a", "b"], &["d"], &[]),
        node_with("Neg", "neg", &["d"], &["n"], &[]),
        node_with("Min", "min", &["a", "b"], &["mn"], &[]),
        node_with("Sigmoid", "sigmoid", &["b"], &["sb"], &[]),
        node_with("Add", "positive", &["sb", "half"], &["den"], &[]),
        node_with("Div", "div", &["a", "den"], &["q"], &[]),
        node_with("Concat", "concat", &["n", "mn", "q"], &["c"], &[("axis", Attr::Int(1))]),
        node_with("Gather", "gather", &["c", "idx"], &["g"], &[("axis", Attr::Int(1))]),
        node_with("ReduceMax", "rmax", &["g"], &["gm"], &[("axes", ints(&[3])), ("keepdims", Attr::Int(0))]),
        node_with("ReduceSum", "rsum", &["c", "axes23"], &["cs"], &[("keepdims", Attr::Int(1))]),
        node_with("GlobalMaxPool", "gmp", &["c"], &["cm"], &[]),
        node_with("Add", "pooled", &["cs", "cm"], &["pool"], &[]),
        node_with("Squeeze", "squeeze", &["pool", "axes23"], &["ps"], &[]),
        node_with("ReduceMean", "rmean", &["gm"], &["gmm"], &[("axes", ints(&[2])), ("keepdims", Attr::Int(0))]),
        // GELU as exporters write it before opset 20: x · 0.5 · (1 + erf(x / √2)).
        node_with("Div", "gelu_scale", &["gmm", "sqrt2"], &["gs"], &[]),
        node_with("Erf", "gelu_erf", &["gs"], &["ge"], &[]),
        node_with("Add", "gelu_one", &["ge", "one"], &["g1"], &[]),
        node_with("Mul", "gelu_product", &["gmm", "g1"], &["gp"], &[]),
        node_with("Mul", "gelu_half", &["gp", "half"], &["mm"], &[]),
        node_with("Concat", "join", &["ps", "mm"], &["j"], &[("axis", Attr::Int(1))]),
        node_with("Reshape", "column", &["j", "shape"], &["jc"], &[]),
        node_with("MatMul", "left_matmul", &["left", "jc"], &["output"], &[]),
    ];
    graph_bytes(nodes, inits, &[1, 2, 4, 4], &[2, 1])
}

#[test]
fn shape_and_reduction_operators_match_onnx_execution_and_prove() {
    let samples: Vec<Vec<f32>> = random_samples(32, 4, 17).into_iter().map(|s| s.iter().map(|v| v * 2.0 - 1.0).collect()).collect();
    let model = compile(&shape_zoo_onnx(), &samples, &CompileOptions::default()).unwrap();
    assert!(model.settings.fidelity.max_abs_error < 0.02, "{}", model.settings.fidelity);
    let keys = keys_for(&model);
    let proof = prove(&model, &keys, &samples[2]).unwrap();
    verify(&model.settings, &verifier(&keys), &proof).unwrap();
}
