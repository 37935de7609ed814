//! KZG over BN254 with the prover's MSMs on a chosen backend (CPU, CUDA): stage 1 of the GPU plan.
//!
//! halo2's `create_proof` and key generation are generic over the commitment scheme. This module
//! gives them [`AcceleratedKzg`], whose prover parameters ([`ProverParams`]) keep the SRS bases
//! resident on an [`MsmBackend`] and compute every column, lookup, permutation and quotient
//! commitment there. The opening (SHPLONK) is delegated to halo2's own prover, so its two
//! opening commitments still run on the CPU: an opener of our own would need each query's point
//! and polynomial, which halo2-axiom 0.5.3 keeps crate-private in `ProverQuery` (stage 2 of the
//! GPU plan, a prover of our own, lifts this). Proofs are byte-for-byte what the stock prover
//! writes for the same randomness: the stock `verify_proof` with stock `ParamsKZG` checks them.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G1};
use halo2_proofs::halo2curves::serde::SerdeObject;
use halo2_proofs::poly::commitment::{Blind, CommitmentScheme, Params, ParamsProver, Prover};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::msm::MSMKZG;
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::poly::{Coeff, LagrangeCoeff, Polynomial, ProverQuery};
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use halo2_proofs::SerdeFormat;
use rand::RngCore;
use zkml_gpu_kernels::{MsmBackend, ResidentBases};

use crate::srs::Srs;
use crate::Error;

/// The SRS's two base sets (monomial and Lagrange) resident on a backend.
#[derive(Clone)]
struct Resident {
    backend: String,
    g: Arc<dyn ResidentBases>,
    g_lagrange: Arc<dyn ResidentBases>,
}

/// Prover parameters: the SRS, and optionally a backend holding its bases that computes the
/// commitments. Without a backend, commitments use halo2's own CPU MSM over the SRS in place.
#[derive(Clone)]
pub struct ProverParams {
    srs: Srs,
    resident: Option<Resident>,
    /// The first backend failure, if any: the MSM that failed was redone on the CPU (halo2's
    /// commitment interface cannot return an error), and callers can report it.
    failure: Arc<Mutex<Option<String>>>,
}

impl fmt::Debug for ProverParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProverParams").field("k", &self.srs.k()).field("backend", &self.backend()).finish()
    }
}

impl From<Srs> for ProverParams {
    fn from(srs: Srs) -> Self {
        Self { srs, resident: None, failure: Arc::default() }
    }
}

impl ProverParams {
    /// Uploads the SRS's bases to `backend`; every later commitment runs there.
    pub fn on_backend(srs: Srs, backend: &dyn MsmBackend) -> Result<Self, Error> {
        let mut params = Self::from(srs);
        params.use_backend(backend)?;
        Ok(params)
    }

    /// Moves the commitments to `backend`, uploading the SRS's bases to it. On failure the
    /// parameters are left as they were.
    pub fn use_backend(&mut self, backend: &dyn MsmBackend) -> Result<(), Error> {
        let load = |bases: &[G1Affine]| backend.load_bases(bases).map_err(|e| Error::Backend(e.to_string()));
        let g = load(self.srs.get_g())?;
        let g_lagrange = load(&lagrange_bases(&self.srs)?)?;
        self.resident = Some(Resident { backend: backend.describe(), g: Arc::from(g), g_lagrange: Arc::from(g_lagrange) });
        Ok(())
    }

    /// The SRS (for verification and serialization).
    pub fn srs(&self) -> &Srs {
        &self.srs
    }

    /// What computes the commitments.
    pub fn backend(&self) -> String {
        match &self.resident {
            Some(r) => r.backend.clone(),
            None => "cpu (halo2)".into(),
        }
    }

