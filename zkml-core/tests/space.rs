//! Proof of Space end to end: plotting (with resumption), initialization proofs, epoch storage
//! proofs and their compressed form, identity binding, verifier hygiene and simulated soundness.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::Field;
use zkml_core::space::snark::{storage_shape, StorageKeys};
use zkml_core::space::{
    compress, epoch_challenges, verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof,
    NodeIdentity, Plot, Registration, SpaceParams, StorageProof,
};
use zkml_core::Error;

fn identity(key: &str, unit: u64) -> NodeIdentity {
    NodeIdentity {
        network_id: [7; 32],
        node_key: key.as_bytes().to_vec(),
        unit_index: unit,
        registration_beacon: Beacon([1; 32]),
    }
}

fn plot(dir: &Path, params: &SpaceParams, id: &NodeIdentity) -> Plot {
    Plot::create(dir, params, id, |_, _, _| {}).unwrap()
}

fn rejected(result: zkml_core::Result<()>, why: &str) -> String {
    match result {
        Err(Error::Rejected(reason)) => reason,
        other => panic!("{why}: expected a rejection, got {other:?}"),
    }
}

#[test]
fn plot_prove_and_verify_every_proof_kind() {
    let tmp = tempdir("full");
    let params = SpaceParams::testing(8);
    let id = identity("node-a", 0);
    let p = plot(&tmp, &params, &id);
    let registration = p.registration().clone();
    assert_eq!(Registration::from_bytes(&registration.to_bytes()).unwrap(), registration);
    // Re-plotting the same replica into the same directory is a no-op.
    assert_eq!(plot(&tmp, &params, &id).registration(), &registration);

    // Initialization proof, through bytes.
    let init_beacon = Beacon([2; 32]);
    let init = p.prove_init(&init_beacon).unwrap();
    let init = InitProof::from_bytes(&init.to_bytes(&params), &params).unwrap();
    verify_init(&registration, &init_beacon, &init).unwrap();
    rejected(verify_init(&registration, &Beacon([3; 32]), &init), "init proof for another beacon");
    let mut tampered = init.clone();
    tampered.openings[1].columns[0].labels[1] += Fr::ONE;
    rejected(verify_init(&registration, &init_beacon, &tampered), "tampered column label");
    p.discard_layers().unwrap();
    assert!(p.prove_init(&init_beacon).is_err(), "layers are gone");

    // Epoch proof, through bytes.
    let beacon = Beacon([9; 32]);
    let proof = p.prove_storage(&beacon).unwrap();
    let proof = StorageProof::from_bytes(&proof.to_bytes(&params), &params).unwrap();
    verify_storage(&registration, &beacon, &proof).unwrap();
    assert_ne!(
        epoch_challenges(&registration, &beacon),
        epoch_challenges(&registration, &Beacon([10; 32])),
        "challenges change with the beacon"
    );

    // Compressed proof, checked by the stock halo2 verifier.
    let k = storage_shape(&params).k();
    let wrong = StorageKeys::generate(&params, zkml_circuits::srs::dev_srs(k + 1).unwrap());
    assert!(matches!(wrong, Err(Error::InvalidParameters(_))), "an SRS of another size is refused");
    let srs = zkml_circuits::srs::dev_srs(k).unwrap();
    let keys = StorageKeys::generate(&params, srs).unwrap();
    let compressed = compress(&registration, &keys, &proof).unwrap();
    let compressed = CompressedProof::from_bytes(&compressed.to_bytes(&params), &params).unwrap();
    let vk_bytes = zkml_circuits::prover::verifying_key_bytes(keys.vk());
    let vk = zkml_core::space::snark::read_storage_vk(&vk_bytes, &params).unwrap();
    verify_compressed(&registration, keys.srs(), &vk, &beacon, &compressed).unwrap();
    rejected(verify_compressed(&registration, keys.srs(), &vk, &Beacon([10; 32]), &compressed), "other beacon");
    let wrong_root = Registration { comm_r: registration.comm_r + Fr::ONE, ..registration.clone() };
    rejected(verify_compressed(&wrong_root, keys.srs(), &vk, &beacon, &compressed), "wrong comm_r");
    let other_node = Registration { identity: identity("node-b", 0), ..registration.clone() };
    rejected(verify_compressed(&other_node, keys.srs(), &vk, &beacon, &compressed), "other identity");
    let mut flipped = compressed.clone();
    flipped.proof[100] ^= 1;
    rejected(verify_compressed(&registration, keys.srs(), &vk, &beacon, &flipped), "flipped proof byte");
    let mut truncated = compressed.clone();
    truncated.proof.pop();
    rejected(verify_compressed(&registration, keys.srs(), &vk, &beacon, &truncated), "truncated proof");
    let mut padded = compressed;
    padded.proof.push(0);
    rejected(verify_compressed(&registration, keys.srs(), &vk, &beacon, &padded), "padded proof");
    // A storage proof that fails natively is not compressed.
    let mut bad = proof.clone();
    bad.openings[0].leaf += Fr::ONE;
    assert!(matches!(compress(&registration, &keys, &bad), Err(Error::Rejected(_))));
}

