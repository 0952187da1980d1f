"""Aberration coefficients, chi, and the polar / abTEM converters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beamloop.sim.aberrations import ORDERS, Aberrations, chi, chi_gradient, chi_torch, from_abtem, to_abtem
from beamloop.sim.optics import electron_wavelength, interaction_constant

SCALE = {1: 200e-9, 2: 2e-6, 3: 20e-6, 4: 500e-6, 5: 5e-3}   # metres, per order


def random_aberrations(rng: np.random.Generator) -> Aberrations:
    vec = [rng.normal() * SCALE[int(name[1])] for name in Aberrations.NAMES]
    return Aberrations.from_vector(vec)


def test_names_cover_krivanek_through_fifth_order():
    names = Aberrations.NAMES
    assert len(names) == 25 and names[:3] == ("C10", "C12.x", "C12.y")
    for n, m in ORDERS:
        if m == 0:
            assert f"C{n}{m}" in names
        else:
            assert f"C{n}{m}.x" in names and f"C{n}{m}.y" in names
    assert {(n, m) for n, m in ORDERS} == {(1, 0), (1, 2), (2, 1), (2, 3), (3, 0), (3, 2), (3, 4),
                                           (4, 1), (4, 3), (4, 5), (5, 0), (5, 2), (5, 4), (5, 6)}


def test_aliases_pairs_and_access():
    ab = Aberrations(defocus=-30e-9, A1=(10e-9, -5e-9), Cs=1e-6, **{"B2.y": 7e-9, "C23b": 3e-9})
    assert ab["C10"] == -30e-9 and ab.C10 == -30e-9 and ab["C1"] == -30e-9
    assert ab["C12.x"] == 10e-9 and ab["C12.y"] == -5e-9 and ab["A1.y"] == -5e-9
    assert ab["C30"] == 1e-6 and ab["C3"] == 1e-6
    assert ab["C21.y"] == 7e-9 and ab["C23.y"] == 3e-9 and ab["C12.b"] == -5e-9
    d = ab.to_dict()
    assert list(d) == list(Aberrations.NAMES) and d["C12.x"] == 10e-9
    assert Aberrations.from_dict(ab.to_dict(nonzero=True)) == ab


def test_immutable_and_arithmetic():
    a = Aberrations(C10=50e-9, **{"C12.x": 20e-9})
    b = Aberrations(C10=-10e-9, C30=2e-6)
    with pytest.raises(AttributeError):
        a.C10 = 1.0
    with pytest.raises(ValueError):
        a.vector[0] = 1.0
    s = a + b
    assert math.isclose(s["C10"], 40e-9) and s["C30"] == 2e-6 and s["C12.x"] == 20e-9
    assert (a - a) == Aberrations()
    assert math.isclose(a.scaled(0.5)["C12.x"], 10e-9)
    assert a.replace(C10=0.0)["C10"] == 0.0 and a.replace(C10=0.0)["C12.x"] == 20e-9
    names = ["C10", "C12.x", "C12.y", "C30"]
    v = a.to_vector(names)
    np.testing.assert_array_equal(v, [50e-9, 20e-9, 0, 0])
    assert Aberrations.from_vector(v, names) == a
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a and hash(copy.copy(a)) == hash(a)


@pytest.mark.parametrize("bad", ["C11", "C12", "A1", "C12.z", "foo", "C99.x"])
def test_unknown_name_raises_naming_it(bad):
    with pytest.raises(KeyError, match=bad.replace(".", r"\.")):
        Aberrations(**{bad: 1e-9})


def test_same_coefficient_twice_raises():
    with pytest.raises(ValueError, match="C10"):
        Aberrations({"C10": 1e-9}, defocus=2e-9)
    with pytest.raises(ValueError, match="C12.x"):
        Aberrations(A1=(1e-9, 0.0), **{"C12.x": 1e-9})
    with pytest.raises(ValueError, match="repeat"):
        Aberrations.from_vector([1e-9, 2e-9], ["C10", "C10"])
    assert Aberrations().get("nonsense", None) is None and Aberrations(C10=1e-9).get("C1") == 1e-9


def test_nan_coefficient_raises_naming_it():
    with pytest.raises(ValueError, match="C21.x"):
        Aberrations(**{"C21.x": float("nan")})
    with pytest.raises(ValueError, match="C10"):
        Aberrations(C10=float("inf"))
    with pytest.raises(ValueError, match="NaN"):
        chi(np.full((1, 25), np.nan), 0.01, 0.0, 2e-12)


def test_wavelength_and_interaction_constant():
    # textbook values: 300 kV -> 1.9687 pm, 200 kV -> 2.5079 pm, 100 kV -> 3.7014 pm
    assert math.isclose(electron_wavelength(300e3), 1.9687e-12, rel_tol=2e-4)
    assert math.isclose(electron_wavelength(200e3), 2.5079e-12, rel_tol=2e-4)
    assert math.isclose(electron_wavelength(100e3), 3.7014e-12, rel_tol=2e-4)
    assert math.isclose(interaction_constant(300e3), 6.526e6, rel_tol=2e-3)
    for bad in (-300e3, 0.0, float("nan")):
        with pytest.raises(ValueError, match="energy_eV"):
            electron_wavelength(bad)


def test_chi_defocus_closed_form_and_sign():
    lam = electron_wavelength(300e3)
    th = np.linspace(0, 0.03, 7)
    c = chi(Aberrations(C10=100e-9), th, 0 * th, lam)
    np.testing.assert_allclose(c, math.pi * 100e-9 * th**2 / lam, rtol=1e-12)
    # Ray position at the sample = grad chi / k = C10 * theta: positive C10 = overfocus
    gx, _ = chi_gradient(Aberrations(C10=100e-9), 0.02, 0.0, lam)
    assert math.isclose(gx / (2 * math.pi / lam), 100e-9 * 0.02, rel_tol=1e-12)


def test_chi_cartesian_components():
    lam = 2e-12
    k = 2 * math.pi / lam
    t, phi = 0.02, 0.3
    tx, ty = t * math.cos(phi), t * math.sin(phi)
    cases = {  # name: expected chi / k
        "C12.x": t**2 / 2 * math.cos(2 * phi), "C12.y": t**2 / 2 * math.sin(2 * phi),
        "C21.x": t**3 / 3 * math.cos(phi), "C23.y": t**3 / 3 * math.sin(3 * phi),
        "C34.x": t**4 / 4 * math.cos(4 * phi), "C45.y": t**5 / 5 * math.sin(5 * phi),
        "C56.x": t**6 / 6 * math.cos(6 * phi), "C50": t**6 / 6,
    }
    for name, expected in cases.items():
        got = chi(Aberrations(**{name: 1e-6}), tx, ty, lam)
        assert math.isclose(got, k * 1e-6 * expected, rel_tol=1e-10), name


def test_chi_batch_and_gradient_match_finite_differences():
    rng = np.random.default_rng(3)
    abs_ = [random_aberrations(rng) for _ in range(4)]
    lam = electron_wavelength(200e3)
    tx, ty = np.meshgrid(np.linspace(-0.03, 0.03, 9), np.linspace(-0.03, 0.03, 9), indexing="ij")
    batch = chi(abs_, tx, ty, lam)
    assert batch.shape == (4, 9, 9)
    mat = np.stack([a.vector for a in abs_])
    np.testing.assert_allclose(chi(mat, tx, ty, lam), batch)
    np.testing.assert_allclose(batch[2], chi(abs_[2], tx, ty, lam))
    h = 1e-7
    gx, gy = chi_gradient(abs_[1], tx, ty, lam)
    fx = (chi(abs_[1], tx + h, ty, lam) - chi(abs_[1], tx - h, ty, lam)) / (2 * h)
    fy = (chi(abs_[1], tx, ty + h, lam) - chi(abs_[1], tx, ty - h, lam)) / (2 * h)
    np.testing.assert_allclose(gx, fx, rtol=1e-5, atol=1e-6 * np.abs(fx).max())
    np.testing.assert_allclose(gy, fy, rtol=1e-5, atol=1e-6 * np.abs(fy).max())


def test_polar_round_trip_and_convention():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ab = random_aberrations(rng)
        assert Aberrations.from_polar(ab.to_polar()).allclose(ab, atol=1e-20, rtol=1e-12)
    pol = Aberrations(**{"C12.y": 10e-9}).to_polar()
    assert math.isclose(pol["C12"], 10e-9) and math.isclose(pol["phi12"], math.pi / 4)
    pol = Aberrations(**{"C23.x": -4e-9}).to_polar()
    assert math.isclose(pol["C23"], 4e-9) and math.isclose(pol["phi23"], math.pi / 3)
    ab = Aberrations.from_polar({"C21": 1e-7, "phi21": 0.5})
    assert math.isclose(ab["C21.x"], 1e-7 * math.cos(0.5)) and math.isclose(ab["C21.y"], 1e-7 * math.sin(0.5))
    with pytest.raises(KeyError, match="phi10"):
        Aberrations.from_polar({"phi10": 1.0})


def test_abtem_dict_round_trip_and_defocus_sign():
    rng = np.random.default_rng(1)
    for _ in range(20):
        ab = random_aberrations(rng)
        assert from_abtem(to_abtem(ab)).allclose(ab, atol=1e-20, rtol=1e-12)
    assert math.isclose(to_abtem(Aberrations(C10=-5e-9))["C10"], -50.0)
    assert math.isclose(from_abtem({"defocus": 50.0})["C10"], -5e-9)
    assert math.isclose(from_abtem({"Cs": 1e4, "astigmatism": 20.0, "astigmatism_angle": 0.0})["C12.x"], 2e-9)


@pytest.fixture(scope="module")
def abtem64():
    abtem = pytest.importorskip("abtem")
    old = abtem.config.get("precision")
    abtem.config.set({"precision": "float64"})
    yield abtem
    abtem.config.set({"precision": old})


def test_chi_matches_abtem_on_random_coefficients(abtem64):
    """Our chi (cartesian, metres) equals abTEM's (polar, Angstrom) to 1e-6 rad."""
    rng = np.random.default_rng(7)
    energy = 300e3
    t = np.linspace(-0.04, 0.04, 41)
    tx, ty = np.meshgrid(t, t, indexing="ij")
    alpha, phi = np.hypot(tx, ty), np.arctan2(ty, tx)
    worst = 0.0
    for _ in range(10):
        ab = random_aberrations(rng)
        ref = abtem64.transfer.Aberrations(energy=energy, **to_abtem(ab))
        kernel = ref._evaluate_from_angular_grid(alpha, phi)       # exp(-i chi_abtem)
        lam = ref.wavelength * 1e-10                               # abTEM's own constants
        ours = chi(ab, tx, ty, lam)
        assert np.abs(ours).max() > 10.0                           # a non-trivial test
        diff = np.angle(np.exp(-1j * ours) * np.conj(kernel))
        worst = max(worst, float(np.abs(diff).max()))
    assert worst < 1e-6, worst
    # and our wavelength agrees with abTEM's to 1e-7 relative
    ref = abtem64.transfer.Aberrations(energy=energy)
    assert math.isclose(electron_wavelength(energy), ref.wavelength * 1e-10, rel_tol=1e-7)


