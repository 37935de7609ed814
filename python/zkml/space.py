"""Proof of Space: plot a storage unit bound to a node's identity, then prove each epoch that it
is still stored.

::

    import os, zkml.space as space

    plot = space.plot("unit", node_key=b"my-node-key", registration_beacon=os.urandom(32),
                      log_nodes=20)
    init = plot.prove_init(later_beacon)          # once, with a beacon published after registering
    space.verify_init(plot.registration, later_beacon, init)
    plot.discard_layers()                          # only the last layer stays on disk
    proof = plot.prove_storage(epoch_beacon)       # every epoch
    space.verify_storage(plot.registration, epoch_beacon, proof)   # True, or VerificationError

Beacons are 32 bytes of public randomness; registrations and proofs are ``bytes`` in the
versioned binary formats described in docs/proof-of-space.md. The construction and its
parameters are described there too.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Optional, Union

from . import _zkml

__all__ = ["Plot", "plot", "open_plot", "info", "verify_init", "verify_storage", "setup", "verify_compressed"]

PathLike = Union[str, "os.PathLike[str]"]


class Plot:
    """A plotted unit on disk. Make one with :func:`plot`, reopen it with :func:`open_plot`."""

    def __init__(self, native: "_zkml.SpacePlot"):
        self._native = native

    @property
    def registration(self) -> bytes:
        """The unit's public registration: parameters, owner, ``comm_r`` and ``comm_c``."""
        return self._native.registration()

    def prove_init(self, beacon: bytes) -> bytes:
        """The one-time initialization proof for ``beacon`` (needs all layers on disk)."""
        return self._native.prove_init(beacon)

    def discard_layers(self) -> None:
        """Deletes every layer but the last (after the initialization proof is made)."""
        self._native.discard_layers()

    def prove_storage(self, beacon: bytes) -> bytes:
        """The storage proof answering the epoch beacon ``beacon``."""
        return self._native.prove_storage(beacon)

    def compress(self, keys_dir: PathLike, storage_proof: bytes) -> bytes:
        """Compresses a storage proof into one halo2 proof with keys made by :func:`setup`."""
        return self._native.compress(os.fspath(keys_dir), storage_proof)

    def info(self) -> dict:
        """The registration as a dict (see :func:`info`)."""
        return info(self.registration)


def plot(
    dir: PathLike,
    node_key: bytes,
    registration_beacon: bytes,
    *,
    unit_index: int = 0,
    network_id: bytes = bytes(32),
    log_nodes: int = 20,
    preset: str = "recommended",
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> Plot:
    """Plots a unit of ``2**log_nodes`` 32-byte labels into ``dir``.

    Resumes an interrupted plot of the same unit; refuses a directory holding another unit's
    plot. ``preset`` is ``"recommended"`` (8 layers, 128 epoch challenges) or ``"testing"``
    (small and fast, not secure). ``progress(stage, done, total)`` is called as plotting
    advances.
    """
    native = _zkml.SpacePlot.create(
        os.fspath(dir), bytes(node_key), bytes(registration_beacon), unit_index, bytes(network_id), log_nodes,
        preset, progress,
    )
    return Plot(native)


def open_plot(dir: PathLike) -> Plot:
    """Opens a finished plot."""
    return Plot(_zkml.SpacePlot.open(os.fspath(dir)))


def info(registration: bytes) -> dict:
    """A registration's parameters, owner, ``comm_r``, ``comm_c`` and replica id (hex)."""
    return json.loads(_zkml.space_registration_info(bytes(registration)))


def verify_init(registration: bytes, beacon: bytes, proof: bytes) -> bool:
    """Checks an initialization proof: True, or raises :class:`zkml.VerificationError`."""
    _zkml.space_verify_init(bytes(registration), bytes(beacon), bytes(proof))
    return True


def verify_storage(registration: bytes, beacon: bytes, proof: bytes) -> bool:
    """Checks an epoch's storage proof natively: True, or raises :class:`zkml.VerificationError`."""
    _zkml.space_verify_storage(bytes(registration), bytes(beacon), bytes(proof))
    return True


def setup(keys_dir: PathLike, *, log_nodes: int = 20, preset: str = "recommended", srs: Optional[PathLike] = None) -> None:
    """Generates the compressed-proof keys for a parameter set (INSECURE development SRS unless
    ``srs`` names a ceremony file)."""
    _zkml.space_setup(os.fspath(keys_dir), log_nodes, preset, None if srs is None else os.fspath(srs))


def verify_compressed(keys_dir: PathLike, registration: bytes, beacon: bytes, proof: bytes) -> bool:
    """Checks a compressed storage proof with halo2's verifier: True, or raises
    :class:`zkml.VerificationError`."""
    _zkml.space_verify_compressed(os.fspath(keys_dir), bytes(registration), bytes(beacon), bytes(proof))
    return True