#[test]
fn a_plot_is_bound_to_its_identity() {
    let tmp = tempdir("identity");
    let params = SpaceParams::testing(6);
    let p = plot(&tmp, &params, &identity("node-a", 0));
    let beacon = Beacon([2; 32]);
    let init = p.prove_init(&beacon).unwrap();
    verify_init(p.registration(), &beacon, &init).unwrap();
    // Another node, or another unit of the same node, copies the plot files and registers the
    // same commitments as its own: it can answer its own challenges from the copied layers, but
    // the labels were derived from the victim's replica id.
    for (n, thief) in [identity("node-b", 0), identity("node-a", 1)].into_iter().enumerate() {
        let copy = tempdir(&format!("thief-{n}"));
        for name in ["layers.bin", "tree_c.bin", "tree_r.bin"] {
            std::fs::copy(tmp.join(name), copy.join(name)).unwrap();
        }
        let claimed = Registration { identity: thief, ..p.registration().clone() };
        std::fs::write(copy.join("plot.meta"), claimed.to_bytes()).unwrap();
        let stolen = Plot::open(&copy).unwrap().prove_init(&beacon).unwrap();
        let reason = rejected(verify_init(&claimed, &beacon, &stolen), "copied plot");
        assert!(reason.contains("not derived from its parents"), "{reason}");
    }
    // The same plot verified under other parameters fails too.
    let other_params = Registration { params: SpaceParams { layers: 4, ..params }, ..p.registration().clone() };
    assert!(verify_init(&other_params, &beacon, &init).is_err());
}

#[test]
fn storage_verifier_names_every_defect() {
    let tmp = tempdir("hygiene");
    let params = SpaceParams::testing(7);
    let p = plot(&tmp, &params, &identity("node-a", 0));
    let registration = p.registration();
    let beacon = Beacon([4; 32]);
    let proof = p.prove_storage(&beacon).unwrap();
    verify_storage(registration, &beacon, &proof).unwrap();
    let check = |edit: &dyn Fn(&mut StorageProof), expect: &str| {
        let mut bad = proof.clone();
        edit(&mut bad);
        let reason = rejected(verify_storage(registration, &beacon, &bad), expect);
        assert!(reason.contains(expect), "{reason:?} should mention {expect:?}");
    };
    check(&|p| p.openings[3].index = p.openings[2].index, "opened twice");
    check(&|p| p.openings[3].index = 1 << 7, "outside");
    check(&|p| p.openings[0].siblings.pop().map(drop).unwrap_or(()), "path of");
    check(&|p| p.openings[5].siblings[2] += Fr::ONE, "does not open comm_r");
    check(&|p| p.openings[5].leaf += Fr::ONE, "does not open comm_r");
    check(&|p| p.openings.truncate(3), "openings, expected");
    check(&|p| p.beacon = Beacon([5; 32]), "another epoch");
    check(&|p| p.openings.swap(0, 1), "was not challenged");
    let wrong_root = Registration { comm_r: registration.comm_r + Fr::ONE, ..registration.clone() };
    rejected(verify_storage(&wrong_root, &beacon, &proof), "wrong comm_r");
    rejected(verify_storage(registration, &Beacon([6; 32]), &proof), "wrong beacon");

    // Bytes: truncated, padded, non-canonical, other parameters, other kind.
    let bytes = proof.to_bytes(&params);
    let decode = |b: &[u8]| StorageProof::from_bytes(b, &params);
    assert!(matches!(decode(&bytes[..bytes.len() - 1]), Err(Error::Decode { .. })));
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(matches!(decode(&padded), Err(Error::Decode { .. })));
    let mut non_canonical = bytes.clone();
    let leaf_at = 7 + 32 + 32 + 4 + 8; // header, params digest, beacon, count, first index
    non_canonical[leaf_at..leaf_at + 32].copy_from_slice(&[0xff; 32]);
    let err = decode(&non_canonical).unwrap_err().to_string();
    assert!(err.contains("non-canonical"), "{err}");
    assert!(StorageProof::from_bytes(&bytes, &SpaceParams::testing(8)).is_err());
    assert!(InitProof::from_bytes(&bytes, &params).is_err());
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
}

