"""The README's demo from Python: compile the built-in MLP, set it up with the insecure
development SRS, prove one inference and verify it, printing k, timings and proof size.

    pip install ./python && python examples/python/demo.py
"""

import os
import tempfile
import time

import numpy as np

import zkml

MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "mlp_64_32_16_10.onnx")


def timed(label, f):
    start = time.perf_counter()
    result = f()
    print(f"{label}: {time.perf_counter() - start:.3f} s")
    return result


def main():
    work = tempfile.mkdtemp(prefix="zkml-demo-")
    samples = np.random.default_rng(7).random((16, 64), dtype=np.float32)
    model = timed("compile + calibrate", lambda: zkml.compile(MODEL, samples, os.path.join(work, "build")))
    f = model.fidelity
    print(f"k = {model.k}; max |err| {f['max_abs_error']:.3e}, top-1 agreement {f['top1_agreement']}/{f['samples']}")
    print("warning: the development SRS is INSECURE (its secret is public)")
    timed("setup", lambda: model.setup(progress=lambda step: print(f"  setup: {step}")))
    prover = model.prover()
    proof = timed("prove", lambda: prover.prove(samples[0], path=os.path.join(work, "proof.json")))
    timed("verify", lambda: zkml.verify(model.dir, proof))
    print(f"outputs: {np.round(proof.outputs, 4)}")
    print(f"proof: {len(proof.proof)} bytes; verified; artifacts in {work}")


if __name__ == "__main__":
    main()
