//! Key generation and proving with halo2's prover over [`ProverParams`] (its MSMs on the chosen
//! backend), verification with halo2's stock KZG/SHPLONK verifier, and the byte formats of keys
//! and proofs.

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{
    self, create_proof, keygen_pk, keygen_vk_custom, verify_proof, Circuit, ConstraintSystem, ProvingKey, VerifyingKey,
};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use halo2_proofs::transcript::{Blake2bRead, Blake2bWrite, Challenge255, TranscriptReadBuffer, TranscriptWriterBuffer};
use halo2_proofs::SerdeFormat;
use rand::rngs::OsRng;

use crate::commitment::{AcceleratedKzg, AcceleratedShplonk, ProverParams};
use crate::srs::Srs;
use crate::Error;

/// Generates the verifying key. Selectors are kept as separate fixed columns: combining them
/// would raise the gates' degree and with it the quotient's size.
pub fn keygen_verifying_key<C: Circuit<Fr>>(params: &ProverParams, circuit: &C) -> Result<VerifyingKey<G1Affine>, Error> {
    Ok(keygen_vk_custom(params, circuit, false)?)
}

/// Generates the proving key from the verifying key.
pub fn keygen_proving_key<C: Circuit<Fr>>(
    params: &ProverParams,
    vk: VerifyingKey<G1Affine>,
    circuit: &C,
) -> Result<ProvingKey<G1Affine>, Error> {
    Ok(keygen_pk(params, vk, circuit)?)
}

/// Proves one circuit with one instance column; returns the proof bytes.
pub fn prove<C: Circuit<Fr>>(
    params: &ProverParams,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    instances: &[Fr],
) -> Result<Vec<u8>, Error> {
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(Vec::new());
    create_proof::<AcceleratedKzg, AcceleratedShplonk<'_>, _, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[instances]],
        OsRng,
        &mut transcript,
    )?;
    Ok(transcript.finalize())
}

/// Verifies a proof with halo2's stock SHPLONK verifier. Trailing bytes are rejected.
pub fn verify(srs: &Srs, vk: &VerifyingKey<G1Affine>, proof: &[u8], instances: &[Fr]) -> Result<(), Error> {
    let mut unread = proof;
    let mut transcript = Blake2bRead::<_, G1Affine, Challenge255<_>>::init(&mut unread);
    let strategy = SingleStrategy::new(srs);
    verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
        srs,
        vk,
        strategy,
        &[&[instances]],
        &mut transcript,
    )
    .map_err(|e| Error::Verification(describe(e)))?;
    if !unread.is_empty() {
        return Err(Error::Verification(format!("the proof has {} trailing bytes", unread.len())));
    }
    Ok(())
}

fn describe(e: plonk::Error) -> String {
    match e {
        plonk::Error::Opening | plonk::Error::ConstraintSystemFailure => {
            "the proof does not satisfy the circuit for these instances".into()
        }
        plonk::Error::InvalidInstances => "the number of instance columns does not match the key".into(),
        plonk::Error::Transcript(e) => format!("the proof is malformed or truncated ({e})"),
        other => other.to_string(),
    }
}

/// The exact size of a proof for a circuit with constraint system `cs`, as written by
/// [`prove`]: every commitment and evaluation is 32 bytes.
pub fn proof_size(cs: &ConstraintSystem<Fr>) -> usize {
    let permutation_columns = cs.permutation().get_columns().len();
    let chunks = permutation_columns.div_ceil(cs.degree() - 2);
    let lookups = cs.lookups().len();
    let points = cs.num_advice_columns()
        + 3 * lookups // permuted input, permuted table, grand product
        + chunks // permutation grand products
        + 1 + (cs.degree() - 1) // vanishing: random polynomial, quotient pieces
        + 2; // SHPLONK opening
    let scalars = cs.advice_queries().len()
        + cs.fixed_queries().len()
        + cs.num_selectors() // selectors become fixed columns (not compressed)
        + 1 // random polynomial evaluation
        + permutation_columns // σ evaluations
        + (3 * chunks).saturating_sub(1) // z(x), z(ωx), and z(ω^last x) for all but the last
        + 5 * lookups; // product at x, ωx; permuted input at x, x/ω; permuted table at x
    32 * (points + scalars)
}

/// Serializes a verifying key (uncompressed points, checked on read).
pub fn verifying_key_bytes(vk: &VerifyingKey<G1Affine>) -> Vec<u8> {
    vk.to_bytes(SerdeFormat::RawBytes)
}

/// Serializes a proving key (uncompressed points, checked on read).
pub fn proving_key_bytes(pk: &ProvingKey<G1Affine>) -> Vec<u8> {
    pk.to_bytes(SerdeFormat::RawBytes)
}

/// Reads a verifying key for a circuit with parameters `params`.
pub fn read_verifying_key<C: Circuit<Fr>>(bytes: &[u8], params: C::Params) -> Result<VerifyingKey<G1Affine>, Error> {
    guard_decode("verifying key", || VerifyingKey::read::<_, C>(&mut &bytes[..], SerdeFormat::RawBytes, params))
}

/// Reads a proving key for a circuit with parameters `params`.
pub fn read_proving_key<C: Circuit<Fr>>(bytes: &[u8], params: C::Params) -> Result<ProvingKey<G1Affine>, Error> {
    guard_decode("proving key", || ProvingKey::read::<_, C>(&mut &bytes[..], SerdeFormat::RawBytes, params))
}

/// halo2's key readers return errors for most malformed input but panic on some (for example a
/// truncated polynomial), so decoding runs behind a panic guard and both become one error.
fn guard_decode<T>(what: &str, read: impl FnOnce() -> std::io::Result<T>) -> Result<T, Error> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Decode(format!("{what}: {e}"))),
        Err(_) => Err(Error::Decode(format!("{what}: truncated or corrupt"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::shape_metrics;
    use crate::quantized::{Activation, QuantizedNetwork};
    use crate::{InputVisibility, NetworkCircuit, OutputVisibility, ParamVisibility};

    #[test]
    fn proof_size_is_exact() {
        let params = |i: usize, o: usize, activation| ((0..i * o).map(|v| v as i64 % 7 - 3).collect(), vec![5; o], activation);
        let net =
            QuantizedNetwork::dense_chain(&[5, 4, 2], &[params(5, 4, Activation::Relu), params(4, 2, Activation::Linear)], 4, 4, 12);
        for (private, budget) in [(ParamVisibility::Fixed, usize::MAX), (ParamVisibility::Fixed, 2000), (ParamVisibility::Private, usize::MAX)] {
            let (circuit, k) = NetworkCircuit::compile(net.clone(), private, InputVisibility::Public, OutputVisibility::Public, budget).unwrap();
            let params = ProverParams::from(crate::srs::dev_srs(k).unwrap());
            let vk = keygen_verifying_key(&params, &circuit).unwrap();
            let pk = keygen_proving_key(&params, vk, &circuit).unwrap();
            let (witness, _, instances) = circuit.with_input(&[1, -2, 3, -4, 5]).unwrap();
            let proof = prove(&params, &pk, witness, &instances).unwrap();
            assert_eq!(proof.len(), shape_metrics(&circuit.shape).proof_bytes, "{:?}", circuit.shape);
            verify(params.srs(), pk.get_vk(), &proof, &instances).unwrap();
        }
    }
}