    /// The first backend failure since these parameters were made (its MSM was redone on the
    /// CPU, so proofs stay correct).
    pub fn backend_failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// The commitment on the resident backend, or `None` (no backend, or it failed: the
    /// failure is recorded and the caller falls back to the CPU).
    fn resident_msm(&self, scalars: &[Fr], lagrange: bool) -> Option<G1> {
        let resident = self.resident.as_ref()?;
        let bases = if lagrange { &resident.g_lagrange } else { &resident.g };
        match bases.msm(scalars) {
            Ok(point) => Some(point),
            Err(e) => {
                if let Ok(mut failure) = self.failure.lock() {
                    failure.get_or_insert_with(|| format!("{}: {e}", resident.backend));
                }
                None
            }
        }
    }
}

/// The SRS's Lagrange bases. halo2 keeps them private; its raw serialization (k, the monomial
/// bases, the Lagrange bases, then G2 points) is the way to read them.
fn lagrange_bases(srs: &Srs) -> Result<Vec<G1Affine>, Error> {
    let mut bytes = Vec::new();
    srs.write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked).map_err(|e| Error::Srs(e.to_string()))?;
    let n = srs.n() as usize;
    let start = 4 + 64 * n;
    let raw = bytes.get(start..start + 64 * n).ok_or_else(|| Error::Srs("unexpected parameter layout".into()))?;
    Ok(raw.chunks_exact(64).map(G1Affine::from_raw_bytes_unchecked).collect())
}

impl<'params> Params<'params, G1Affine> for ProverParams {
    type MSM = MSMKZG<Bn256>;

    fn k(&self) -> u32 {
        self.srs.k()
    }

    fn n(&self) -> u64 {
        self.srs.n()
    }

    fn downsize(&mut self, k: u32) {
        // The Lagrange bases change with the size: the resident copies no longer apply.
        self.srs.downsize(k);
        self.resident = None;
    }

    fn empty_msm(&'params self) -> MSMKZG<Bn256> {
        MSMKZG::new()
    }

    fn commit_lagrange(&self, poly: &Polynomial<Fr, LagrangeCoeff>, r: Blind<Fr>) -> G1 {
        self.resident_msm(poly, true).unwrap_or_else(|| self.srs.commit_lagrange(poly, r))
    }

    fn write<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        Params::write(&self.srs, writer)
    }

    fn read<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        Ok(<Srs as Params<G1Affine>>::read(reader)?.into())
    }
}

impl<'params> ParamsProver<'params, G1Affine> for ProverParams {
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new(k: u32) -> Self {
        <Srs as ParamsProver<G1Affine>>::new(k).into()
    }

    fn commit(&self, poly: &Polynomial<Fr, Coeff>, r: Blind<Fr>) -> G1 {
        self.resident_msm(poly, false).unwrap_or_else(|| self.srs.commit(poly, r))
    }

    fn get_g(&self) -> &[G1Affine] {
        self.srs.get_g()
    }

    fn verifier_params(&'params self) -> &'params ParamsKZG<Bn256> {
        &self.srs
    }
}

/// KZG on BN254 with [`ProverParams`]: proofs are those of `KZGCommitmentScheme<Bn256>`.
#[derive(Debug)]
pub struct AcceleratedKzg;

impl CommitmentScheme for AcceleratedKzg {
    type Scalar = Fr;
    type Curve = G1Affine;
    type ParamsProver = ProverParams;
    type ParamsVerifier = ParamsKZG<Bn256>;

    fn new_params(k: u32) -> ProverParams {
        <ProverParams as ParamsProver<G1Affine>>::new(k)
    }

    fn read_params<R: io::Read>(reader: &mut R) -> io::Result<ProverParams> {
        <ProverParams as Params<G1Affine>>::read(reader)
    }
}

/// SHPLONK opening for [`AcceleratedKzg`]: halo2's prover on the parameters' SRS.
#[derive(Debug)]
pub struct AcceleratedShplonk<'params> {
    params: &'params ProverParams,
}

