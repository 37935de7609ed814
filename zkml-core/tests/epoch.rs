//! Epoch helpers: submissions verified end to end, every kind of bad submission rejected, and the
//! serialized artifacts the verifier-only build is tested on kept in sync with the full build.

use std::sync::OnceLock;

use zkml_core::consensus::{
    Contribution, Epoch, EpochVerifier, InferenceSubmission, Rejection, RegisteredModel, SpaceProof, StorageSubmission,
    Submission, UnitRegistry,
};
use zkml_core::space::{Beacon, NodeIdentity, Plot, SpaceParams};
use zkml_core::{compile, fixtures, prove, setup, CompiledModel, CompileOptions, InputVisibility, Keys, VerifierKeys};

struct Network {
    compiled: CompiledModel,
    keys: Keys,
    models: Vec<RegisteredModel>,
    registry: UnitRegistry,
    plots: Vec<Plot>,
}

const NODES: [&str; 2] = ["alice", "bob"];

fn beacon(b: u8) -> Beacon {
    Beacon([b; 32])
}

/// One model and one unit per node, registered through initialization proofs.
fn network() -> &'static Network {
    static NETWORK: OnceLock<Network> = OnceLock::new();
    NETWORK.get_or_init(|| {
        let options = CompileOptions { input_visibility: InputVisibility::Public, ..CompileOptions::default() };
        let compiled =
            compile(&fixtures::mlp_onnx(&[8, 4, 3], 1), &fixtures::random_samples(8, 16, 2), &options).unwrap();
        let keys = setup(&compiled, zkml_circuits::srs::dev_srs(compiled.settings.k).unwrap(), |_| {}).unwrap();
        let vk = VerifierKeys { srs: keys.srs().clone(), vk: keys.vk().clone() };
        let models = vec![RegisteredModel::new(compiled.settings.clone(), vk).unwrap()];
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("zkml-epoch-test");
        let _ = std::fs::remove_dir_all(&dir);
        let mut registry = UnitRegistry::new();
        let plots = NODES
            .iter()
            .map(|name| {
                let identity = NodeIdentity {
                    network_id: [3; 32],
                    node_key: name.as_bytes().to_vec(),
                    unit_index: 0,
                    registration_beacon: beacon(1),
                };
                let plot = Plot::create(&dir.join(name), &SpaceParams::testing(7), &identity, |_, _, _| {}).unwrap();
                let init = plot.prove_init(&beacon(2)).unwrap();
                registry.register(plot.registration().clone(), &beacon(2), &init).unwrap();
                plot
            })
            .collect();
        Network { compiled, keys, models, registry, plots }
    })
}

fn honest(n: &Network, epoch: &Epoch, node: usize) -> Submission {
    let key = NODES[node].as_bytes();
    let task = epoch.poi_task(&n.models[0], key);
    let proof = prove(&n.compiled, &n.keys, &task.input).unwrap();
    let storage = n.plots[node].prove_storage(&epoch.beacon).unwrap();
    Submission {
        epoch: epoch.number,
        node_key: key.to_vec(),
        inferences: vec![InferenceSubmission { model: n.models[0].id, proof }],
        storage: vec![StorageSubmission { unit_index: 0, proof: SpaceProof::Native(storage) }],
    }
}

#[test]
fn honest_submissions_earn_their_contribution_once() {
    let n = network();
    let epoch = Epoch { number: 5, beacon: beacon(50) };
    let mut verifier = EpochVerifier::new(epoch, &n.models, &n.registry);
    let expected = Contribution {
        compute_units: 1 << n.compiled.settings.k,
        space_bytes: SpaceParams::testing(7).unit_bytes(),
    };
    for node in 0..NODES.len() {
        let submission = honest(n, &epoch, node);
        assert_eq!(verifier.verify(&submission), Ok(expected));
        assert_eq!(verifier.verify(&submission), Err(Rejection::DuplicateSubmission));
    }
    // Tasks differ per node and per epoch.
    let other = Epoch { number: 6, beacon: beacon(51) };
    assert_ne!(epoch.poi_task(&n.models[0], b"alice"), epoch.poi_task(&n.models[0], b"bob"));
    assert_ne!(epoch.poi_task(&n.models[0], b"alice"), other.poi_task(&n.models[0], b"alice"));
}

