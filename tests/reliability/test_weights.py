"""Issue 14, failure 6 (weights): a tampered or corrupt weight file is refused on load with an error
naming the file; the torch path never unpickles code (weights_only) and never suggests weights_only=False."""

from __future__ import annotations

import json
import shutil

import pytest

from beamloop.controller.estimation.inference import IntegerEstimator
from beamloop.models.weight_files import WEIGHTS_DIR, WeightFileError, file_sha256


@pytest.fixture
def weights(tmp_path):
    d = tmp_path / "weights"
    d.mkdir()
    for f in ("alignment.json", "alignment.pt", "alignment.int.npz", "trigger.json", "trigger.pt"):
        shutil.copy(WEIGHTS_DIR / f, d / f)
    return d


def _flip(path, offset: int | None = None) -> None:
    b = bytearray(path.read_bytes())
    i = len(b) // 2 if offset is None else offset
    b[i] ^= 0x01
    path.write_bytes(bytes(b))


def test_committed_cards_carry_the_hashes_of_their_files():
    for name in ("alignment", "alignment_fine"):
        meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        assert meta["integer_sha256"] == file_sha256(WEIGHTS_DIR / f"{name}.int.npz")
        assert meta["state_sha256"] == file_sha256(WEIGHTS_DIR / f"{name}.pt")


def test_integer_net_verified_against_its_sha256(weights, counts):
    IntegerEstimator(weights)  # the untouched copy loads
    npz = weights / "alignment.int.npz"
    _flip(npz)
    with pytest.raises(WeightFileError, match="alignment.int.npz.*SHA-256"):
        IntegerEstimator(weights)
    counts["faults_injected"] += 1


def test_integer_net_without_a_hash_is_refused(weights, counts):
    card = weights / "alignment.json"
    meta = json.loads(card.read_text())
    del meta["integer_sha256"]
    card.write_text(json.dumps(meta))
    with pytest.raises(WeightFileError, match="alignment.json.*integer_sha256"):
        IntegerEstimator(weights)
    counts["faults_injected"] += 1


def test_bit_flipped_state_dict_is_refused_naming_the_file(weights, counts):
    from beamloop.models.registry import load

    load("alignment", weights_dir=weights)  # the untouched copy loads
    _flip(weights / "alignment.pt")
    with pytest.raises(WeightFileError, match="alignment.pt.*SHA-256"):
        load("alignment", weights_dir=weights)
    counts["faults_injected"] += 1


def test_corrupt_state_dict_without_a_hash_names_the_file_and_gives_no_unsafe_hint(weights, counts):
    from beamloop.models.registry import load

    card = weights / "trigger.json"
    meta = json.loads(card.read_text())
    meta.pop("state_sha256", None)
    card.write_text(json.dumps(meta))
    (weights / "trigger.pt").write_bytes(b"not a torch file at all" * 10)
    with pytest.raises(WeightFileError) as ei:
        load("trigger", weights_dir=weights)
    assert "trigger.pt" in str(ei.value) and "weights_only=False" not in str(ei.value)
    counts["faults_injected"] += 1


def test_pickled_code_is_not_executed(weights, tmp_path, counts):
    """weights_only=True: a .pt carrying a pickled callable is refused, the callable never runs."""
    import pickle

    import torch

    from beamloop.models.registry import load

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"x": Evil()}, weights / "trigger.pt", pickle_module=pickle)
    card = weights / "trigger.json"
    meta = json.loads(card.read_text())
    meta.pop("state_sha256", None)
    card.write_text(json.dumps(meta))
    with pytest.raises(WeightFileError, match="trigger.pt"):
        load("trigger", weights_dir=weights)
    assert not marker.exists()
    counts["faults_injected"] += 1