#[test]
fn interrupted_plot_resumes_and_other_replicas_are_refused() {
    let params = SpaceParams::testing(7);
    let id = identity("node-a", 3);
    let reference = plot(&tempdir("reference"), &params, &id);

    let dir = tempdir("resume");
    let crashed = std::panic::catch_unwind(|| {
        Plot::create(&dir, &params, &id, |stage, _, _| {
            if stage == (zkml_core::space::PlotStage::Labels { layer: 2, layers: 3 }) {
                panic!("simulated crash");
            }
        })
    });
    assert!(crashed.is_err());
    let err = Plot::open(&dir).unwrap_err().to_string();
    assert!(err.contains("unfinished"), "{err}");
    // Another replica cannot take over the unfinished directory.
    let err = Plot::create(&dir, &params, &identity("node-b", 3), |_, _, _| {}).unwrap_err().to_string();
    assert!(err.contains("another replica"), "{err}");
    // Resuming starts at layer 2 and ends with the same commitments as an uninterrupted plot.
    let mut stages = Vec::new();
    let resumed = Plot::create(&dir, &params, &id, |stage, _, _| stages.push(stage)).unwrap();
    assert!(!stages.contains(&zkml_core::space::PlotStage::Labels { layer: 0, layers: 3 }));
    assert_eq!(resumed.registration(), reference.registration());
    let err = Plot::create(&dir, &params, &identity("node-b", 3), |_, _, _| {}).unwrap_err().to_string();
    assert!(err.contains("another replica"), "{err}");
}

/// A prover that deleted a fraction δ of its labels and answers honestly where it can (a random
/// guess elsewhere) passes an epoch with probability C(N − D, t) / C(N, t).
#[test]
fn deleting_labels_fails_epochs_at_the_promised_rate() {
    let tmp = tempdir("soundness");
    let params = SpaceParams { epoch_challenges: 4, ..SpaceParams::testing(9) };
    let p = plot(&tmp, &params, &identity("cheater", 0));
    let registration = p.registration();
    let n = params.nodes() as usize;
    let deleted_count = n / 5; // δ = 0.2
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut deleted = vec![false; n];
    while deleted.iter().filter(|d| **d).count() < deleted_count {
        deleted[rng.gen_range(0..n)] = true;
    }
    let epochs = 400;
    let mut passed = 0;
    for e in 0..epochs {
        let beacon = Beacon(rng.gen());
        let mut proof = p.prove_storage(&beacon).unwrap();
        for o in &mut proof.openings {
            if deleted[o.index as usize] {
                o.leaf = Fr::random(&mut rng);
            }
        }
        passed += usize::from(verify_storage(registration, &beacon, &proof).is_ok());
        let _ = e;
    }
    let t = params.epoch_challenges as usize;
    let expected: f64 = (0..t).map(|i| (n - deleted_count - i) as f64 / (n - i) as f64).product();
    let measured = passed as f64 / epochs as f64;
    let sigma = (expected * (1.0 - expected) / epochs as f64).sqrt();
    assert!(
        (measured - expected).abs() < 4.0 * sigma,
        "pass rate {measured:.3}, expected {expected:.3} ± {:.3}",
        4.0 * sigma
    );
}

/// An empty directory for one test under cargo's `target/tmp`: emptied when the test starts,
/// so repeated runs reuse it instead of piling up in the system's temporary directory.
fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("zkml-space-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
