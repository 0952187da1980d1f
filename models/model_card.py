"""Write ``MODEL_CARD.md`` next to the weights from their JSON metadata."""

from __future__ import annotations

import json
from pathlib import Path


def _table(d: dict, unit: str = "") -> str:
    keys = list(d)
    return "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n| " + " | ".join(
        f"{d[k]:.3g}{unit}" if isinstance(d[k], float) else str(d[k]) for k in keys) + " |\n"


def _alignment(meta: dict) -> str:
    m = meta["metrics_heldout"]
    s = meta["size"]
    out = [f"## {meta.get('name', 'alignment')} (version {meta['version']})\n",
           *([f"- Regime: {meta['regime']}"] if "regime" in meta else []),
           f"- Command: `{meta['command']}`",
           f"- Input: {meta['input']['shape']} ({meta['input']['pair_order']}, delta = {meta['delta_c10_m'] * 1e9:.0f} nm), "
           f"grid {meta['input']['grid']}; preprocessing: {meta['input']['preprocess']}",
           f"- Output: mean and log-sigma of {meta['axes']} in units of {meta['label_scale_m']} m",
           f"- Size: {s['parameters']} parameters, {s['macs']} MACs per inference, {s['bops_8x8']} bit operations (8x8-bit)",
           f"- Data: {meta['data']['n_train']} training pairs, {meta['data']['n_val']} held-out pairs "
           f"(generated in {meta['data']['generate_seconds']:.0f} s); training {meta['training']['seconds']:.0f} s, "
           f"{meta['training']['epochs_run']} epochs",
           f"- Versions: {meta['versions']}\n",
           "### Held-out accuracy (RMSE, nm), whole randomisation range\n", _table(m["rmse_nm"]),
           "Median predicted sigma (nm):\n", _table(m["median_sigma_nm"]),
           "Fraction within 1 sigma:\n", _table(m["coverage_1sigma"])]
    if "rmse_nm_small_residuals" in m:
        out += [f"Small residuals only (|C1|,|A1| <= 35 nm, |B2| <= 500 nm; n = {m['n_small']}), RMSE nm:\n",
                _table(m["rmse_nm_small_residuals"])]
    if m.get("rmse_nm_by_condition"):
        out.append("Across the randomisation ranges (RMSE, nm):\n")
        rows = m["rmse_nm_by_condition"]
        axes = meta["axes"]
        out.append("| condition | " + " | ".join(axes) + " |\n|---|" + "---|" * len(axes))
        out += ["| " + k + " | " + " | ".join(f"{v[a]:.3g}" for a in axes) + " |" for k, v in rows.items()]
        out.append("")
    if meta.get("metrics_holdout_invariance"):
        axes = meta["axes"]
        out.append("### Invariance hold-outs (textures / contrasts never in training; RMSE, nm)\n")
        out.append("| set | n | " + " | ".join(axes) + " |\n|---|---|" + "---|" * len(axes))
        out.append("| held-out (training distribution) | " + str(m["n"]) + " | "
                   + " | ".join(f"{m['rmse_nm'][a]:.3g}" for a in axes) + " |")
        for k, v in meta["metrics_holdout_invariance"].items():
            out.append(f"| {k} | {v['n']} | " + " | ".join(f"{v['rmse_nm'][a]:.3g}" for a in axes) + " |")
        out.append("")
        if meta.get("holdouts"):
            out += ["Hold-out randomisations: " + "; ".join(
                f"`{k}`: corr. length {v['corr_len_m'][0] * 1e10:.1f}-{v['corr_len_m'][1] * 1e10:.1f} A, geometric contrast "
                f"{v['geometric_contrast'][0] * 100:.2g}-{v['geometric_contrast'][1] * 100:.2g} %, twin contrast gain "
                f"{v['contrast_gain'][0]:.2g}-{v['contrast_gain'][1]:.2g} (fraction {v['contrast_gain_fraction']:.2g}), "
                f"renderers {v['renderer_probs']}" for k, v in meta["holdouts"].items()) + "\n"]
    out += ["### Training data (domain randomisation)\n", "```json", json.dumps(meta["randomisation"], indent=1), "```\n"]
    return "\n".join(out)


def _trigger(meta: dict) -> str:
    m = meta["metrics_heldout"]
    rule = f"; {meta['input']['shift_rule']}" if "shift_rule" in meta["input"] else ""
    size = meta["size"]
    out = [f"## trigger (version {meta['version']})\n",
           f"- Command: `{meta['command']}`",
           f"- Input (features v{meta['input'].get('features_version', 1)}): 32 integers, {meta['input']['features']}{rule}; "
           f"region map {meta['input']['region_map']}; grid {meta['input']['grid']}",
           f"- Output: one score, scale {meta['score_scale']:g}; {meta['fire_rule']}; "
           f"threshold {meta['threshold']:.4g} (register {meta['threshold_register']})",
           f"- Size: {size['parameters']} parameters, {size['macs']} MACs"
           + (f", {size['bops']} bit operations" if "bops" in size else ""),
           f"- Data: {meta['data']['train_frames']} training frames ({meta['data']['n_train_streams']} streams), "
           f"{meta['data'].get('test_frames', meta['data'].get('val_frames'))} held-out frames; "
           f"trained {meta['training']['seconds']:.0f} s",
           f"- Versions: {meta['versions']}\n",
           f"### Held-out detection (ROC AUC {m['roc_auc']:.3f}, average precision {m['average_precision']:.3f})\n",
           meta.get("metrics_definition", "") + "\n",
           "| false-alarm target | precision | realised FAR | recall drift (beyond tolerance) | recall sample |",
           "|---|---|---|---|---|"]
    for k, v in m.items():
        if k.startswith("far_"):
            out.append(f"| {k[4:]} | {v['precision']:.3f} | {v['false_alarm_rate']:.4f} | "
                       f"{v.get('recall_drift_beyond', v.get('recall_drift', float('nan'))):.3f} | "
                       f"{v.get('recall_sample', float('nan')):.3f} |")
    out += ["", "### Training data (streams, events)\n", "```json", json.dumps(meta["randomisation"], indent=1), "```\n"]
    return "\n".join(out)


def write_card(weights_dir: str | Path) -> Path:
    wdir = Path(weights_dir)
    parts = ["# Model card: beamloop default networks\n",
             "Weights: `<name>.pt` (PyTorch state dict of the Brevitas module), metadata `<name>.json`. "
             "Load with `beamloop.models.registry.load(name)`. All metrics are on held-out *twin* data "
             "(different seeds from training); they are not measurements on a real column.\n"]
    for name, fn in (("alignment", _alignment), ("alignment_fine", _alignment), ("trigger", _trigger)):
        p = wdir / f"{name}.json"
        if p.exists():
            parts.append(fn(json.loads(p.read_text())))
    path = wdir / "MODEL_CARD.md"
    path.write_text("\n".join(parts))
    return path
