//! The initialization, native storage and compressed storage verifiers on arbitrary proofs for
//! the unit in `zkml-core/tests/data/verifier`: rejected with a reason, never a panic, and a
//! native proof is only accepted when it is byte for byte the honest one (native proofs are
//! unique). The first input byte picks the verifier; `scripts/fuzz.sh` seeds the corpus with
//! the honest proofs.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use zkml_circuits::halo2_proofs::halo2curves::bn256::G1Affine;
use zkml_circuits::halo2_proofs::plonk::VerifyingKey;
use zkml_circuits::srs::{dev_srs, Srs};
use zkml_core::space::snark::{read_storage_vk, storage_shape};
use zkml_core::space::{
    verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof, Registration, StorageProof,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../zkml-core/tests/data/verifier/");
const INIT_BEACON: Beacon = Beacon([2; 32]);
const EPOCH_BEACON: Beacon = Beacon([9; 32]);

struct Fixture {
    registration: Registration,
    srs: Srs,
    vk: VerifyingKey<G1Affine>,
    honest: [Vec<u8>; 2],
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}{name}")).expect("fixture files are in the repository")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let registration = Registration::from_bytes(&read("unit.registration.bin")).unwrap();
        let params = registration.params;
        let srs = dev_srs(storage_shape(&params).k()).unwrap();
        let vk = read_storage_vk(&read("unit.storage-vk.bin"), &params).unwrap();
        Fixture { registration, srs, vk, honest: [read("unit.init.bin"), read("unit.epoch.bin")] }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let params = &f.registration.params;
    let Some((&which, bytes)) = data.split_first() else { return };
    let accepted = match which % 3 {
        0 => InitProof::from_bytes(bytes, params).map(|p| verify_init(&f.registration, &INIT_BEACON, &p).is_ok()),
        1 => StorageProof::from_bytes(bytes, params).map(|p| verify_storage(&f.registration, &EPOCH_BEACON, &p).is_ok()),
        _ => CompressedProof::from_bytes(bytes, params)
            .map(|p| verify_compressed(&f.registration, &f.srs, &f.vk, &EPOCH_BEACON, &p).is_ok()),
    };
    if accepted.unwrap_or(false) && which % 3 < 2 {
        assert_eq!(bytes, f.honest[(which % 3) as usize].as_slice(), "a forged proof was accepted");
    }
});
