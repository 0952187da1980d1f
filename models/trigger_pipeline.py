"""``beamloop train trigger``: labelled streams from the twin -> QAT MLP -> precision/recall.

The threshold is set on the *training* streams' event-free frames for a fixed false-alarm rate
(``far``: fraction of event-free frames that fire), then precision, recall and the realised
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


def score_scale(net) -> float:
    """Power-of-two scale of the trigger output (last ReLU scale x last weight scale)."""
    from brevitas.nn import QuantReLU

    import torch

    last_act = [m for m in net.mlp if isinstance(m, QuantReLU)][-1]
    with torch.no_grad():
        return float(last_act.act_quant.scale()) * float(net.mlp[-1].quant_weight().scale)


def threshold_for_far(scores_neg: np.ndarray, far: float) -> float:
    """Smallest threshold whose false-alarm fraction on ``scores_neg`` is <= ``far`` (fire: score > thr)."""
    s = np.sort(np.asarray(scores_neg, dtype=np.float64))
    k = int(np.floor(far * len(s)))
    return float(s[-k - 1]) if k < len(s) else float(s[0])


def pr_at_threshold(scores: np.ndarray, y: np.ndarray, thr: float, kind: np.ndarray | None = None) -> dict:
    fire = scores > thr
    tp = int(np.sum(fire & (y == 1)))
    fp = int(np.sum(fire & (y == 0)))
    fn = int(np.sum(~fire & (y == 1)))
    out = {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
           "false_alarm_rate": fp / max(int(np.sum(y == 0)), 1), "tp": tp, "fp": fp, "fn": fn}
    if kind is not None:
        for k, name in ((1, "drift"), (2, "sample")):
            sel = kind == k
            if sel.any():
                out[f"recall_{name}"] = float(np.mean(fire[sel]))
    return out


def event_recall(fire: np.ndarray, kind: np.ndarray, stream: np.ndarray, k: int) -> float:
    """Fraction of events of kind ``k`` (runs of consecutive labelled frames in one stream) with
    at least one firing frame."""
    sel = kind == k
    start = sel & ~np.concatenate([[False], sel[:-1] & (stream[1:] == stream[:-1])])
    ids = np.cumsum(start)
    hit = [bool(fire[sel & (ids == i)].any()) for i in np.unique(ids[sel])]
    return float(np.mean(hit)) if hit else float("nan")


def run(out_dir: str | Path, data_dir: str | Path, n_train: int = 640, n_val: int = 64, epochs: int = 200,
        workers: int = 2, max_train_seconds: float = 240.0, fars=(0.01, 0.001), seed: int = 0,
        n_test: int = 128, hidden: tuple[int, ...] = (16, 8), progress=print) -> dict:
    """Streams ``train_<n>_s<seed+1>``, ``val_<n>_s<seed+2>`` (early stopping), ``test_<n>_s<seed+4>``
    (held-out figures) as raw frames in ``data_dir`` (reused if present), v2 features, QAT MLP."""
    import torch

    from beamloop.models.registry import save
    from beamloop.models.training import TrainConfig, copy_float_weights, float_twin, train_trigger
    from beamloop.models.trigger_data import TriggerRandomisation, generate_frames, read_frames_features
    from beamloop.models.trigger_net import TriggerNet

    t0 = time.time()
    rnd = TriggerRandomisation()
    data_dir = Path(data_dir)
    progress(f"data: {n_train} train + {n_val} validation + {n_test} held-out streams of {rnd.frames} frames -> {data_dir}")
    dtr = read_frames_features(generate_frames(data_dir / f"train_{n_train}_s{seed + 1}.h5", n_train, seed=seed + 1,
                                               workers=workers, rnd=rnd))
    dva = read_frames_features(generate_frames(data_dir / f"val_{n_val}_s{seed + 2}.h5", n_val, seed=seed + 2,
                                               workers=workers, rnd=rnd))
    dte = read_frames_features(generate_frames(data_dir / f"test_{n_test}_s{seed + 4}.h5", n_test, seed=seed + 4,
                                               workers=workers, rnd=rnd))
    t_data = time.time() - t0
    progress(f"data ready in {t_data:.0f} s: {len(dtr['y'])} train frames ({dtr['y'].mean():.3f} events), "
             f"{len(dva['y'])} held-out")
    torch.manual_seed(seed)
    net = TriggerNet(hidden=tuple(hidden))
    cfg = TrainConfig(epochs=epochs, batch_size=256, lr=3e-3, max_seconds=max_train_seconds * 0.6, seed=seed)
    log = lambda tag: (lambda r: r["epoch"] % 10 == 0 and progress(  # noqa: E731
        f"{tag} epoch {r['epoch']:3d} loss {r['train_loss']:.4f} val {r['val_loss']:.4f} ({r['seconds']:.0f} s)"))
    t1 = time.time()
    # float pre-training of an identical plain network on the integer features, then QAT
    fnet = float_twin(net)
    hist = train_trigger(fnet, dtr["x"], dtr["y"], dva["x"], dva["y"], cfg, progress=log("float"))
    copy_float_weights(fnet, net)
    cfg_q = TrainConfig(epochs=max(epochs // 10, 3), batch_size=256, lr=5e-4, max_seconds=max_train_seconds * 0.4,
                        seed=seed)
    hist_q = train_trigger(net, dtr["x"], dtr["y"], dva["x"], dva["y"], cfg_q, progress=log("qat"))
    hist = {"history": hist["history"] + hist_q["history"]}
    t_train = time.time() - t1
    with torch.no_grad():
        s_tr = net(net.to_input_grid(torch.from_numpy(dtr["x"].astype(np.float32))))[:, 0].numpy()
        s_te = net(net.to_input_grid(torch.from_numpy(dte["x"].astype(np.float32))))[:, 0].numpy()
    scale = score_scale(net)
    metrics = {}
    for far in fars:
        thr = threshold_for_far(s_tr[dtr["y"] == 0], far)
        m = pr_at_threshold(s_te, dte["y"], thr, dte["kind"])
        m["threshold"] = thr
        m["threshold_register"] = int(np.floor(thr / scale))
        for k, name in ((1, "drift"), (2, "sample")):
            m[f"event_recall_{name}"] = event_recall(s_te > thr, dte["kind"], dte["stream"], k)
        metrics[f"far_{far:g}"] = m
        progress(f"far {far:g}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items()))
    dva = dte   # the figures below are on the held-out test streams
    from sklearn.metrics import average_precision_score, roc_auc_score

    metrics["roc_auc"] = float(roc_auc_score(dte["y"], s_te))
    metrics["average_precision"] = float(average_precision_score(dte["y"], s_te))
    default_far = f"far_{fars[0]:g}"
    from beamloop.models.alignment_pipeline import library_versions

    meta = {
        "name": "trigger",
        "version": "2",
        "arch": {"hidden": [16, 8]},
        "input": {"shape": [32], "grid": "int9 (signed), scale 1, FLOOR",
                  "features": "a[k] = sat_u8(S[k] >> SHIFT) (k=0..15), d[k] = sat_s8((S[k]-S_prev[k]) >> DSHIFT)",
                  "region_map": "beamloop.sim.detector_regions.ring_segment_map(64, 64, 4, 4)",
                  "shift_rule": "SHIFT: mean a[k] of the first frame in [64, 128); DSHIFT = SHIFT - %d" % rnd.dshift_gain},
        "score_scale": scale,
        "threshold": metrics[default_far]["threshold"],
        "threshold_register": metrics[default_far]["threshold_register"],
        "fire_rule": "fire when score > threshold (integer: score_int > threshold_register)",
        "randomisation": json.loads(rnd.to_json()),
        "data": {"n_train_streams": n_train, "n_val_streams": n_val, "n_test_streams": n_test,
                 "metrics_on": "held-out test streams (seed + 4); validation streams only for early stopping",
                 "train_frames": int(len(dtr["y"])),
                 "val_frames": int(len(dva["y"])), "generate_seconds": t_data},
        "training": {**{k: v for k, v in asdict(cfg).items() if k != "log"}, "seconds": t_train,
                     "epochs_run": len(hist["history"])},
        "metrics_heldout": metrics,
        "size": {"parameters": int(sum(p.numel() for p in net.parameters())),
                 "macs": int(sum(a * b for a, b in zip((32, *hidden), (*hidden, 1))))},
        "versions": library_versions(),
        "command": f"beamloop train trigger --n-train {n_train} --n-val {n_val} --epochs {epochs}",
        "metrics_before": {"version": "1 (a[k], d[k] features)", "far_0.01": {"recall": 0.411, "recall_drift": 0.304,
                           "recall_sample": 0.561, "false_alarm_rate": 0.022, "precision": 0.492}},
    }
    save("trigger", net, meta, out_dir)
    progress(f"saved to {out_dir} (total {time.time() - t0:.0f} s)")
    return meta