impl<'params> Prover<'params, AcceleratedKzg> for AcceleratedShplonk<'params> {
    const QUERY_INSTANCE: bool = <ProverSHPLONK<'params, Bn256> as Prover<'params, KZGCommitmentScheme<Bn256>>>::QUERY_INSTANCE;

    fn new(params: &'params ProverParams) -> Self {
        Self { params }
    }

    fn create_proof<'com, E: EncodedChallenge<G1Affine>, T: TranscriptWrite<G1Affine, E>, R, I>(
        &self,
        rng: R,
        transcript: &mut T,
        queries: I,
    ) -> io::Result<()>
    where
        I: IntoIterator<Item = ProverQuery<'com, G1Affine>> + Clone,
        R: RngCore,
    {
        ProverSHPLONK::<Bn256>::new(&self.params.srs).create_proof(rng, transcript, queries)
    }
}

#[cfg(test)]
mod tests {
    use halo2_proofs::halo2curves::ff::Field;
    use zkml_gpu_kernels::cpu::CpuBackend;
    #[cfg(feature = "gpu-tests")]
    use zkml_gpu_kernels::BackendRequest;

    use super::*;
    use crate::prover::{keygen_proving_key, keygen_verifying_key, prove, verify, verifying_key_bytes};
    use crate::quantized::{Activation, QuantizedNetwork};
    use crate::{InputVisibility, NetworkCircuit, OutputVisibility, ParamVisibility};

    /// Every backend this machine has. With the `gpu-tests` feature the GPU backends join,
    /// each skipped with a note when absent unless `ZKML_REQUIRE_CUDA` / `ZKML_REQUIRE_WGPU` is
    /// set (CI sets the latter: it installs lavapipe).
    fn backends() -> Vec<Box<dyn MsmBackend>> {
        #[allow(unused_mut)] // the GPUs join only with the `gpu-tests` feature
        let mut out: Vec<Box<dyn MsmBackend>> = vec![Box::new(CpuBackend)];
        #[cfg(feature = "gpu-tests")]
        for (request, require) in [(BackendRequest::Cuda, "ZKML_REQUIRE_CUDA"), (BackendRequest::Wgpu, "ZKML_REQUIRE_WGPU")] {
            match zkml_gpu_kernels::select(request) {
                Ok(selection) => out.push(selection.msm.expect("GPU backends have an MSM")),
                Err(e) if std::env::var_os(require).is_none() => eprintln!("skipping: {e}"),
                Err(e) => panic!("{require} is set but {e}"),
            }
        }
        out
    }

    /// Keys and proofs made with the MSMs on a backend: the verifying key is byte-identical to
    /// the one halo2's own MSM makes, the proof verifies with the stock verifier, and a changed
    /// instance is rejected.
    #[test]
    fn backend_commitments_match_halo2() {
        let weights = |i: usize, o: usize, activation| ((0..i * o).map(|v| v as i64 % 11 - 5).collect(), vec![3; o], activation);
        let net =
            QuantizedNetwork::dense_chain(&[6, 5, 3], &[weights(6, 5, Activation::Relu), weights(5, 3, Activation::Linear)], 4, 4, 12);
        let (circuit, k) =
            NetworkCircuit::compile(net, ParamVisibility::Fixed, InputVisibility::Public, OutputVisibility::Public, usize::MAX).unwrap();
        let srs = crate::srs::dev_srs(k).unwrap();
        let reference = keygen_verifying_key(&ProverParams::from(srs.clone()), &circuit).unwrap();
        for backend in backends() {
            let params = ProverParams::on_backend(srs.clone(), backend.as_ref()).unwrap();
            let vk = keygen_verifying_key(&params, &circuit).unwrap();
            assert_eq!(verifying_key_bytes(&vk), verifying_key_bytes(&reference), "{}", params.backend());
            let pk = keygen_proving_key(&params, vk, &circuit).unwrap();
            let (witness, _, instances) = circuit.with_input(&[3, -1, 4, -1, 5, -9]).unwrap();
            let proof = prove(&params, &pk, witness, &instances).unwrap();
            verify(params.srs(), pk.get_vk(), &proof, &instances).unwrap();
            let mut tampered = instances.clone();
            tampered[0] += Fr::ONE;
            assert!(verify(params.srs(), pk.get_vk(), &proof, &tampered).is_err(), "{}", params.backend());
            assert_eq!(params.backend_failure(), None);
        }
    }
}
