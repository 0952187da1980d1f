"""HCAL (session 6): counts -> metres of the PyJEM stand-in's stigmators (the settings of
tests/controller/instruments/test_pyjem_composite.py::test_dac_calibration_measures_the_stigmators:
repeats 1, iterations 2, 16 frames) over stand-in sample seeds, default vs v3_hardcore weights.

Usage: python bench_results/hcal/dac_seeds.py N_SEEDS OUT.json   (scale error = measured / true - 1)
"""
import asyncio
import json
import sys
import warnings

warnings.filterwarnings("ignore")
from beamloop.controller.estimation.inference import default_estimator  # noqa: E402
from beamloop.controller.instruments.calibration import calibrate_counts  # noqa: E402
from beamloop.controller.instruments.open import open_instrument  # noqa: E402
from beamloop.controller.instruments.pyjem import PyJEMInstrument  # noqa: E402
from beamloop.controller.instruments.pyjem_standin import DEFAULT_RESPONSE  # noqa: E402

out = []
for w in (None, "models/weights/v3_hardcore"):
    est = default_estimator(w)
    for seed in range(int(sys.argv[1])):
        opened = open_instrument("pyjem-standin", noise=True, seed=seed)

        async def ob(profile, opened=opened):
            b = PyJEMInstrument(profile, opened.backend.tem3, opened.backend.detector_module)
            await b.connect()
            return b
        prof, rep = asyncio.run(calibrate_counts(opened.profile, ob, est, repeats=1, iterations=2))
        err = {n: prof.knob(n).scale * DEFAULT_RESPONSE[c][n] - 1 for n, c in (("C12.x", "OLs.x"), ("C12.y", "OLs.y"))}
        row = {"weights": w or "default", "seed": seed, "frames": rep.frames, "scale_error": err}
        print(json.dumps(row), flush=True)
        out.append(row)
        opened.close()
json.dump(out, open(sys.argv[2], "w"), indent=1)
