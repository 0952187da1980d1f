"""HCAL (session 6). Usage: python bench_results/hcal/slope_seeds.py 50,100,150,200 4 2 OUT.json
Network estimate-vs-truth slope of A1 (C12.x, C12.y) at symmetric knob steps +-s on the
pyjem-standin's twin (identity response, no play, noise on), per weights, over sample seeds."""
import json, sys, warnings
import numpy as np
warnings.filterwarnings("ignore")
from beamloop.sim.microscope import Microscope, MicroscopeConfig
from beamloop.controller.estimation.inference import default_estimator
wide = {"C10": (-1e-4, 1e-4), "C12.x": (-1e-4, 1e-4), "C12.y": (-1e-4, 1e-4), "C21.x": (-1e-3, 1e-3), "C21.y": (-1e-3, 1e-3)}
ident = {a: {a: 1.0} for a in wide}
steps = [float(v) * 1e-9 for v in sys.argv[1].split(",")]
seeds = range(int(sys.argv[2])); reps = int(sys.argv[3])
out = {}
for w in (None, "models/weights/v3_hardcore"):
    est = default_estimator(w); d = est.delta_c10
    for knob, i in (("C12.x", 1), ("C12.y", 2)):
        for s in steps:
            g = []
            for seed in seeds:
                m = Microscope(MicroscopeConfig(limits=wide, calibration=ident, hysteresis_fraction=0.0, drift=False,
                               noise=True, settle_time_s=0.0, ronchigram={"size_px": 128, "max_oversample": 16,
                               "on_undersampled": "warn"}), seed=seed)
                def pair(v):
                    imgs = []
                    for sg in (-1, 1):
                        m.set_knobs({"C10": sg * d, knob: v})
                        imgs.append(m.acquire()[0].astype(float))
                    return est.predict(np.stack(imgs)[None])[0][0][i]
                for _ in range(reps):
                    g.append((pair(s) - pair(-s)) / (2 * s))
            key = f"{w or 'default'} {knob} {s*1e9:.0f}nm"
            out[key] = (float(np.mean(g)), float(np.std(g, ddof=1)))
            print(key, f"slope {np.mean(g):.3f} sd {np.std(g, ddof=1):.3f} min {min(g):.3f} max {max(g):.3f}", flush=True)
json.dump(out, open(sys.argv[4], "w"), indent=1)
