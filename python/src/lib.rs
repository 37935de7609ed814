//! `zkml._zkml`: the native half of the Python package. The Python half (`zkml/__init__.py`)
//! turns numpy arrays into lists and JSON strings into dicts; this module does the work with the
//! GIL released and turns every Rust error, and any panic, into a Python exception.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use zkml_core::kernels::{BackendRequest, Selection};
use zkml_core::srs::SrsSource;
use zkml_core::{
    CompileOptions, CompiledModel, Error, InputVisibility, Keys, OutputVisibility, ParamVisibility, Proof, VerifierKeys,
};

mod space;

create_exception!(zkml, ZkmlError, PyException, "Base class of every error raised by zkml.");
create_exception!(zkml, ModelError, ZkmlError, "The ONNX model is malformed or uses something unsupported.");
create_exception!(zkml, DataError, ZkmlError, "Input data has the wrong shape, is not finite, or is out of range.");
create_exception!(zkml, ArtifactError, ZkmlError, "A settings, key, SRS or proof file is missing or malformed.");
create_exception!(zkml, VerificationError, ZkmlError, "The proof was rejected.");
create_exception!(zkml, ProvingError, ZkmlError, "Key generation or proving failed.");
create_exception!(zkml, BackendError, ZkmlError, "The requested compute backend (CUDA, wgpu) is unavailable.");
create_exception!(zkml, InternalError, ZkmlError, "A bug in zkml (a Rust panic); please report it.");

fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::MalformedModel(_) | Error::UnsupportedOp { .. } | Error::UnsupportedModel(_) => ModelError::new_err(message),
        Error::Data(_) | Error::InvalidParameters(_) => DataError::new_err(message),
        Error::Artifact { .. } | Error::Io { .. } | Error::Decode { .. } | Error::Plot { .. } => {
            ArtifactError::new_err(message)
        }
        Error::Rejected(_) => VerificationError::new_err(message),
        Error::Backend(_) => BackendError::new_err(message),
        Error::Circuit(c) => match c {
            zkml_core::CircuitError::Verification(_) => VerificationError::new_err(message),
            zkml_core::CircuitError::InputLength { .. } | zkml_core::CircuitError::OutOfRange { .. } => {
                DataError::new_err(message)
            }
            zkml_core::CircuitError::Decode(_) | zkml_core::CircuitError::Srs(_) => ArtifactError::new_err(message),
            _ => ProvingError::new_err(message),
        },
    }
}

/// Runs `f` without the GIL; errors become exceptions and panics become `InternalError`.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> zkml_core::Result<T> + Send) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(result) => result.map_err(to_py),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(InternalError::new_err(format!("internal error: {what}")))
        }
    }
}

fn parse_visibility(input: &str, output: &str, params: &str) -> PyResult<(InputVisibility, OutputVisibility, ParamVisibility)> {
    let input = match input {
        "private" => InputVisibility::Private,
        "public" => InputVisibility::Public,
        "hashed" => InputVisibility::Hashed,
        other => {
            return Err(DataError::new_err(format!("input_visibility must be 'private', 'public' or 'hashed', not {other:?}")))
        }
    };
    let output = match output {
        "public" => OutputVisibility::Public,
        "hashed" => OutputVisibility::Hashed,
        other => return Err(DataError::new_err(format!("output_visibility must be 'public' or 'hashed', not {other:?}"))),
    };
    let params = match params {
        "fixed" => ParamVisibility::Fixed,
        "private" => ParamVisibility::Private,
        "hashed" => ParamVisibility::Hashed,
        other => {
            return Err(DataError::new_err(format!("param_visibility must be 'fixed', 'private' or 'hashed', not {other:?}")))
        }
    };
    Ok((input, output, params))
}

fn settings_json(model: &CompiledModel) -> String {
    serde_json::to_string(&model.settings).expect("settings serialize")
}

