"""Instrument profiles: shipped ones load, bad ones fail before anything moves, naming the field."""

from __future__ import annotations

import pytest
import yaml

from beamloop.controller.instruments.open import open_instrument
from beamloop.controller.instruments.profile import ProfileError, load_profile, parse_profile, shipped_profiles


def _base() -> dict:
    return yaml.safe_load(open(load_profile.__globals__["PROFILE_DIR"] / "usim.yaml"))


def test_shipped_profiles_load():
    names = shipped_profiles()
    assert {"twin", "usim", "nion", "pyjem", "pyjem-standin", "board-usim"} <= set(names)
    for n in names:
        p = load_profile(n)
        assert p.name == n and p.knobs and p.camera.rad_per_px > 0


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["knobs"][1].update(minimum=1e-6, maximum=-1e-6), "knobs[1]"),
    (lambda d: d["knobs"][0].update(maximum=2000.0), "knobs[0]"),                 # nm instead of m
    (lambda d: d["camera"].update(rad_per_px=0.79), "camera.rad_per_px"),          # mrad instead of rad
    (lambda d: d["camera"].update(rotation_rad=90.0), "camera.rotation_rad"),      # degrees
    (lambda d: d.update(beam_energy_eV=100.0), "beam_energy_eV"),                  # kV instead of eV
    (lambda d: d["knobs"][2].update(aberration="C99"), "knobs[2].aberration"),
    (lambda d: d["knobs"][0].update(scale=0.0), "knobs[0].scale"),
    (lambda d: d["knobs"].append(dict(d["knobs"][0])), "duplicate knob name"),
    (lambda d: d["camera"].update(centre_px=[300, 10]), "camera"),
    (lambda d: d.update(colour="red"), "colour"),
])
def test_bad_profile_names_the_field(edit, field):
    d = _base()
    edit(d)
    with pytest.raises(ProfileError) as exc:
        parse_profile(d, "bad.yaml")
    assert field in str(exc.value) and "bad.yaml" in str(exc.value)


def test_bad_profile_file_fails_before_opening(tmp_path, monkeypatch):
    d = _base()
    d["camera"]["size_px"] = [4, 4]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d))
    import beamloop.controller.instruments.nion as nion

    monkeypatch.setattr(nion, "UsimSession", lambda *a, **k: pytest.fail("instrument started on a bad profile"))
    with pytest.raises(ProfileError, match=r"camera\.size_px"):
        open_instrument(str(path))
    with pytest.raises(ProfileError, match="no such file"):
        load_profile("no-such-instrument")


def test_counts_conversion_round_trip():
    k = load_profile("pyjem-standin").knob("C10")
    assert k.to_instrument(0.0) == 32768
    assert k.to_si(k.to_instrument(123e-9)) == pytest.approx(123e-9)
