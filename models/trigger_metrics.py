"""Trigger figures on labelled streams: events, "beyond tolerance", precision/recall at fixed
false-alarm rates.

- A frame *fires* when ``score > threshold``.
- False-alarm rate = fraction of event-free frames (label 0) that fire ("false alarms per frame").
- An *event* is a run of consecutive labelled frames of one kind in one stream (a drift jump
  spread over a 2-frame ramp is one event). Event recall = fraction of events with at least one
  firing frame; frame recall = fraction of labelled frames that fire.
- A drift event is *beyond tolerance* when its total jump (aberrations after the event minus
  before it) exceeds the alignment tolerance on any axis: ``|dC10| > 40 nm``,
  ``|dC12| > 40 nm``, ``|dC21| > 700 nm`` (the nn policy's tolerance, docs/models.md). Drift
  jumps at or inside tolerance are "don't care": they are events but are not counted in the
  drift-beyond-tolerance recall, and not as false alarms either.
- Thresholds for a target false-alarm rate are chosen on the *training* streams' event-free
  frames and then applied to held-out streams (the realised rate is reported).
"""

from __future__ import annotations

import numpy as np

TOLERANCE_M = (40e-9, 40e-9, 700e-9)   # |C10|, |C12|, |C21| (metres)
FARS = (0.005, 0.01, 0.02)


def event_ids(kind: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """Per frame: 0 for event-free frames, else a positive id shared by the frames of one event."""
    kind, stream = np.asarray(kind), np.asarray(stream)
    sel = kind > 0
    cont = np.concatenate([[False], sel[:-1] & (stream[1:] == stream[:-1]) & (kind[1:] == kind[:-1])])
    return np.cumsum(sel & ~cont) * sel


def beyond_tolerance(labels: np.ndarray, kind: np.ndarray, aberrations: np.ndarray,
                     tolerance_m=TOLERANCE_M) -> np.ndarray:
    """Per frame of one stream (T,): True on frames of drift events whose total jump exceeds the
    tolerance, and on every frame of a sample event. ``aberrations`` (T, 5) metres, C10, C12.x,
    C12.y, C21.x, C21.y after each frame."""
    labels, kind, ab = np.asarray(labels), np.asarray(kind), np.asarray(aberrations, dtype=np.float64)
    out = np.zeros(len(labels), bool)
    t = 1
    while t < len(labels):
        if not labels[t]:
            t += 1
            continue
        u = t
        while u + 1 < len(labels) and labels[u + 1] and kind[u + 1] == kind[t]:
            u += 1
        d = ab[u] - ab[t - 1]
        jump = (abs(d[0]), float(np.hypot(d[1], d[2])), float(np.hypot(d[3], d[4])))
        out[t:u + 1] = kind[t] != 1 or any(j > tol for j, tol in zip(jump, tolerance_m))
        t = u + 1
    return out


def threshold_for_far(scores_neg: np.ndarray, far: float) -> float:
    """Smallest threshold whose false-alarm fraction on ``scores_neg`` is <= ``far`` (fire: score > thr)."""
    s = np.sort(np.asarray(scores_neg, dtype=np.float64))
    k = int(np.floor(far * len(s)))
    return float(s[-k - 1]) if k < len(s) else float(s[0])


def _recall(fire: np.ndarray, ev: np.ndarray, sel: np.ndarray) -> tuple[float, float, int]:
    ids = np.unique(ev[sel])
    if not len(ids):
        return float("nan"), float("nan"), 0
    return float(np.mean([fire[ev == i].any() for i in ids])), float(fire[sel].mean()), int(len(ids))


def figures(scores: np.ndarray, d: dict, thr: float) -> dict:
    """Precision, false-alarm rate and recalls (event and frame level) of ``scores > thr`` on
    streams ``d`` (``y``, ``kind``, ``stream``, ``beyond`` per frame)."""
    fire = np.asarray(scores) > thr
    y, kind = np.asarray(d["y"]), np.asarray(d["kind"])
    ev = event_ids(kind, d["stream"])
    beyond = np.asarray(d["beyond"], bool)
    neg = y == 0
    care = ~((kind == 1) & ~beyond)                        # drift within tolerance: don't care
    tp, fp = int(np.sum(fire & ~neg & care)), int(np.sum(fire & neg))
    out = {"threshold": float(thr), "false_alarm_rate": fp / max(int(neg.sum()), 1),
           "precision": tp / max(tp + fp, 1), "tp_frames": tp, "fp_frames": fp}
    for name, sel in (("drift_beyond", (kind == 1) & beyond), ("sample", kind == 2), ("drift_all", kind == 1),
                      ("drift_within", (kind == 1) & ~beyond)):
        r_ev, r_fr, n = _recall(fire, ev, sel)
        out[f"recall_{name}"], out[f"frame_recall_{name}"], out[f"events_{name}"] = r_ev, r_fr, n
    return out


def table(s_train: np.ndarray, d_train: dict, s_test: np.ndarray, d_test: dict, fars=FARS) -> dict:
    """``{"far_<f>": figures}`` with thresholds set on the training streams' event-free frames."""
    neg = np.asarray(d_train["y"]) == 0
    return {f"far_{f:g}": figures(s_test, d_test, threshold_for_far(np.asarray(s_train)[neg], f)) for f in fars}
