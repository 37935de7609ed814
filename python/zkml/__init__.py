"""Zero-knowledge proofs of neural network inference.

Compile an ONNX model into a Halo2 circuit (KZG on BN254), prove that ``output = model(input)``
and verify the proof::

    import numpy as np, zkml

    samples = np.random.rand(8, 784).astype(np.float32)
    model = zkml.compile("mlp.onnx", samples, "build")     # calibrates, prints nothing
    print(model.k, model.fidelity)
    model.setup()                                          # INSECURE development SRS
    proof = zkml.prove("build", samples[0], path="proof.json")   # or model.prover().prove(...)
    zkml.verify("build", proof)                            # True, or raises VerificationError

Every error is a subclass of :class:`ZkmlError`. Long calls release the GIL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Union

import numpy as np

from . import _zkml
from ._zkml import (
    ArtifactError,
    DataError,
    InternalError,
    ModelError,
    ProvingError,
    BackendError,
    VerificationError,
    ZkmlError,
)

__all__ = [
    "Model",
    "Prover",
    "Proof",
    "compile",
    "load",
    "setup",
    "prove",
    "verify",
    "backends",
    "write_mlp_onnx",
    "ZkmlError",
    "ModelError",
    "DataError",
    "ArtifactError",
    "VerificationError",
    "ProvingError",
    "BackendError",
    "InternalError",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Default bound on the proof size used when choosing the circuit layout (bytes).
DEFAULT_MAX_PROOF_BYTES = 3072


def _as_vector(x, length: Optional[int], what: str) -> List[float]:
    """A 1-sample input as a flat float list; any shape with ``length`` elements is accepted."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} is not numeric: {e}") from None
    flat = array.reshape(-1)
    if length is not None and flat.size != length:
        raise DataError(f"{what} has shape {array.shape} ({flat.size} values) but the model expects {length} values")
    return flat.tolist()


def _as_samples(samples, what: str = "samples") -> List[List[float]]:
    """Samples as a list of flat float lists: a 1-D array is one sample, else the first axis indexes samples."""
    try:
        array = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} are not a numeric array: {e}") from None
    if array.ndim == 0 or array.size == 0:
        raise DataError(f"{what} must hold at least one value")
    if array.ndim == 1:
        array = array[None, :]
    return array.reshape(array.shape[0], -1).tolist()


@dataclass(frozen=True)
class Proof:
    """A proof of one inference."""

    #: The model outputs, dequantized (exactly what the public instances encode).
    outputs: np.ndarray
    #: halo2 proof bytes.
    proof: bytes
    #: Public instances as canonical little-endian hex field elements.
    instances: List[str]
    #: The proof file's JSON text (what :meth:`save` writes).
    json: str

    @staticmethod
    def from_json(text: str) -> "Proof":
        """Parses a proof file's JSON text."""
        try:
            data = json.loads(text)
            return Proof(
                outputs=np.asarray(data["outputs"], dtype=np.float32),
                proof=bytes.fromhex(data["proof"]),
                instances=list(data["instances"]),
                json=text,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ArtifactError(f"not a proof file: {e}") from None

    @staticmethod
    def load(path: PathLike) -> "Proof":
        """Reads a proof file written by :meth:`save` or ``zkml prove``."""
        try:
            with open(path, encoding="utf-8") as f:
                return Proof.from_json(f.read())
        except OSError as e:
            raise ArtifactError(f"{path}: {e.strerror}") from None

    def save(self, path: PathLike) -> None:
        """Writes the proof file (JSON, the same format as the CLI's)."""
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.json)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class Prover:
    """A compiled model with its proving key loaded: prove many inputs without reloading."""

    def __init__(self, model_dir: PathLike, backend: str = "auto"):
        """Loads the model and keys from ``model_dir`` (after :meth:`Model.setup`). The prover's
        MSMs run on ``backend``: ``"auto"`` (CUDA when present, else wgpu on a discrete GPU, else
        the CPU), ``"cpu"``, ``"cuda"`` or ``"wgpu"``; an unavailable explicit choice raises
        :class:`BackendError`."""
        self._settings = json.loads(_zkml.load_settings(os.fspath(model_dir)))
        self._native = _zkml.Prover(os.fspath(model_dir), backend)

    @property
    def backend(self) -> str:
        """Which backend computes the MSMs, and why it was chosen (``auto`` says why it picked
        what it picked)."""
        return self._native.backend

    @property
    def backend_failure(self) -> Optional[str]:
        """The first failure of the backend since this prover was made, or None. The MSM that
        failed was redone on the CPU, so the proofs are still correct."""
        return self._native.backend_failure

    def prove(self, x, path: Optional[PathLike] = None) -> Proof:
        """Proves ``output = model(x)`` for one input (any shape with the model's number of
        values; float32 or float64). Writes the proof file to ``path`` when given."""
        length = int(np.prod(self._settings["input_shape"]))
        proof = Proof.from_json(self._native.prove(_as_vector(x, length, "the input")))
        if path is not None:
            proof.save(path)
        return proof


