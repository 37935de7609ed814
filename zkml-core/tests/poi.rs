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

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkml-test-{}-{name}", std::process::id()));
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
    VerifierKeys { srs: keys.srs.clone(), vk: keys.vk().clone() }
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
    let graph = vec![node("Sigmoid", "squash", &["input"], &["output"], &[])];
    let err = OnnxModel::from_bytes(&model_bytes(graph, vec![], 4, 4)).unwrap_err();
    match err {
        Error::UnsupportedOp { node, op, .. } => assert_eq!((node.as_str(), op.as_str()), ("squash", "Sigmoid")),
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