def test_chi_torch_matches_numpy_and_is_differentiable():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    abs_ = [random_aberrations(rng) for _ in range(3)]
    lam = electron_wavelength(300e3)
    tx, ty = np.meshgrid(np.linspace(-0.03, 0.03, 5), np.linspace(-0.02, 0.02, 4), indexing="ij")
    c = torch.tensor(np.stack([a.vector for a in abs_]), dtype=torch.float64, requires_grad=True)
    out = chi_torch(c, tx, ty, lam)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(out.detach().numpy(), chi(abs_, tx, ty, lam), rtol=1e-12, atol=1e-9)
    out.sum().backward()
    assert c.grad is not None and torch.all(torch.isfinite(c.grad))


def test_chi_monomials_reproduce_the_basis():
    from beamloop.sim.aberrations import chi_basis, chi_monomials

    rng = np.random.default_rng(3)
    tx, ty = rng.uniform(-0.06, 0.06, (2, 200))
    B = chi_basis(tx, ty)
    pw = np.arange(7)
    V = np.einsum("jab,pa,pb->jp", chi_monomials(), tx[:, None] ** pw, ty[:, None] ** pw)
    scale = np.abs(B).max(axis=1, keepdims=True)
    assert np.all(np.abs(V - B) <= 1e-9 * scale)
    # and it is not trivially satisfied: swapping x and y breaks the non-round terms
    V2 = np.einsum("jab,pa,pb->jp", chi_monomials(), ty[:, None] ** pw, tx[:, None] ** pw)
    assert np.abs(V2 - B).max() > 1e-3 * scale.max()
