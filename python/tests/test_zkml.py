"""The Python package end to end: happy path, numpy handling, each error class, tampering."""

import json

import numpy as np
import pytest

import zkml


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A compiled 12-8-3 MLP with keys (development SRS), and its calibration samples."""
    root = tmp_path_factory.mktemp("zkml")
    onnx = root / "mlp.onnx"
    zkml.write_mlp_onnx([12, 8, 3], onnx, seed=3)
    samples = np.random.default_rng(0).random((6, 12), dtype=np.float64)
    model = zkml.compile(onnx, samples, root / "build")
    steps = []
    model.setup(progress=steps.append)
    assert steps[0] == "srs" and "proving key" in steps
    return root, model, samples


def test_compile_reports_fidelity(built):
    _, model, _ = built
    assert model.k >= 6
    assert model.input_shape == (1, 12)
    fidelity = model.fidelity
    assert fidelity["samples"] == 6
    assert fidelity["top1_agreement"] == 6
    assert 0 <= fidelity["max_abs_error"] < 1e-2


def test_prove_verify_round_trip(built):
    root, model, samples = built
    proof = model.prover().prove(samples[1], path=root / "proof.json")
    assert proof.outputs.dtype == np.float32 and proof.outputs.shape == (3,)
    np.testing.assert_array_equal(proof.outputs, model.predict(samples[1]))
    assert zkml.verify(model.dir, proof)
    assert zkml.verify(model.dir, root / "proof.json")
    assert zkml.Proof.load(root / "proof.json").outputs.tolist() == proof.outputs.tolist()
    # The module-level one-shot form gives the same outputs.
    np.testing.assert_array_equal(zkml.prove(model.dir, samples[1]).outputs, proof.outputs)


def test_dtypes_and_shapes(built):
    _, model, samples = built
    as32 = model.predict(samples[2].astype(np.float32))
    as64 = model.predict(samples[2])
    np.testing.assert_allclose(as32, as64, atol=1e-4)
    # Any shape with the right number of values is read row-major.
    np.testing.assert_array_equal(model.predict(samples[2].reshape(3, 4)), as64)
    with pytest.raises(zkml.DataError, match="expects 12 values"):
        model.predict(np.zeros((2, 12)))
    with pytest.raises(zkml.DataError, match="expects 12 values"):
        model.prover().prove(np.zeros(11))
    with pytest.raises(zkml.DataError, match="not a finite number"):
        model.predict(np.full(12, np.nan))
    with pytest.raises(zkml.DataError, match="not numeric"):
        model.predict(["a"] * 12)


def test_tampered_proof_is_rejected(built):
    _, model, samples = built
    proof = model.prover().prove(samples[0])
    data = json.loads(proof.json)
    digits = list(data["proof"])
    digits[64] = "1" if digits[64] == "0" else "0"
    data["proof"] = "".join(digits)
    with pytest.raises(zkml.VerificationError, match="proof rejected"):
        zkml.verify(model.dir, zkml.Proof.from_json(json.dumps(data)))
    data = json.loads(proof.json)
    data["outputs"][0] += 1.0
    with pytest.raises(zkml.VerificationError, match="stated outputs"):
        zkml.verify(model.dir, zkml.Proof.from_json(json.dumps(data)))


def test_error_classes(built, tmp_path):
    root, model, samples = built
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(zkml.ModelError, match="malformed ONNX"):
        zkml.compile(bad, samples, tmp_path / "out")
    with pytest.raises(zkml.DataError):
        zkml.compile(root / "mlp.onnx", np.zeros((2, 5)), tmp_path / "out")
    with pytest.raises(zkml.DataError, match="input_visibility"):
        zkml.compile(root / "mlp.onnx", samples, tmp_path / "out", input_visibility="secret")
    with pytest.raises(zkml.ArtifactError, match="settings.json"):
        zkml.load(tmp_path / "missing")
    with pytest.raises(zkml.ArtifactError):
        zkml.Proof.from_json("{}")
    for cls in (zkml.ModelError, zkml.DataError, zkml.ArtifactError, zkml.VerificationError,
                zkml.ProvingError, zkml.InternalError):
        assert issubclass(cls, zkml.ZkmlError)


def test_a_rust_panic_becomes_an_exception():
    with pytest.raises(zkml.InternalError, match="deliberate panic"):
        zkml._zkml._panic_for_tests()


def test_public_input_and_backends(tmp_path):
    onnx = tmp_path / "mlp.onnx"
    zkml.write_mlp_onnx([6, 4, 2], onnx, seed=9)
    x = np.linspace(0, 1, 6, dtype=np.float32)
    model = zkml.compile(onnx, x, tmp_path / "build", input_visibility="public")
    assert zkml.setup(model.dir).k == model.k
    proof = model.prover().prove(x)
    assert len(proof.instances) == 6 + 2
    assert zkml.verify(model.dir, proof)
    backends = {b["name"]: b for b in zkml.backends()}
    assert backends["cpu"]["available"] and set(backends) == {"cpu", "cuda", "wgpu"}
    # An explicit backend proves where it is available and is a clear error where it is not.
    for name, info in backends.items():
        if info["available"]:
            prover = model.prover(backend=name)
            assert prover.backend.startswith(name) and prover.backend.endswith("requested"), prover.backend
            assert zkml.verify(model.dir, prover.prove(x))
            assert prover.backend_failure is None
        else:
            with pytest.raises(zkml.BackendError, match=name):
                model.prover(backend=name)
    with pytest.raises(ValueError, match="unknown backend"):
        model.prover(backend="tpu")
    # auto names what it chose; without ZKML_BACKEND it says why.
    auto = model.prover().backend
    assert any(auto.startswith(name) and backends[name]["available"] for name in backends), auto


def test_hashed_input_and_output(tmp_path):
    onnx = tmp_path / "mlp.onnx"
    zkml.write_mlp_onnx([6, 4, 2], onnx, seed=9)
    x = np.linspace(0, 1, 6, dtype=np.float32)
    model = zkml.compile(onnx, x, tmp_path / "build", input_visibility="hashed", output_visibility="hashed")
    zkml.setup(model.dir)
    proof = model.prover().prove(x)
    # Only the two commitments are public.
    assert len(proof.instances) == 2
    assert zkml.verify(model.dir, proof)
    with pytest.raises(zkml.DataError, match="output_visibility"):
        zkml.compile(onnx, x, tmp_path / "other", output_visibility="secret")


def test_docstrings():
    for f in (zkml.compile, zkml.setup, zkml.prove, zkml.verify, zkml.Model.setup, zkml.Prover.prove, zkml.load, zkml.backends):
        assert f.__doc__ and len(f.__doc__) > 30
