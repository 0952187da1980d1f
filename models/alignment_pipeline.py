"""``beamloop train alignment``: data from the twin -> QAT -> held-out metrics -> weights + card.

Steps: generate (or reuse) sharded HDF5 shards of pair features with
:mod:`beamloop.models.alignment_data` on dask.distributed (a ``LocalCluster`` unless
``scheduler`` / ``$BEAMLOOP_DASK_SCHEDULER`` names one), standardise them (mean/std of the training set, stored
in the metadata), pre-train a float copy of :class:`AlignmentNet`, fine-tune the Brevitas
network quantisation-aware, evaluate on held-out shards (different seeds), write
``alignment.pt`` / ``alignment.json`` and the model card section. Two extra held-out sets
check the sample invariance on textures the networks never saw (:data:`HOLDOUTS`): correlation
lengths beyond the training range and contrasts below it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from beamloop.models.preprocess import AXES, labels_to_target, standardise

# metres per network unit (the network predicts value / scale)
LABEL_SCALE_M = (200e-9, 200e-9, 200e-9, 2.5e-6, 2.5e-6)


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
    small = np.all(np.abs(labels_m) <= np.array([35e-9, 35e-9, 35e-9, 500e-9, 500e-9]), axis=1)  # a re-measure
    if small.any():
        out["rmse_nm_small_residuals"] = {a: float(np.sqrt(np.mean(err[small, i] ** 2)) * 1e9)
                                          for i, a in enumerate(AXES)}
        out["n_small"] = int(small.sum())
    if cond:
        by = {}
        for key, edges, fmt in [
            ("cond_alpha_rad", [28e-3, 30e-3, 32.01e-3], "alpha {:.0f}-{:.0f} mrad"),
            ("cond_dose_e", [3e5, 1e6, 3.01e6], "dose {:.0e}-{:.0e} e"),
            ("cond_thickness_m", [5e-9, 10e-9, 20.01e-9], "thickness {:.0f}-{:.0f} nm"),
        ]:
            v = cond[key]
            for lo, hi in zip(edges[:-1], edges[1:]):
                sel = (v >= lo) & (v < hi)
                if sel.sum() < 5:
                    continue
                scale = 1e3 if "alpha" in key else (1e9 if "thickness" in key else 1)
                name = fmt.format(lo * scale, hi * scale)
                by[name] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
        if "cond_renderer" in cond:
            for rid, kind in enumerate(("twin_atoms", "twin_field", "geometric")):
                sel = cond["cond_renderer"] == rid
                if sel.sum() >= 5:
                    by[f"renderer {kind}"] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
            c = cond["cond_contrast"]
            for lo, hi in ((0, 0.01), (0.01, 0.03), (0.03, 0.15), (0.15, 10)):
                sel = (c >= lo) & (c < hi)
                if sel.sum() >= 5:
                    by[f"contrast {lo * 100:g}-{hi * 100:g} %"] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9)
                                                                   for i, a in enumerate(AXES)}
            L = cond["cond_corr_len_m"]
            for lo, hi in ((0.5e-10, 1.5e-10), (1.5e-10, 3e-10), (3e-10, 6.01e-10), (6.01e-10, 2e-9)):
                sel = (L >= lo) & (L < hi)
                if sel.sum() >= 5:
                    by[f"texture {lo * 1e10:.1f}-{hi * 1e10:.1f} A"] = {
                        a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
        for sid, kind in enumerate(("amorphous_carbon", "si100", "si110")):
            sel = cond["cond_sample_id"] == sid
            if sel.sum() >= 5:
                by[f"sample {kind}"] = {a: float(np.sqrt(np.mean(err[sel, i] ** 2)) * 1e9) for i, a in enumerate(AXES)}
        out["rmse_nm_by_condition"] = by
    return out


def bit_operations(net, input_shape=(216,)) -> dict:
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


# Coarse-to-fine: the fine network is trained on examples inside FINE_TRAIN_BOX_M (per axis,
# metres) and used by the nn policy when the coarse estimate lies inside FINE_APPLY_BOX_M.
FINE_APPLY_BOX_M = (50e-9, 50e-9, 50e-9, 800e-9, 800e-9)
FINE_TRAIN_BOX_M = tuple(1.5 * v for v in FINE_APPLY_BOX_M)
FINE_LABEL_SCALE_M = FINE_TRAIN_BOX_M


def _train_one(x, y, xv, yv, hidden, epochs, qat_epochs, max_seconds, seed, log, threads=1):
    """Float pre-training of a plain copy, then QAT of the Brevitas net. Returns (net, cfg, cfg_q, hist)."""
    import torch

    from beamloop.models.alignment_net import AlignmentNet
    from beamloop.models.training import TrainConfig, copy_float_weights, float_twin, train_alignment

    torch.manual_seed(seed)
    net = AlignmentNet(hidden=tuple(hidden), n_features=x.shape[1])
    fnet = float_twin(net)
    # one thread: a 216-128-64 MLP gains nothing from a second one, and on a shared 2-core
    # machine two spinning threads are several times slower (measured)
    cfg = TrainConfig(epochs=epochs, max_seconds=max_seconds * 0.6, seed=seed, lr=2e-3, batch_size=128,
                      warmup_epochs=max(2, epochs // 6), weight_decay=1e-5, threads=threads)
    hist = train_alignment(fnet, x, y, xv, yv, cfg, progress=log("float"))
    copy_float_weights(fnet, net)
    cfg_q = TrainConfig(epochs=qat_epochs, max_seconds=max_seconds * 0.4, seed=seed, lr=3e-4, batch_size=128,
                        warmup_epochs=0, threads=threads)
    hist_q = train_alignment(net, x, y, xv, yv, cfg_q, progress=log("qat"))
    return net, cfg, cfg_q, hist["history"] + hist_q["history"]


def holdouts(rnd) -> dict:
    """Held-out randomisations the training never sees (the invariance self-check):
    ``coarse_texture``: random-field and geometric samples with correlation lengths 6-12 A
    (training: 0.6-6 A); ``low_contrast``: geometric contrast 0.15-0.4 % and twin frames at
    2-8 % of their contrast (training: >= 0.4 % and >= 8 %)."""
    from dataclasses import replace

    return {
        "coarse_texture": replace(rnd, renderer_probs=(0.0, 0.5, 0.5), corr_len_m=(6e-10, 12e-10)),
        "low_contrast": replace(rnd, renderer_probs=(0.35, 0.0, 0.65), geometric_contrast=(0.0015, 0.004),
                                contrast_gain=(0.02, 0.08), contrast_gain_fraction=1.0),
    }


# What each network version is trained on and how much (``beamloop train alignment --version``).
# v3: the twin's atomic samples only, absolute (not centred) features: the default networks.
# v4: sample- and instrument-invariant features and the wide randomisation (candidate, models/weights/v4).
RECIPES = {
    "3": dict(n_train=20480, n_val=2048, n_fine=12288, n_holdout=0, epochs=100, max_train_seconds=1200.0),
    "4": dict(n_train=14336, n_val=1536, n_fine=6144, n_holdout=384, epochs=120, max_train_seconds=300.0),
}


def version_config(version: str):
    """``(Randomisation, FeatureConfig)`` of network ``version`` (``"3"`` or ``"4"``)."""
    from beamloop.models.alignment_data import Randomisation, randomisation_v3
    from beamloop.models.ronchigram_features import FeatureConfig

    if version == "3":
        return randomisation_v3(), FeatureConfig(invariant=False)
    if version == "4":
        return Randomisation(), FeatureConfig()
    raise ValueError(f"alignment network version must be one of {sorted(RECIPES)}, got {version!r}")


def run(out_dir: str | Path, data_dir: str | Path, n_train: int | None = None, n_val: int | None = None,
        epochs: int | None = None, workers: int = 2, max_train_seconds: float | None = None, seed: int = 0,
        progress=print, qat_epochs: int = 10, hidden: tuple[int, ...] = (128, 64), n_fine: int | None = None,
        n_holdout: int | None = None, scheduler: str | None = None, version: str = "4",
        max_data_seconds: float | None = None) -> dict:
    """The whole ``beamloop train alignment`` job: data (dask), the coarse network (whole range) and
    the fine network (near-aligned subset of the same data + extra near-aligned pairs), metrics
    (held-out, and the invariance hold-outs), weights and card entries. Returns the coarse
    network's metadata (the fine one's is ``meta["fine"]``).

    ``version`` picks the randomisation, features and default sizes (:data:`RECIPES`; ``None``
    sizes take the recipe's). ``max_data_seconds``: stop starting data shards after this many
    seconds and raise :class:`~beamloop.models.alignment_data.DataIncomplete` if the data are not
    complete (run again with the same ``data_dir`` to resume), so generation fits time slots."""
    import torch

    from beamloop.models.alignment_data import dask_client, generate, read_shards
    from beamloop.models.registry import save

    t0 = time.time()
    rnd, fcfg = version_config(version)
    recipe = RECIPES[version]
    n_train = recipe["n_train"] if n_train is None else n_train
    n_val = recipe["n_val"] if n_val is None else n_val
    n_fine = recipe["n_fine"] if n_fine is None else n_fine
    n_holdout = recipe["n_holdout"] if n_holdout is None else n_holdout
    epochs = recipe["epochs"] if epochs is None else epochs
    max_train_seconds = recipe["max_train_seconds"] if max_train_seconds is None else max_train_seconds
    deadline = None if max_data_seconds is None else t0 + max_data_seconds
    data_dir = Path(data_dir)
    scheduler = scheduler or os.environ.get("BEAMLOOP_DASK_SCHEDULER") or None
    progress(f"data: {n_train} train + {n_val} held-out + {n_fine} near-aligned + 2 x {n_holdout} hold-out pairs "
             f"-> {data_dir} (dask: {scheduler or f'LocalCluster of {workers} workers'})")
    from dataclasses import replace

    # extra near-aligned pairs for the fine network (cheap: small aberrations need little oversampling)
    rnd_fine = replace(rnd, label_halfwidth_m=FINE_TRAIN_BOX_M, small_fraction=0.5, small_min_factor=1.0 / 10.0)
    hold = holdouts(rnd) if n_holdout else {}
    client = dask_client(scheduler, workers) if (scheduler or workers > 1) else None
    n_before = len(list(data_dir.glob("*.h5")))
    try:
        kw = dict(workers=workers, client=client, features=fcfg, progress=progress, deadline=deadline)
        tr = generate(data_dir, n_train, seed=seed, rnd=rnd, prefix="train", **kw)
        va = generate(data_dir, n_val, seed=seed + 7919, rnd=rnd, prefix="val", **kw)
        fi = generate(data_dir, n_fine, seed=seed + 104729, rnd=rnd_fine, prefix="fine", **kw) if n_fine else []
        ho = {name: generate(data_dir, n_holdout, seed=seed + 3 + k, rnd=r, prefix=f"holdout-{name}", **kw)
              for k, (name, r) in enumerate(hold.items())} if n_holdout else {}
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        data_sessions = log_data_session(data_dir, time.time() - t0, len(list(data_dir.glob("*.h5"))) - n_before)
    t_data = time.time() - t0
    dtr, attrs = read_shards(tr)
    dva, _ = read_shards(va)
    if json.loads(attrs["features"]) != fcfg.to_dict() or float(attrs["delta_c10_m"]) != rnd.delta_c10_m:
        raise ValueError(f"shards in {data_dir} were made with other features/delta; use an empty --data-dir")
    if json.loads(attrs["randomisation"]) != json.loads(rnd.to_json()):
        raise ValueError(f"shards in {data_dir} were made with another randomisation than version {version}'s "
                         "(e.g. another sample model); use an empty --data-dir")
    # one standardisation for both networks (the features are computed once per pair)
    fmean = dtr["features"].astype(np.float64).mean(0)
    fstd = dtr["features"].astype(np.float64).std(0) + 1e-6
    from beamloop.models.alignment_net import AlignmentNet

    grid = AlignmentNet(hidden=tuple(hidden), n_features=len(fmean))

    def to_grid(features: np.ndarray) -> np.ndarray:
        """Standardised and on the input grid (both phases see exactly what the FPGA will see)."""
        return grid.to_input_grid(torch.from_numpy(standardise(features, fmean, fstd))).numpy()

    x, xv = to_grid(dtr["features"]), to_grid(dva["features"])
    labels = dtr["labels"]
    progress(f"data ready in {t_data:.0f} s: train {x.shape}, held-out {xv.shape}")

    def log(tag):
        def f(r):
            if r["epoch"] % 10 == 0 or tag.endswith("qat"):
                progress(f"{tag} epoch {r['epoch']:3d} loss {r['train_loss']:.4f} val nll {r['val_nll']:.4f} "
                         f"rmse {np.round(r['val_rmse'], 3).tolist()} ({r['seconds']:.0f} s)")
        return f

    # coarse: the main set; fine: its near-aligned part + the extra near-aligned shards
    n_main = len(x)
    if fi:
        dfi, _ = read_shards(fi)
        x = np.concatenate([x, to_grid(dfi["features"])])
        labels = np.concatenate([labels, dfi["labels"]])
    main_tr = np.arange(len(x)) < n_main
    fine_tr = ~main_tr | np.all(np.abs(labels) <= np.array(FINE_TRAIN_BOX_M), axis=1)
    fine_va = np.all(np.abs(dva["labels"]) <= np.array(FINE_TRAIN_BOX_M), axis=1)
    jobs = [("alignment", LABEL_SCALE_M, main_tr, np.ones(len(xv), bool), max_train_seconds * 0.6,
             "whole capture range (coarse)"),
            ("alignment_fine", FINE_LABEL_SCALE_M, fine_tr, fine_va, max_train_seconds * 0.4,
             f"near-aligned: trained on |C1|,|A1| <= {FINE_TRAIN_BOX_M[0] * 1e9:.0f} nm, |B2| <= "
             f"{FINE_TRAIN_BOX_M[3] * 1e9:.0f} nm; used when the coarse estimate is within "
             f"{FINE_APPLY_BOX_M[0] * 1e9:.0f} nm / {FINE_APPLY_BOX_M[3] * 1e9:.0f} nm")]
    metas = {}
    for name, scale, sel, selv, budget, regime in jobs:
        progress(f"{name}: {int(sel.sum())} training pairs, {int(selv.sum())} held-out ({regime})")
        y, yv = labels_to_target(labels[sel], scale), labels_to_target(dva["labels"][selv], scale)
        t1 = time.time()
        net, cfg, cfg_q, hist = _train_one(x[sel], y, xv[selv], yv, hidden, epochs, qat_epochs, budget, seed,
                                           lambda tag, name=name: log(f"{name} {tag}"))
        t_train = time.time() - t1
        cond = {k: v[selv] for k, v in dva.items() if k.startswith("cond_")}
        metrics = evaluate(net, xv[selv], dva["labels"][selv], scale, cond)
        progress(f"{name}: held-out RMSE (nm): { {k: round(v, 1) for k, v in metrics['rmse_nm'].items()} }")
        metrics_hold = {}
        for hname, paths in ho.items():
            dh, _ = read_shards(paths)
            selh = np.ones(len(dh["labels"]), bool) if name == "alignment" else \
                np.all(np.abs(dh["labels"]) <= np.array(FINE_TRAIN_BOX_M), axis=1)
            if selh.sum() >= 5:
                metrics_hold[hname] = evaluate(net, to_grid(dh["features"][selh]), dh["labels"][selh], scale,
                                               {k: v[selh] for k, v in dh.items() if k.startswith("cond_")})
                progress(f"{name}: hold-out {hname} RMSE (nm): "
                         f"{ {k: round(v, 1) for k, v in metrics_hold[hname]['rmse_nm'].items()} }")
        meta = {
            "name": name,
            "version": version,
            "regime": regime,
            "arch": {"kind": "mlp", "hidden": list(hidden), "n_features": int(x.shape[1])},
            "axes": list(AXES),
            "label_scale_m": list(scale),
            "delta_c10_m": float(rnd.delta_c10_m),
            "features": fcfg.to_dict(),
            "feature_mean": fmean.tolist(),
            "feature_std": fstd.tolist(),
            "input": {"shape": [int(x.shape[1])], "grid": "int8 (signed), scale 2^-5, FLOOR",
                      "pair_order": "C10-delta, C10+delta",
                      "preprocess": "structure-tensor features per patch and scale (models/ronchigram_features.py), "
                                    + ("centred per scale over the pair (sample-invariant), " if fcfg.invariant else "")
                                    + "standardised with feature_mean / feature_std"},
            "randomisation": json.loads(rnd.to_json()),
            "data": {"n_train": int(sel.sum()), "n_val": int(selv.sum()), "seed": seed, "generate_seconds": t_data,
                     "generate_sessions": data_sessions,
                     "generate_seconds_all_sessions": float(sum(d["seconds"] for d in data_sessions)),
                     "train_shards": [p.name for p in tr] + ([p.name for p in fi] if name == "alignment_fine" else []),
                     "val_shards": [p.name for p in va],
                     "engine": f"dask.distributed ({scheduler or f'LocalCluster, {workers} workers'})",
                     **({"extra_near_aligned": json.loads(rnd_fine.to_json())} if name == "alignment_fine" and fi else {})},
            "training": {**{k: v for k, v in asdict(cfg).items() if k != "log"}, "seconds": t_train,
                         "phases": "float pre-training, then QAT fine-tuning",
                         "qat": {k: v for k, v in asdict(cfg_q).items() if k != "log"},
                         "epochs_run": len(hist)},
            "metrics_heldout": metrics,
            "metrics_holdout_invariance": metrics_hold,
            "holdouts": {k: json.loads(v.to_json()) for k, v in hold.items()},
            "size": bit_operations(net, (x.shape[1],)),
            "versions": library_versions(),
            "command": f"beamloop train alignment --version {version} --data-dir {data_dir} --n-train {n_train} "
                       f"--n-val {n_val} --n-fine {n_fine} --n-holdout {n_holdout} --epochs {epochs} "
                       f"--max-train-seconds {max_train_seconds:g} --seed {seed}",
            "total_seconds_to_here": time.time() - t0,
        }
        if name == "alignment_fine":
            meta["apply_box_m"] = list(FINE_APPLY_BOX_M)
        save(name, net, meta, out_dir)
        metas[name] = meta
    progress(f"saved to {out_dir} (total {time.time() - t0:.0f} s)")
    return {**metas["alignment"], "fine": metas["alignment_fine"]}


def log_data_session(data_dir: Path, seconds: float, shards_written: int) -> list[dict]:
    """Append this run's data-generation wall time to ``data_dir/generation_log.json`` and return
    every session's entry (a resumed generation's total is their sum)."""
    path = Path(data_dir) / "generation_log.json"
    sessions = json.loads(path.read_text()) if path.exists() else []
    sessions.append({"finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": float(seconds),
                     "shards_written": int(shards_written)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sessions, indent=1) + "\n")
    return sessions


def library_versions() -> dict:
    import brevitas
    import torch

    import beamloop

    return {"beamloop": beamloop.__version__, "torch": torch.__version__, "brevitas": brevitas.__version__}
