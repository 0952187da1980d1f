"""``beamloop train trigger``: labelled streams from the twin -> v2 features -> QAT MLP -> precision/recall
at fixed false-alarm rates (definitions: :mod:`beamloop.models.trigger_metrics`).

The threshold is set on the *training* streams' event-free frames for a fixed false-alarm rate
(``far``: fraction of event-free frames that fire; deployed rule: the 95 % stream-bootstrap upper
bound of the training rate <= ``far``, :func:`beamloop.models.trigger_metrics.threshold_for_far_bound`), then precision, recall and the realised
false-alarm rate are measured on held-out streams (different seeds). The integer threshold
register for the RTL is ``floor(threshold / score_scale)`` (fire when the integer score is
greater), ``score_scale`` being the power-of-two scale of the output accumulator.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from beamloop.models.trigger_metrics import FARS, table, threshold_for_far  # noqa: F401 (re-export)
from beamloop.models.trigger_operating_point import deployed_fields, network_scores


FEATURE_TEXT = {
    2: "le[k] = lq(E[k]) (k=0..15), rb[k] = sat_s8(le[k] - lq(B[k])), E[k] = sum |I_t - I_t-1| over region k, "
       "B[k] running baseline (BSHIFT 3) - docs/trigger_features.md v2",
    3: "rb[k] = sat_s8(lq(E[k]) - lq(B[k])) (k=0..15), rb2[k] = sat_s8(lq(E2[k]) - lq(B2[k])), E[k] = sum |I_t - I_t-1|, "
       "E2[k] = sum |I_t - I_t-2| over region k, B, B2 running baselines (BSHIFT 3) - docs/trigger_features.md v3",
}
# inclusive range of inputs that are two's complement bytes on the trigger_net port (hls/configs/trigger.yaml)
SIGNED_INPUTS = {2: (16, 31), 3: (0, 31)}


def score_scale(net) -> float:
    """Power-of-two scale of the trigger output (last ReLU scale x last weight scale)."""
    from brevitas.nn import QuantReLU

    import torch

    last_act = [m for m in net.mlp if isinstance(m, QuantReLU)][-1]
    with torch.no_grad():
        return float(last_act.act_quant.scale()) * float(net.mlp[-1].quant_weight().scale)


def baseline_v1(weights_dir: str | Path, train_path: Path, test_path: Path, fars) -> dict:
    """The v1 network (``a[k]``, ``d[k]`` inputs, weights in ``weights_dir``) on the same stored streams,
    with the same metric definitions: the "before" column of the table."""
    import h5py

    from beamloop.models.registry import load
    from beamloop.models.trigger_data import default_region_map, read_frames_features, stream_features_v1

    net = load("trigger", weights_dir).module
    out_d, scores = [], []
    for path in (train_path, test_path):
        d = read_frames_features(path)
        with h5py.File(path, "r") as f:
            x = np.concatenate([stream_features_v1(fr, default_region_map())[0][1:] for fr in f["frames"]])
        scores.append(network_scores(net, x))
        out_d.append(d)
    return {"version": "1 (a[k], d[k] features; the network committed before issue 13)",
            **table(scores[0], out_d[0], scores[1], out_d[1], fars)}


def run(out_dir: str | Path, data_dir: str | Path, n_train: int = 640, n_val: int = 64, epochs: int = 200,
        workers: int = 2, max_train_seconds: float = 240.0, fars=FARS, seed: int = 0,
        n_test: int = 128, hidden: tuple[int, ...] = (16,), before_dir: str | Path | None = None,
        threads: int = 1, progress=print, features_version: int = 3, train_seed: int | None = None) -> dict:
    """Streams ``train_<n>_s<seed+1>``, ``val_<n>_s<seed+2>`` (early stopping), ``test_<n>_s<seed+4>``
    (held-out figures) as raw frames in ``data_dir`` (reused if present), features ``features_version``
    (3: ``[rb, rb2]``, 2: ``[le, rb]``; docs/trigger_features.md), QAT MLP. ``train_seed`` (default
    ``seed``) seeds the network's initialisation and batches only, not the data."""
    import torch

    from beamloop.models.registry import save
    from beamloop.models.training import TrainConfig, copy_float_weights, float_twin, train_trigger
    from beamloop.models.trigger_data import TriggerRandomisation, generate_frames, read_frames_features
    from beamloop.models.trigger_net import TriggerNet

    t0 = time.time()
    rnd = TriggerRandomisation()
    data_dir = Path(data_dir)
    progress(f"data: {n_train} train + {n_val} validation + {n_test} held-out streams of {rnd.frames} frames -> {data_dir}")
    fv = int(features_version)
    if fv not in FEATURE_TEXT:
        raise ValueError(f"features_version {fv}: the trigger trains on versions {sorted(FEATURE_TEXT)}")
    tseed = seed if train_seed is None else int(train_seed)
    dtr = read_frames_features(generate_frames(data_dir / f"train_{n_train}_s{seed + 1}.h5", n_train, seed=seed + 1,
                                               workers=workers, rnd=rnd), version=fv)
    dva = read_frames_features(generate_frames(data_dir / f"val_{n_val}_s{seed + 2}.h5", n_val, seed=seed + 2,
                                               workers=workers, rnd=rnd), version=fv)
    dte = read_frames_features(generate_frames(data_dir / f"test_{n_test}_s{seed + 4}.h5", n_test, seed=seed + 4,
                                               workers=workers, rnd=rnd), version=fv)
    t_data = time.time() - t0
    progress(f"data ready in {t_data:.0f} s: {len(dtr['y'])} train frames ({dtr['y'].mean():.3f} events), "
             f"{len(dva['y'])} held-out")
    torch.manual_seed(tseed)
    net = TriggerNet(hidden=tuple(hidden))
    cfg = TrainConfig(epochs=epochs, batch_size=256, lr=3e-3, max_seconds=max_train_seconds * 0.6, seed=tseed,
                      threads=threads)
    log = lambda tag: (lambda r: r["epoch"] % 10 == 0 and progress(  # noqa: E731
        f"{tag} epoch {r['epoch']:3d} loss {r['train_loss']:.4f} val {r['val_loss']:.4f} ({r['seconds']:.0f} s)"))
    t1 = time.time()
    # float pre-training of an identical plain network on the integer features, then QAT
    fnet = float_twin(net)
    hist = train_trigger(fnet, dtr["x"], dtr["y"], dva["x"], dva["y"], cfg, progress=log("float"))
    copy_float_weights(fnet, net)
    cfg_q = TrainConfig(epochs=max(epochs // 10, 3), batch_size=256, lr=5e-4, max_seconds=max_train_seconds * 0.4,
                        seed=tseed, threads=threads)
    hist_q = train_trigger(net, dtr["x"], dtr["y"], dva["x"], dva["y"], cfg_q, progress=log("qat"))
    hist = {"history": hist["history"] + hist_q["history"]}
    t_train = time.time() - t1
    s_tr, s_te = network_scores(net, dtr["x"]), network_scores(net, dte["x"])
    scale = score_scale(net)
    metrics = table(s_tr, dtr, s_te, dte, fars)
    deployed = deployed_fields(metrics, scale)
    for k, m in metrics.items():
        progress(f"{k}: recall drift beyond tolerance {m['recall_drift_beyond']:.3f}, sample {m['recall_sample']:.3f}, "
                 f"precision {m['precision']:.3f}, false alarms {m['false_alarm_rate']:.4f}")
    from sklearn.metrics import average_precision_score, roc_auc_score

    metrics["roc_auc"] = float(roc_auc_score(dte["y"], s_te))
    metrics["average_precision"] = float(average_precision_score(dte["y"], s_te))
    from beamloop.models.alignment_pipeline import library_versions

    meta = {
        "name": "trigger",
        "version": str(fv),
        "arch": {"hidden": list(hidden)},
        "input": {"shape": [32], "grid": "int9 (signed), scale 1, FLOOR", "features_version": fv,
                  "features": FEATURE_TEXT[fv], "signed_inputs": list(SIGNED_INPUTS[fv]),
                  "region_map": "beamloop.sim.detector_regions.ring_segment_map(64, 64, 4, 4)"},
        "score_scale": scale,
        **deployed,
        "metrics_definition": "beamloop.models.trigger_metrics: event recall (>= 1 firing frame per event), drift "
                              "beyond tolerance (|dC10|, |dC12| > 40 nm, |dC21| > 700 nm), false alarms per event-free "
                              "frame, thresholds set on the training streams",
        "randomisation": json.loads(rnd.to_json()),
        "data": {"n_train_streams": n_train, "n_val_streams": n_val, "n_test_streams": n_test,
                 "metrics_on": "held-out test streams (seed + 4); validation streams only for early stopping",
                 "train_frames": int(len(dtr["y"])), "test_frames": int(len(dte["y"])), "generate_seconds": t_data},
        "training": {**{k: v for k, v in asdict(cfg).items() if k != "log"}, "seconds": t_train,
                     "epochs_run": len(hist["history"])},
        "metrics_heldout": metrics,
        "size": {"parameters": int(sum(p.numel() for p in net.parameters())),
                 "macs": int(sum(a * b for a, b in zip((32, *hidden), (*hidden, 1))))},
        "versions": library_versions(),
        "command": f"beamloop train trigger --n-train {n_train} --n-val {n_val} --n-test {n_test} --epochs {epochs} "
                   f"--hidden {','.join(str(h) for h in hidden)} --max-train-seconds {max_train_seconds:g} "
                   f"--features {fv} --seed {seed} --train-seed {tseed}"
                   + (" (metrics_before: run(..., before_dir=<v1 weights>))" if before_dir is not None else ""),
    }
    if before_dir is not None:
        meta["metrics_before"] = baseline_v1(before_dir, data_dir / f"train_{n_train}_s{seed + 1}.h5",
                                             data_dir / f"test_{n_test}_s{seed + 4}.h5", fars)
    save("trigger", net, meta, out_dir)
    progress(f"saved to {out_dir} (total {time.time() - t0:.0f} s)")
    return meta
