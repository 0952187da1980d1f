"""``beamloop train alignment``: data from the twin -> QAT -> held-out metrics -> weights + card.

Steps: generate (or reuse) sharded HDF5 pairs with :mod:`beamloop.models.alignment_data`,
preprocess to ``(2, 32, 32)`` unit-mean inputs, train :class:`AlignmentNet` with exact dihedral
augmentation (:mod:`beamloop.models.symmetry`), evaluate on held-out shards (different seeds),
write ``alignment.pt`` / ``alignment.json`` and the model card section.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from beamloop.models.preprocess import AXES, labels_to_target, pairs_to_input

# metres per network unit (the network predicts value / scale)
LABEL_SCALE_M = (400e-9, 400e-9, 400e-9, 4e-6, 4e-6)


def _augment(xb: np.ndarray, yb: np.ndarray, rng: np.random.Generator):
    from beamloop.models.symmetry import dihedral

    k = int(rng.integers(8))
    # labels are normalised per axis with equal scales within each (x, y) pair, so the
    # dihedral maps (which only permute/negate x and y of one order) commute with the scaling
    return dihedral(xb, yb, k)


def evaluate(net, x: np.ndarray, labels_m: np.ndarray, scale_m, cond: dict | None = None) -> dict:
    """Per-coefficient error (nm) on held-out data, overall and across randomisation ranges."""
    import torch

    from beamloop.models.alignment_net import split_output

    with torch.no_grad():
        xt = net.to_input_grid(torch.from_numpy(x))
        y = torch.cat([net(xt[i:i + 256]) for i in range(0, len(xt), 256)])
        mu, ls = split_output(y)
    pred = mu.numpy() * np.asarray(scale_m)
    sig = np.exp(ls.numpy()) * np.asarray(scale_m)
    err = pred - labels_m
    out = {
        "n": int(len(x)),
        "rmse_nm": {a: float(np.sqrt(np.mean(err[:, i] ** 2)) * 1e9) for i, a in enumerate(AXES)},
        "mae_nm": {a: float(np.mean(np.abs(err[:, i])) * 1e9) for i, a in enumerate(AXES)},
        "median_sigma_nm": {a: float(np.median(sig[:, i]) * 1e9) for i, a in enumerate(AXES)},
        "coverage_1sigma": {a: float(np.mean(np.abs(err[:, i]) <= sig[:, i])) for i, a in enumerate(AXES)},
    }
    small = np.all(np.abs(labels_m) <= np.array([60e-9, 60e-9, 60e-9, 700e-9, 700e-9]), axis=1)
    if small.any():
        out["rmse_nm_small_residuals"] = {a: float(np.sqrt(np.mean(err[small, i] ** 2)) * 1e9)
                                          for i, a in enumerate(AXES)}
        out["n_small"] = int(small.sum())
    if cond:
        by = {}
        for key, edges, fmt in [
            ("cond_alpha_rad", [15e-3, 17e-3, 19e-3, 21.01e-3], "alpha {:.0f}-{:.0f} mrad"),
            ("cond_dose_e", [1e5, 1e6, 1.01e7], "dose {:.0e}-{:.0e} e"),
            ("cond_thickness_m", [3e-9, 10e-9, 20e-9, 30.01e-9], "thickness {:.0f}-{:.0f} nm"),
        ]:
            v = cond[key]
            for lo, hi in zip(edges[:-1], edges[1:]):
                sel = (v >= lo) & (v < hi)
                if sel.sum() < 5:
                    continue
                scale = 1e3 if "alpha" in key else (1e9 if "thickness" in key else 1)
                name = fmt.format(lo * scale, hi * scale)
                by[name] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
        for sid, kind in enumerate(("amorphous_carbon", "si100", "si110")):
            sel = cond["cond_sample_id"] == sid
            if sel.sum() >= 5:
                by[f"sample {kind}"] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
        out["rmse_nm_by_condition"] = by
    return out


def bit_operations(net, input_shape=(2, 32, 32)) -> dict:
    """Parameter count and bit operations (MACs x weight bits x activation bits) of ``net``."""
    import torch
    from brevitas.nn import QuantConv2d, QuantLinear

    macs: dict[str, int] = {}
    hooks = []

    def hook(name):
        def f(mod, inp, out):
            o = out.value if hasattr(out, "value") else out
            if isinstance(mod, QuantConv2d):
                k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels
                macs[name] = int(o[0].numel() * k)
            else:
                macs[name] = int(mod.in_features * mod.out_features)
        return f

    for name, m in net.named_modules():
        if isinstance(m, (QuantConv2d, QuantLinear)):
            hooks.append(m.register_forward_hook(hook(name)))
    with torch.no_grad():
        net(torch.zeros((1, *input_shape)))
    for h in hooks:
        h.remove()
    total = sum(macs.values())
    return {"parameters": int(sum(p.numel() for p in net.parameters() if p.requires_grad)),
            "macs": int(total), "bops_8x8": int(total * 64), "macs_per_layer": macs}


def run(out_dir: str | Path, data_dir: str | Path, n_train: int = 2048, n_val: int = 512, epochs: int = 60,
        workers: int = 2, max_train_seconds: float = 420.0, seed: int = 0, progress=print,
        qat_epochs: int = 2, qat_fraction: float = 0.25) -> dict:
    """The whole ``beamloop train alignment`` job. Returns the metrics written to the card."""
    import torch

    from beamloop.models.alignment_data import Randomisation, generate, read_shards
    from beamloop.models.alignment_net import AlignmentNet
    from beamloop.models.registry import save
    from beamloop.models.training import TrainConfig, copy_float_weights, float_twin, train_alignment

    t0 = time.time()
    rnd = Randomisation()
    data_dir = Path(data_dir)
    progress(f"data: {n_train} train + {n_val} held-out pairs from the twin -> {data_dir} ({workers} workers)")
    generate(data_dir, n_train, seed=seed, workers=workers, rnd=rnd, prefix="train")
    generate(data_dir, n_val, seed=seed + 7919, workers=workers, rnd=rnd, prefix="val")
    # every shard present is used (an earlier, larger or interrupted run may have left more)
    tr, va = sorted(data_dir.glob("train-*.h5")), sorted(data_dir.glob("val-*.h5"))
    t_data = time.time() - t0
    dtr, attrs = read_shards(tr)
    dva, _ = read_shards(va)
    x, xv = pairs_to_input(dtr["pairs"]), pairs_to_input(dva["pairs"])
    y, yv = labels_to_target(dtr["labels"], LABEL_SCALE_M), labels_to_target(dva["labels"], LABEL_SCALE_M)
    progress(f"data ready in {t_data:.0f} s: train {x.shape}, held-out {xv.shape}")
    torch.manual_seed(seed)
    net = AlignmentNet()
    # inputs on the input grid once (both phases see exactly what the FPGA will see)
    x, xv = net.to_input_grid(torch.from_numpy(x)).numpy(), net.to_input_grid(torch.from_numpy(xv)).numpy()
    log = lambda tag: (lambda r: progress(f"{tag} epoch {r['epoch']:3d} loss {r['train_loss']:.4f} "  # noqa: E731
                                          f"val nll {r['val_nll']:.4f} rmse {np.round(r['val_rmse'], 3).tolist()} "
                                          f"({r['seconds']:.0f} s)"))
    t1 = time.time()
    # phase 1: float pre-training of an identical plain-PyTorch network (fast on a CPU)
    fnet = float_twin(net)
    cfg = TrainConfig(epochs=epochs, max_seconds=max_train_seconds * 0.7, seed=seed, lr=3e-3, batch_size=32,
                      warmup_epochs=max(2, epochs // 4))
    hist = train_alignment(fnet, x, y, xv, yv, cfg, augment=_augment, progress=log("float"))
    # phase 2: quantisation-aware fine-tuning of the Brevitas network from those weights
    copy_float_weights(fnet, net)
    sub = np.random.default_rng(seed).permutation(len(x))[: max(256, int(qat_fraction * len(x)))]
    cfg_q = TrainConfig(epochs=qat_epochs, max_seconds=max_train_seconds * 0.3, seed=seed, lr=5e-4, batch_size=32,
                        warmup_epochs=0)
    hist_q = train_alignment(net, x[sub], y[sub], xv, yv, cfg_q, augment=_augment, progress=log("qat"))
    hist = {"history": hist["history"] + hist_q["history"]}
    t_train = time.time() - t1
    cond = {k: v for k, v in dva.items() if k.startswith("cond_")}
    metrics = evaluate(net, xv, dva["labels"], LABEL_SCALE_M, cond)
    progress(f"held-out RMSE (nm): {metrics['rmse_nm']}")
    size = bit_operations(net)
    meta = {
        "name": "alignment",
        "version": "1",
        "arch": {"channels": [8, 16, 16], "hidden": 32},
        "axes": list(AXES),
        "label_scale_m": list(LABEL_SCALE_M),
        "delta_c10_m": float(attrs["delta_c10_m"]),
        "input": {"shape": [2, 32, 32], "grid": "int8 (signed), scale 2^-6, FLOOR", "pair_order": "C10-delta, C10+delta",
                  "preprocess": "block-average to 64x64, keep the central 32x32 pixels, I / mean - 1"},
        "randomisation": json.loads(rnd.to_json()),
        "data": {"n_train": int(len(x)), "n_val": int(len(xv)), "seed": seed, "generate_seconds": t_data,
                 "train_shards": [p.name for p in tr], "val_shards": [p.name for p in va]},
        "training": {**{k: v for k, v in asdict(cfg).items() if k != "log"}, "seconds": t_train,
                     "phases": "float pre-training, then QAT fine-tuning",
                     "qat": {**{k: v for k, v in asdict(cfg_q).items() if k != "log"}, "n_samples": int(len(sub))},
                     "epochs_run": len(hist["history"])},
        "metrics_heldout": metrics,
        "size": size,
        "versions": _versions(),
        "command": f"beamloop train alignment --data-dir {data_dir} --n-train {n_train} --n-val {n_val} --epochs {epochs}",
    }
    save("alignment", net, meta, out_dir)
    progress(f"saved to {out_dir} (total {time.time() - t0:.0f} s)")
    return meta


def _versions() -> dict:
    import brevitas
    import torch

    import beamloop

    return {"beamloop": beamloop.__version__, "torch": torch.__version__, "brevitas": brevitas.__version__}