/// Compiles an ONNX model calibrated on `samples` into `out_dir`; returns settings.json's text.
#[pyfunction]
#[pyo3(signature = (onnx_path, samples, out_dir, input_visibility, output_visibility, param_visibility, max_proof_bytes))]
#[allow(clippy::too_many_arguments)]
fn compile(
    py: Python<'_>,
    onnx_path: PathBuf,
    samples: Vec<Vec<f32>>,
    out_dir: PathBuf,
    input_visibility: &str,
    output_visibility: &str,
    param_visibility: &str,
    max_proof_bytes: usize,
) -> PyResult<String> {
    let (input_visibility, output_visibility, param_visibility) =
        parse_visibility(input_visibility, output_visibility, param_visibility)?;
    run(py, move || {
        let onnx = std::fs::read(&onnx_path).map_err(|error| Error::Io { path: onnx_path.clone(), error })?;
        let options = CompileOptions { input_visibility, output_visibility, param_visibility, max_proof_bytes };
        let model = zkml_core::compile(&onnx, &samples, &options)?;
        model.save(&out_dir)?;
        Ok(settings_json(&model))
    })
}

/// Reads settings.json of a compiled model directory (checked against its network).
#[pyfunction]
fn load_settings(py: Python<'_>, model_dir: PathBuf) -> PyResult<String> {
    run(py, move || Ok(settings_json(&CompiledModel::load(&model_dir)?)))
}

/// Runs the quantized network (no proof) and returns the dequantized outputs.
#[pyfunction]
fn predict(py: Python<'_>, model_dir: PathBuf, input: Vec<f32>) -> PyResult<Vec<f32>> {
    run(py, move || CompiledModel::load(&model_dir)?.predict(&input))
}

/// Generates keys into `model_dir` from `srs_path`, or from the insecure development SRS when
/// `srs_path` is None. `progress(step)` is called as each step starts.
#[pyfunction]
#[pyo3(signature = (model_dir, srs_path=None, progress=None, backend="auto"))]
fn setup(py: Python<'_>, model_dir: PathBuf, srs_path: Option<PathBuf>, progress: Option<Py<PyAny>>, backend: &str) -> PyResult<()> {
    let backend = select_backend(backend)?;
    let report = move |step: &str| {
        if let Some(callback) = &progress {
            Python::attach(|py| {
                if let Err(e) = callback.call1(py, (step,)) {
                    e.write_unraisable(py, None);
                }
            });
        }
    };
    run(py, move || {
        let source = srs_path.map_or(SrsSource::InsecureDev, SrsSource::File);
        zkml_core::setup_dir(&model_dir, &source, backend.msm.as_deref(), &report).map(|_| ())
    })
}

/// Opens the backend named by `auto`, `cpu`, `cuda` or `wgpu` (where the prover's MSMs run).
fn select_backend(name: &str) -> PyResult<Selection> {
    let request: BackendRequest = name.parse().map_err(|e: zkml_core::kernels::Error| PyValueError::new_err(e.to_string()))?;
    zkml_core::kernels::select(request).map_err(|e| to_py(zkml_core::Error::Backend(e.to_string())))
}

/// A compiled model with its proving key loaded, ready to prove many inputs.
#[pyclass(module = "zkml._zkml")]
struct Prover {
    model: CompiledModel,
    keys: Keys,
    /// Which backend computes the MSMs, and why it was chosen.
    backend: String,
}

#[pymethods]
impl Prover {
    /// Loads the compiled model and its keys from `model_dir`; the prover's MSMs run on
    /// `backend` (`auto`, `cpu`, `cuda` or `wgpu`).
    #[new]
    #[pyo3(signature = (model_dir, backend="auto"))]
    fn new(py: Python<'_>, model_dir: PathBuf, backend: &str) -> PyResult<Self> {
        let backend = select_backend(backend)?;
        let reason = backend.reason.clone();
        let (model, keys) = run(py, move || {
            let model = CompiledModel::load(&model_dir)?;
            let mut keys = Keys::load(&model_dir, &model.settings)?;
            if let Some(msm) = &backend.msm {
                keys.use_backend(msm.as_ref())?;
            }
            Ok((model, keys))
        })?;
        Ok(Self { model, keys, backend: reason })
    }