class Model:
    """A compiled model directory: settings, quantized network and (after setup) keys."""

    def __init__(self, model_dir: PathLike):
        """Opens a directory written by :func:`compile` (or ``zkml compile``)."""
        self.dir = os.fspath(model_dir)
        self.settings = json.loads(_zkml.load_settings(self.dir))

    @property
    def k(self) -> int:
        """The circuit has ``2**k`` rows."""
        return int(self.settings["k"])

    @property
    def fidelity(self) -> dict:
        """Calibration report: ``samples``, ``max_abs_error``, ``mean_abs_error``, ``top1_agreement``."""
        return dict(self.settings["fidelity"])

    @property
    def input_shape(self) -> tuple:
        """The model input's shape (batch 1)."""
        return tuple(self.settings["input_shape"])

    def predict(self, x) -> np.ndarray:
        """Runs the quantized network without proving; returns float32 outputs."""
        length = int(np.prod(self.input_shape))
        return np.asarray(_zkml.predict(self.dir, _as_vector(x, length, "the input")), dtype=np.float32)

    def setup(
        self, srs: Optional[PathLike] = None, progress: Optional[Callable[[str], None]] = None, backend: str = "auto"
    ) -> None:
        """Generates the proving and verifying keys into the model directory.

        ``srs`` is a KZG params file in halo2's format (a ceremony output). Without it the
        **insecure** development SRS is used (its secret is public: anyone can forge proofs).
        ``progress(step)`` is called as each step starts. Key generation's MSMs run on
        ``backend`` (see :class:`Prover`).
        """
        _zkml.setup(self.dir, None if srs is None else os.fspath(srs), progress, backend)
        self.settings = json.loads(_zkml.load_settings(self.dir))

    def prover(self, backend: str = "auto") -> Prover:
        """Loads the proving key (after :meth:`setup`); MSMs run on ``backend``."""
        return Prover(self.dir, backend)

    def __repr__(self) -> str:
        return f"Model({self.dir!r}, k={self.k}, input_shape={self.input_shape})"


def compile(
    onnx_path: PathLike,
    samples,
    out_dir: PathLike,
    *,
    input_visibility: str = "private",
    output_visibility: str = "public",
    param_visibility: str = "fixed",
    max_proof_bytes: int = DEFAULT_MAX_PROOF_BYTES,
) -> Model:
    """Imports an ONNX model, calibrates it on ``samples`` and writes the compiled circuit.

    ``samples``: one input (1-D) or several (first axis), each flattened row-major; float32 or
    float64. ``input_visibility``: ``"private"``, ``"public"`` or ``"hashed"`` (only the input's
    Poseidon commitment is public: it is the proof's first instance). ``output_visibility``:
    ``"public"`` or ``"hashed"`` (the commitment is the last instance). ``param_visibility``:
    ``"fixed"`` (weights baked into the keys), ``"private"``, or ``"hashed"`` (private, bound by
    their commitment, the instance after the input's). ``max_proof_bytes`` bounds the
    proof size; the fastest layout within it is chosen. Returns the :class:`Model`; its
    :attr:`Model.fidelity` holds the calibration report.
    """
    _zkml.compile(
        os.fspath(onnx_path),
        _as_samples(samples),
        os.fspath(out_dir),
        input_visibility,
        output_visibility,
        param_visibility,
        int(max_proof_bytes),
    )
    return Model(out_dir)


def load(model_dir: PathLike) -> Model:
    """Opens a compiled model directory."""
    return Model(model_dir)


def setup(
    model_dir: PathLike,
    srs: Optional[PathLike] = None,
    progress: Optional[Callable[[str], None]] = None,
    backend: str = "auto",
) -> Model:
    """Generates keys for the compiled model in ``model_dir`` (see :meth:`Model.setup`: without
    ``srs`` the **insecure** development SRS is used). Returns the :class:`Model`."""
    model = Model(model_dir)
    model.setup(srs, progress, backend)
    return model


def prove(model_dir: PathLike, x, path: Optional[PathLike] = None) -> Proof:
    """Proves ``output = model(x)`` for the set-up model in ``model_dir`` and returns the
    :class:`Proof` (``proof.outputs`` holds the outputs); writes the proof file to ``path`` when
    given. This loads the proving key on every call: keep a :class:`Prover` to prove many inputs."""
    return Prover(model_dir).prove(x, path)


def verify(model_dir: PathLike, proof: Union[Proof, PathLike]) -> bool:
    """Verifies a proof (a :class:`Proof` or a proof file's path) against the model in
    ``model_dir``. Returns True, or raises :class:`VerificationError` with the reason."""
    text = proof.json if isinstance(proof, Proof) else Proof.load(proof).json
    _zkml.verify(os.fspath(model_dir), text)
    return True


def backends() -> List[dict]:
    """The compute backends of this build and machine: ``[{"name", "available", "note"}]``, the
    note saying what the backend runs on, or why it is unavailable."""
    return [{"name": n, "available": a, "note": note} for n, a, note in _zkml.backends()]


def write_mlp_onnx(dims: Sequence[int], path: PathLike, seed: int = 1) -> None:
    """Writes a seeded random MLP (``Gemm`` + ``Relu``) with layer widths ``dims`` as ONNX."""
    _zkml.write_mlp_onnx([int(d) for d in dims], int(seed), os.fspath(path))
