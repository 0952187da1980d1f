"""The trigger's operating point: re-derive the deployed thresholds of a trained trigger network on
its stored streams, without retraining (``beamloop train trigger --rethreshold``).

The network and its weights are unchanged (``state_sha256`` stays valid); only the thresholds, the
integer threshold register and the held-out figures in ``trigger.json`` are rewritten, with the
rule of :func:`beamloop.models.trigger_metrics.table` (default: the 95 % stream-bootstrap upper
bound of the training false-alarm rate <= the target). The "before" network, when given, is
scored on the same stored streams with the same rule, so the before/after table compares like
with like.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["deployed_fields", "network_scores", "rethreshold", "score_streams"]


def network_scores(net, x: np.ndarray) -> np.ndarray:
    """The trigger network's float scores (N,) for integer network inputs ``x`` (N, 32)."""
    import torch

    with torch.no_grad():
        return net(net.to_input_grid(torch.from_numpy(np.asarray(x).astype(np.float32))))[:, 0].numpy()


def deployed_fields(metrics: dict, scale: float, rule: str = "bound", default_far: str = "far_0.01") -> dict:
    """Write each ``far_*`` entry's integer ``threshold_register`` (``floor(threshold / scale)``, fire when
    the integer score is greater) into ``metrics`` and return the top-level ``trigger.json`` fields of
    the deployed operating point (``default_far``)."""
    from beamloop.models.trigger_metrics import RULE_TEXT

    for k, m in metrics.items():
        if k.startswith("far_"):
            m["threshold_register"] = int(np.floor(m["threshold"] / scale))
    d = metrics[default_far]
    return {"threshold": d["threshold"], "threshold_register": d["threshold_register"],
            "fire_rule": "fire when score > threshold (integer: score_int > threshold_register)",
            "threshold_rule": RULE_TEXT[rule],
            "trigger_recall_drift_at_1pct_fa": d["recall_drift_beyond"],
            "trigger_recall_sample_at_1pct_fa": d["recall_sample"]}


def score_streams(weights_dir: str | Path | None, paths: dict[str, Path]) -> tuple[dict, dict, dict]:
    """Scores of the trigger network in ``weights_dir`` on stored stream files ``paths`` (name -> HDF5),
    with the network's own feature version. Returns ``(scores, streams, model)``."""
    from beamloop.models.registry import load
    from beamloop.models.trigger_data import read_frames_features

    model = load("trigger", weights_dir)
    fv = int(model.meta.get("input", {}).get("features_version", 2))
    net = model.module.eval()
    scores, streams = {}, {}
    for name, path in paths.items():
        if not Path(path).exists():
            raise FileNotFoundError(f"stored stream file {path} not found; `beamloop train trigger` writes it "
                                    "(same --seed and stream counts)")
        streams[name] = read_frames_features(path, version=fv)
        scores[name] = network_scores(net, streams[name]["x"])
    return scores, streams, model


def rethreshold(weights_dir: str | Path, train_path: Path, test_path: Path, before_dir: str | Path | None = None,
                rule: str = "bound", default_far: str = "far_0.01") -> dict:
    """Rewrite ``weights_dir/trigger.json`` with thresholds by ``rule``; returns the new metadata."""
    from beamloop.models.trigger_metrics import FARS, table
    from beamloop.models.trigger_pipeline import score_scale

    paths = {"train": Path(train_path), "test": Path(test_path)}
    s, d, model = score_streams(weights_dir, paths)
    metrics = table(s["train"], d["train"], s["test"], d["test"], FARS, rule=rule)
    fields = deployed_fields(metrics, score_scale(model.module), rule, default_far)
    meta_path = Path(weights_dir) / "trigger.json"
    meta = json.loads(meta_path.read_text())
    keep = {k: v for k, v in meta.get("metrics_heldout", {}).items() if not k.startswith("far_")}  # AUC, AP
    meta.update({
        **fields,
        "metrics_heldout": {**metrics, **keep},
        "threshold_command": "beamloop train trigger --rethreshold" + (" --before <dir>" if before_dir else ""),
    })
    if before_dir is not None:
        sb, db, before = score_streams(before_dir, paths)
        mb = before.meta
        meta["metrics_before"] = {"version": f"{mb.get('version')} (features v{mb.get('input', {}).get('features_version')}, "
                                             f"weights {Path(before_dir).name})",
                                  **table(sb["train"], db["train"], sb["test"], db["test"], FARS, rule=rule)}
    meta_path.write_text(json.dumps(meta, indent=2, default=float) + "\n")
    return meta

