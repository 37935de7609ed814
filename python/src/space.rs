//! Proof-of-Space bindings: plots, initialization and storage proofs, compressed proofs.
//! Artifacts cross the boundary as `bytes` in the binary formats of `zkml_core::space`.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zkml_core::space::snark::{self, storage_shape, StorageKeys};
use zkml_core::space::{
    compress, verify_compressed, verify_init, verify_storage, Beacon, CompressedProof, InitProof, NodeIdentity, Plot,
    PlotStage, Registration, SpaceParams, StorageProof,
};
use zkml_core::srs::SrsSource;

use crate::{run, DataError};

fn bytes32(what: &str, b: &[u8]) -> PyResult<[u8; 32]> {
    b.try_into().map_err(|_| DataError::new_err(format!("{what} must be 32 bytes, not {}", b.len())))
}

fn params(log_nodes: u32, preset: &str) -> PyResult<SpaceParams> {
    match preset {
        "recommended" => Ok(SpaceParams::recommended(log_nodes)),
        "testing" => Ok(SpaceParams::testing(log_nodes)),
        other => Err(DataError::new_err(format!("preset must be 'recommended' or 'testing', not {other:?}"))),
    }
}

/// A plotted storage unit on disk.
#[pyclass(module = "zkml._zkml")]
pub struct SpacePlot {
    plot: Plot,
}

#[pymethods]
impl SpacePlot {
    /// Plots a unit into `dir` (resuming an interrupted plot of the same unit).
    /// `progress(stage, done, total)` is called as plotting advances.
    #[staticmethod]
    #[pyo3(signature = (dir, node_key, registration_beacon, unit_index, network_id, log_nodes, preset, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        dir: PathBuf,
        node_key: Vec<u8>,
        registration_beacon: Vec<u8>,
        unit_index: u64,
        network_id: Vec<u8>,
        log_nodes: u32,
        preset: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let params = params(log_nodes, preset)?;
        let identity = NodeIdentity {
            network_id: bytes32("network_id", &network_id)?,
            node_key,
            unit_index,
            registration_beacon: Beacon(bytes32("registration_beacon", &registration_beacon)?),
        };
        let report = move |stage: PlotStage, done: u64, total: u64| {
            if let Some(callback) = &progress {
                let stage = match stage {
                    PlotStage::Labels { layer, layers } => format!("labels {}/{}", layer + 1, layers),
                    PlotStage::ColumnTree => "column tree".into(),
                    PlotStage::ReplicaTree => "replica tree".into(),
                };
                Python::attach(|py| {
                    if let Err(e) = callback.call1(py, (stage, done, total)) {
                        e.write_unraisable(py, None);
                    }
                });
            }
        };
        let plot = run(py, move || Plot::create(&dir, &params, &identity, report))?;
        Ok(Self { plot })
    }

    /// Opens a finished plot.
    #[staticmethod]
    fn open(py: Python<'_>, dir: PathBuf) -> PyResult<Self> {
        Ok(Self { plot: run(py, move || Plot::open(&dir))? })
    }

    /// The unit's registration (bytes).
    fn registration<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.plot.registration().to_bytes())
    }

    /// The initialization proof for `beacon` (bytes); needs the layers.
    fn prove_init<'py>(&self, py: Python<'py>, beacon: Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
        let beacon = Beacon(bytes32("beacon", &beacon)?);
        let plot = &self.plot;
        let bytes = run(py, move || Ok(plot.prove_init(&beacon)?.to_bytes(&plot.registration().params)))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Deletes every layer but the last.
    fn discard_layers(&self, py: Python<'_>) -> PyResult<()> {
        let plot = &self.plot;
        run(py, move || plot.discard_layers())
    }

    /// The storage proof for the epoch beacon `beacon` (bytes).
    fn prove_storage<'py>(&self, py: Python<'py>, beacon: Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
        let beacon = Beacon(bytes32("beacon", &beacon)?);
        let plot = &self.plot;
        let bytes = run(py, move || Ok(plot.prove_storage(&beacon)?.to_bytes(&plot.registration().params)))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Compresses a storage proof with the keys in `keys_dir` (bytes).
    fn compress<'py>(&self, py: Python<'py>, keys_dir: PathBuf, storage_proof: Vec<u8>) -> PyResult<Bound<'py, PyBytes>> {
        let registration = self.plot.registration();
        let bytes = run(py, move || {
            let params = &registration.params;
            let proof = StorageProof::from_bytes(&storage_proof, params)?;
            let keys = StorageKeys::load(&keys_dir, params)?;
            Ok(compress(registration, &keys, &proof)?.to_bytes(params))
        })?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// Describes a registration as JSON text (parameters, commitments, replica id).