    /// Which backend computes the MSMs, and why it was chosen.
    #[getter]
    fn backend(&self) -> String {
        self.backend.clone()
    }

    /// The first failure of that backend since loading, if any: its MSM was redone on the CPU,
    /// so the proofs are still correct.
    #[getter]
    fn backend_failure(&self) -> Option<String> {
        self.keys.params.backend_failure()
    }

    /// Proves one inference; returns the proof file's JSON text.
    fn prove(&self, py: Python<'_>, input: Vec<f32>) -> PyResult<String> {
        let (model, keys) = (&self.model, &self.keys);
        run(py, move || {
            let proof = zkml_core::prove(model, keys, &input)?;
            Ok(serde_json::to_string(&proof.to_file()).expect("proofs serialize"))
        })
    }
}

/// Verifies a proof (JSON text) against the compiled model in `model_dir`.
#[pyfunction]
fn verify(py: Python<'_>, model_dir: PathBuf, proof_json: String) -> PyResult<()> {
    run(py, move || {
        let model = CompiledModel::load(&model_dir)?;
        let file = serde_json::from_str(&proof_json).map_err(|e| Error::Data(format!("not a proof file: {e}")))?;
        let proof = Proof::from_file(&file).map_err(Error::Data)?;
        let keys = VerifierKeys::load(&model_dir, &model.settings)?;
        zkml_core::verify(&model.settings, &keys, &proof)
    })
}

/// Writes a seeded random MLP with layer widths `dims` as an ONNX file.
#[pyfunction]
fn write_mlp_onnx(py: Python<'_>, dims: Vec<usize>, seed: u64, path: PathBuf) -> PyResult<()> {
    if dims.len() < 2 || dims.contains(&0) {
        return Err(DataError::new_err("dims needs at least two positive widths"));
    }
    run(py, move || zkml_core::artifacts::write_atomic(&path, &zkml_core::fixtures::mlp_onnx(&dims, seed)))
}

/// The compute backends of this build and machine, as (name, available, what or why not).
#[pyfunction]
fn backends(py: Python<'_>) -> Vec<(String, bool, String)> {
    py.detach(zkml_core::kernels::survey).backends.into_iter().map(|b| (b.name.to_string(), b.available, b.note)).collect()
}

/// Panics inside the native boundary, so tests can check that a panic surfaces as
/// `InternalError` instead of aborting the interpreter.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    run(py, || -> zkml_core::Result<()> { panic!("deliberate panic") })
}

/// The native module.
#[pymodule]
fn _zkml(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in [
        ("ZkmlError", py.get_type::<ZkmlError>()),
        ("ModelError", py.get_type::<ModelError>()),
        ("DataError", py.get_type::<DataError>()),
        ("ArtifactError", py.get_type::<ArtifactError>()),
        ("VerificationError", py.get_type::<VerificationError>()),
        ("ProvingError", py.get_type::<ProvingError>()),
        ("BackendError", py.get_type::<BackendError>()),
        ("InternalError", py.get_type::<InternalError>()),
    ] {
        m.add(name, class)?;
    }
    m.add_class::<Prover>()?;
    m.add_class::<space::SpacePlot>()?;
    m.add_function(wrap_pyfunction!(space::space_registration_info, m)?)?;
    m.add_function(wrap_pyfunction!(space::space_verify_init, m)?)?;
    m.add_function(wrap_pyfunction!(space::space_verify_storage, m)?)?;
    m.add_function(wrap_pyfunction!(space::space_setup, m)?)?;
    m.add_function(wrap_pyfunction!(space::space_verify_compressed, m)?)?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_function(wrap_pyfunction!(load_settings, m)?)?;
    m.add_function(wrap_pyfunction!(predict, m)?)?;
    m.add_function(wrap_pyfunction!(setup, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(write_mlp_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
