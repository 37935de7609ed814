//! The native and compressed storage verifiers and the initialization verifier on arbitrary
//! proofs for a real plot: rejected with a reason, never a panic, never accepted unless the
//! bytes are the honest proof's.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zkml_core::space::snark::{storage_shape, StorageKeys};
use zkml_core::space::{
    compress, verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof, NodeIdentity, Plot,
    Registration, SpaceParams, StorageProof,
};

struct Fixture {
    registration: Registration,
    beacon: Beacon,
    keys: StorageKeys,
    honest: [Vec<u8>; 3],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let params = SpaceParams::testing(6);
        let dir = std::env::temp_dir().join(format!("zkml-fuzz-plot-{}", std::process::id()));
        let id = NodeIdentity { network_id: [0; 32], node_key: vec![1], unit_index: 0, registration_beacon: Beacon([1; 32]) };
        let plot = Plot::create(&dir, &params, &id, |_, _, _| {}).unwrap();
        let registration = plot.registration().clone();
        let beacon = Beacon([2; 32]);
        let init = plot.prove_init(&beacon).unwrap().to_bytes(&params);
        let storage = plot.prove_storage(&beacon).unwrap();
        let srs = zkml_circuits::srs::dev_srs(storage_shape(&params).k()).unwrap();
        let keys = StorageKeys::generate(&params, srs).unwrap();
        let compressed = compress(&registration, &keys, &storage).unwrap().to_bytes(&params);
        let _ = std::fs::remove_dir_all(&dir);
        Fixture { registration, beacon, keys, honest: [init, storage.to_bytes(&params), compressed] }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let params = &f.registration.params;
    // The first byte picks the verifier, so the corpus can hold honest proofs of each kind.
    let Some((&which, bytes)) = data.split_first() else { return };
    let accepted = match which % 3 {
        0 => InitProof::from_bytes(bytes, params).map(|p| verify_init(&f.registration, &f.beacon, &p).is_ok()),
        1 => StorageProof::from_bytes(bytes, params).map(|p| verify_storage(&f.registration, &f.beacon, &p).is_ok()),
        _ => CompressedProof::from_bytes(bytes, params)
            .map(|p| verify_compressed(&f.registration, &f.keys.srs, f.keys.vk(), &f.beacon, &p).is_ok()),
    };
    if accepted.unwrap_or(false) {
        // Only the honest native proofs are unique; a compressed proof is randomized, so any
        // accepted one must at least decode to the honest beacon.
        if which % 3 < 2 {
            assert_eq!(bytes, f.honest[(which % 3) as usize].as_slice(), "a forged proof was accepted");
        }
    }
});