#[pyfunction]
pub fn space_registration_info(py: Python<'_>, registration_bytes: Vec<u8>) -> PyResult<String> {
    run(py, move || {
        let r = Registration::from_bytes(&registration_bytes)?;
        let p = &r.params;
        let hex = |f| zkml_core::artifacts::field_to_hex(&f);
        Ok(serde_json::json!({
            "log_nodes": p.log_nodes,
            "layers": p.layers,
            "init_challenges": p.init_challenges,
            "epoch_challenges": p.epoch_challenges,
            "unit_bytes": p.unit_bytes(),
            "node_key": hex::encode(&r.identity.node_key),
            "unit_index": r.identity.unit_index,
            "replica_id": hex(r.replica_id().0),
            "comm_r": hex(r.comm_r),
            "comm_c": hex(r.comm_c),
        })
        .to_string())
    })
}

/// Checks an initialization proof; raises `VerificationError` with the reason.
#[pyfunction]
pub fn space_verify_init(py: Python<'_>, registration_bytes: Vec<u8>, beacon: Vec<u8>, proof: Vec<u8>) -> PyResult<()> {
    let beacon = Beacon(bytes32("beacon", &beacon)?);
    run(py, move || {
        let r = Registration::from_bytes(&registration_bytes)?;
        verify_init(&r, &beacon, &InitProof::from_bytes(&proof, &r.params)?)
    })
}

/// Checks a storage proof natively; raises `VerificationError` with the reason.
#[pyfunction]
pub fn space_verify_storage(py: Python<'_>, registration_bytes: Vec<u8>, beacon: Vec<u8>, proof: Vec<u8>) -> PyResult<()> {
    let beacon = Beacon(bytes32("beacon", &beacon)?);
    run(py, move || {
        let r = Registration::from_bytes(&registration_bytes)?;
        verify_storage(&r, &beacon, &StorageProof::from_bytes(&proof, &r.params)?)
    })
}

/// Generates the compressed-proof keys of a parameter set into `keys_dir`, from `srs_path` or
/// the insecure development SRS.
#[pyfunction]
#[pyo3(signature = (keys_dir, log_nodes, preset, srs_path=None))]
pub fn space_setup(py: Python<'_>, keys_dir: PathBuf, log_nodes: u32, preset: &str, srs_path: Option<PathBuf>) -> PyResult<()> {
    let params = params(log_nodes, preset)?;
    run(py, move || {
        let source = srs_path.map_or(SrsSource::InsecureDev, SrsSource::File);
        let (srs, _) = zkml_core::srs::obtain_srs(&source, storage_shape(&params).k())?;
        StorageKeys::generate(&params, srs)?.save(&keys_dir, &params)
    })
}

/// Checks a compressed storage proof with the keys in `keys_dir`.
#[pyfunction]
pub fn space_verify_compressed(
    py: Python<'_>,
    keys_dir: PathBuf,
    registration_bytes: Vec<u8>,
    beacon: Vec<u8>,
    proof: Vec<u8>,
) -> PyResult<()> {
    let beacon = Beacon(bytes32("beacon", &beacon)?);
    run(py, move || {
        let r = Registration::from_bytes(&registration_bytes)?;
        let (srs, vk) = snark::load_verifier(&keys_dir, &r.params)?;
        verify_compressed(&r, &srs, &vk, &beacon, &CompressedProof::from_bytes(&proof, &r.params)?)
    })
}