#[test]
fn bad_submissions_are_rejected_with_their_reason() {
    let n = network();
    let previous = Epoch { number: 7, beacon: beacon(70) };
    let epoch = Epoch { number: 8, beacon: beacon(80) };
    let alice = honest(n, &epoch, 0);
    let old = honest(n, &previous, 0);
    let verify = |s: &Submission| EpochVerifier::new(epoch, &n.models, &n.registry).verify(s);

    // Replayed: last epoch's submission as it was, and relabelled with this epoch's number.
    assert_eq!(verify(&old), Err(Rejection::WrongEpoch { expected: 8, got: 7 }));
    let relabelled = Submission { epoch: 8, ..old.clone() };
    assert!(matches!(verify(&relabelled), Err(Rejection::Inference { reason, .. }) if reason.contains("challenge input")));
    let storage_only = Submission { epoch: 8, inferences: vec![], ..old };
    assert!(matches!(verify(&storage_only), Err(Rejection::Storage { reason, .. }) if reason.contains("another epoch")));

    // Cross-node: bob submits alice's proofs under his key.
    let stolen = Submission { node_key: b"bob".to_vec(), ..alice.clone() };
    assert!(matches!(verify(&stolen), Err(Rejection::Inference { reason, .. }) if reason.contains("challenge input")));
    let stolen_storage = Submission { node_key: b"bob".to_vec(), inferences: vec![], ..alice.clone() };
    assert!(matches!(verify(&stolen_storage), Err(Rejection::Storage { unit: 0, .. })));
    let unregistered = Submission { node_key: b"eve".to_vec(), inferences: vec![], ..alice.clone() };
    assert_eq!(verify(&unregistered), Err(Rejection::UnknownUnit(0)));

    // Tampered: a flipped proof byte, a changed output, a truncated storage proof.
    let mut flipped = alice.clone();
    flipped.inferences[0].proof.proof[64] ^= 1;
    assert!(matches!(verify(&flipped), Err(Rejection::Inference { .. })));
    let mut wrong_output = alice.clone();
    wrong_output.inferences[0].proof.outputs[0] += 1.0;
    assert!(matches!(verify(&wrong_output), Err(Rejection::Inference { reason, .. }) if reason.contains("outputs")));
    let mut truncated = alice.clone();
    if let SpaceProof::Native(p) = &mut truncated.storage[0].proof {
        p.openings.pop();
    }
    assert!(matches!(verify(&truncated), Err(Rejection::Storage { reason, .. }) if reason.contains("openings")));

    // Duplicates inside a submission, and an empty one.
    let mut twice = alice.clone();
    twice.storage.push(twice.storage[0].clone());
    assert_eq!(verify(&twice), Err(Rejection::DuplicateUnit(0)));
    let mut twice = alice.clone();
    twice.inferences.push(twice.inferences[0].clone());
    assert_eq!(verify(&twice), Err(Rejection::DuplicateInference(n.models[0].id)));
    let empty = Submission { inferences: vec![], storage: vec![], ..alice.clone() };
    assert_eq!(verify(&empty), Err(Rejection::Empty));
    assert!(verify(&alice).is_ok());
}

#[test]
fn registry_refuses_copies_and_bad_initialization() {
    let n = network();
    let mut registry = UnitRegistry::new();
    let plot = &n.plots[0];
    let init = plot.prove_init(&beacon(2)).unwrap();
    // Wrong beacon, then the real one, then the same unit again, then its comm_r under bob.
    assert!(registry.register(plot.registration().clone(), &beacon(3), &init).is_err());
    registry.register(plot.registration().clone(), &beacon(2), &init).unwrap();
    assert!(registry.register(plot.registration().clone(), &beacon(2), &init).is_err());
    let mut copied = plot.registration().clone();
    copied.identity.node_key = b"bob-2".to_vec();
    let err = registry.register(copied, &beacon(2), &init).unwrap_err().to_string();
    assert!(err.contains("already registered"), "{err}");
}

/// Regenerates the serialized artifacts that `tests/verifier.rs` checks with the verifier-only
/// build: `cargo test -p zkml-core --test epoch -- --ignored write_verifier_fixtures`. Only
/// needed when a format version changes; the committed files are what old nodes must keep
/// accepting.
#[test]
#[ignore]
fn write_verifier_fixtures() {
    let n = network();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/verifier");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    let model = &n.models[0];
    write("model.settings.json", &serde_json::to_vec_pretty(&model.settings).unwrap());
    write("model.vk.bin", &zkml_circuits::prover::verifying_key_bytes(&model.keys.vk));
    let epoch = Epoch { number: 1, beacon: beacon(9) };
    let submission = honest(n, &epoch, 0);
    write("model.proof.json", &serde_json::to_vec_pretty(&submission.inferences[0].proof.to_file()).unwrap());

    let plot = &n.plots[0];
    let registration = plot.registration();
    let params = registration.params;
    write("unit.registration.bin", &registration.to_bytes());
    write("unit.init.bin", &plot.prove_init(&beacon(2)).unwrap().to_bytes(&params));
    let storage = plot.prove_storage(&epoch.beacon).unwrap();
    write("unit.epoch.bin", &storage.to_bytes(&params));
    let k = zkml_core::space::snark::storage_shape(&params).k();
    let keys = zkml_core::space::StorageKeys::generate(&params, zkml_circuits::srs::dev_srs(k).unwrap()).unwrap();
    write("unit.storage-vk.bin", &zkml_circuits::prover::verifying_key_bytes(keys.vk()));
    let compressed = zkml_core::space::compress(registration, &keys, &storage).unwrap();
    write("unit.epoch.snark", &compressed.to_bytes(&params));
}
