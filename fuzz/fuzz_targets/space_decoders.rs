//! Every Proof-of-Space decoder on arbitrary bytes: an error or a value, never a panic; and a
//! decoded value re-encodes to the same bytes (the formats are canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_core::space::{CompressedProof, InitProof, Registration, SpaceParams, StorageProof};

fuzz_target!(|data: &[u8]| {
    let params = SpaceParams::testing(6);
    if let Ok(p) = SpaceParams::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
    }
    if let Ok(r) = Registration::from_bytes(data) {
        assert_eq!(r.to_bytes(), data);
    }
    if let Ok(p) = InitProof::from_bytes(data, &params) {
        assert_eq!(p.to_bytes(&params), data);
    }
    if let Ok(p) = StorageProof::from_bytes(data, &params) {
        assert_eq!(p.to_bytes(&params), data);
    }
    if let Ok(p) = CompressedProof::from_bytes(data, &params) {
        assert_eq!(p.to_bytes(&params), data);
    }
});
