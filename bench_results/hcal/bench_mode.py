"""HCAL (session 6): the nn bench on the twin with a chosen response-calibration mode.

Usage: python bench_results/hcal/bench_mode.py short|full|quick OUT.json [JSON of extra policy options, plus
"trials"/"seed"], e.g. '{"approach_from_below": null}' for the play-compensating policy. Run under the heavy lock.
"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from beamloop.controller.bench.align import BenchConfig, run_bench
from beamloop.controller.policies.registry import policy_options
mode = sys.argv[1]; out = sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
trials = int(extra.pop("trials", 100)); seed = int(extra.pop("seed", 0))
axes = ["C10", "C12.x", "C12.y", "C21.x", "C21.y"]
opts = {**policy_options("nn", axes, None, None), **extra}
cfg = BenchConfig(policy="nn", axes=axes, trials=trials, seed=seed, policy_options=opts,
                  calibrate_response=True, response_mode=mode)
t0 = time.time()
r = run_bench(cfg)
cal = r.get("response_calibration")
s = {k: r[k] for k in ("success_rate", "frames_median", "frames_mean", "wall_s")}
s.update(mode=mode, extra=extra, trials=trials, seed=seed)
for k in r:
    if "calib" in k: s[k] = r[k]
print(json.dumps(s, indent=1, default=str))
json.dump(r, open(out, "w"), indent=1, default=str)
