"""Proof of Space from Python: plot, initialization proof, storage proofs native and
compressed, and the errors bad input gets."""

import pytest

import zkml
import zkml.space as space

B1, B2, B3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    stages = []
    plot = space.plot(
        tmp_path_factory.mktemp("space") / "unit",
        b"node-a",
        B1,
        log_nodes=8,
        preset="testing",
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert "labels 1/3" in stages and "replica tree" in stages
    return plot


def test_plot_init_and_storage_proofs(unit):
    info = unit.info()
    assert info["log_nodes"] == 8 and info["unit_bytes"] == 256 * 32
    assert len(bytes.fromhex(info["comm_r"])) == 32
    init = unit.prove_init(B2)
    assert space.verify_init(unit.registration, B2, init)
    with pytest.raises(zkml.VerificationError, match="another beacon"):
        space.verify_init(unit.registration, B3, init)

    proof = unit.prove_storage(B3)
    assert space.verify_storage(unit.registration, B3, proof)
    with pytest.raises(zkml.VerificationError, match="another epoch"):
        space.verify_storage(unit.registration, B2, proof)
    tampered = bytearray(proof)
    tampered[-1] ^= 1
    with pytest.raises(zkml.ZkmlError):
        space.verify_storage(unit.registration, B3, bytes(tampered))
    with pytest.raises(zkml.ArtifactError, match="truncated"):
        space.verify_storage(unit.registration, B3, proof[:-1])


def test_compressed_proof(unit, tmp_path):
    space.setup(tmp_path / "keys", log_nodes=8, preset="testing")
    proof = unit.compress(tmp_path / "keys", unit.prove_storage(B3))
    assert len(proof) < 2000
    assert space.verify_compressed(tmp_path / "keys", unit.registration, B3, proof)
    with pytest.raises(zkml.VerificationError):
        space.verify_compressed(tmp_path / "keys", unit.registration, B2, proof)


def test_bad_input_is_a_clear_error(unit, tmp_path):
    with pytest.raises(zkml.DataError, match="32 bytes"):
        unit.prove_storage(b"short")
    with pytest.raises(zkml.DataError, match="preset"):
        space.plot(tmp_path / "p", b"k", B1, log_nodes=8, preset="fast")
    space.plot(tmp_path / "q", b"k", B1, log_nodes=6, preset="testing")
    with pytest.raises(zkml.ArtifactError, match="another replica"):
        space.plot(tmp_path / "q", b"other", B1, log_nodes=6, preset="testing")
    with pytest.raises(zkml.ArtifactError, match="no plot"):
        space.open_plot(tmp_path / "nothing")
