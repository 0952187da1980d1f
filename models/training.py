"""Quantisation-aware training loops (Brevitas modules, plain PyTorch optimisation).

- Alignment: Gaussian negative log-likelihood on normalised labels, the network predicting a
  mean and a log-sigma per coefficient (a short mean-squared-error warm-up first so the
  sigmas do not swallow the signal early).
- Trigger: binary cross-entropy on the score (logit), positives re-weighted by their rarity.

Both run on the CPU with a wall-clock budget (``max_seconds``) as well as an epoch count, so a
training run fits its 15-minute slot on a shared 2-core machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_epochs: int = 3  # alignment: MSE on the means only
    max_seconds: float = 600.0
    seed: int = 0
    threads: int = 2
    log: list = field(default_factory=list)


def gaussian_nll(mean: torch.Tensor, log_sigma: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    log_sigma = log_sigma.clamp(-6.0, 4.0)
    return (0.5 * ((target - mean) * torch.exp(-log_sigma)) ** 2 + log_sigma).mean()


def _batches(n: int, bs: int, rng: np.random.Generator):
    idx = rng.permutation(n)
    for i in range(0, n, bs):
        yield idx[i:i + bs]


def train_alignment(net: nn.Module, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
                    cfg: TrainConfig, augment=None, progress=None) -> dict:
    """Train ``net`` on inputs ``x`` (N, 2, 32, 32) float32 and targets ``y`` (N, 5) normalised.

    ``augment(xb, yb, rng) -> (xb, yb)`` (numpy) may transform each batch. Returns the history.
    The best validation-loss state is restored at the end.
    """
    from beamloop.models.alignment_net import split_output

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    xv_t, yv_t = torch.from_numpy(xv), torch.from_numpy(yv)
    t0 = time.time()
    best, best_state = np.inf, None
    hist = []
    for ep in range(cfg.epochs):
        net.train()
        tot, nb = 0.0, 0
        for b in _batches(len(x), cfg.batch_size, rng):
            xb, yb = x[b], y[b]
            if augment is not None:
                xb, yb = augment(xb, yb, rng)
            mean, ls = split_output(net(torch.from_numpy(np.ascontiguousarray(xb))))
            yt = torch.from_numpy(np.ascontiguousarray(yb))
            if ep < cfg.warmup_epochs:
                loss = ((mean - yt) ** 2).mean() + 0.01 * (ls**2).mean()
            else:
                loss = gaussian_nll(mean, ls, yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach())
            nb += 1
        sched.step()
        net.eval()
        with torch.no_grad():
            mv, lsv = split_output(_batched(net, xv_t))
            vnll = float(gaussian_nll(mv, lsv, yv_t))
            vrmse = torch.sqrt(((mv - yv_t) ** 2).mean(0)).numpy()
        score = vnll if ep >= cfg.warmup_epochs else np.inf
        if score < best:
            best = score
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        rec = {"epoch": ep, "train_loss": tot / max(nb, 1), "val_nll": vnll, "val_rmse": vrmse.tolist(),
               "seconds": time.time() - t0}
        hist.append(rec)
        if progress:
            progress(rec)
        if time.time() - t0 > cfg.max_seconds:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"history": hist, "best_val_nll": best}


def float_twin(net: nn.Module) -> nn.Module:
    """A plain-PyTorch copy of a Brevitas ``AlignmentNet`` / ``TriggerNet`` (same layer order and
    parameter shapes, float, no quantisers) for fast float pre-training; see :func:`copy_float_weights`."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU

    def convert(m: nn.Module) -> nn.Module:
        if isinstance(m, QuantConv2d):
            return nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=True)
        if isinstance(m, QuantLinear):
            return nn.Linear(m.in_features, m.out_features, bias=True)
        if isinstance(m, QuantReLU):
            return nn.ReLU()
        if isinstance(m, QuantIdentity):
            return nn.Identity()
        if isinstance(m, nn.Sequential):
            return nn.Sequential(*[convert(c) for c in m])
        return m

    layers = [convert(c) for c in net.children()]
    return nn.Sequential(*layers)


def copy_float_weights(float_net: nn.Module, qnet: nn.Module) -> None:
    """Copy weights/biases of :func:`float_twin`'s network into the Brevitas ``qnet`` (in order)."""
    from brevitas.nn import QuantConv2d, QuantLinear

    fl = [m for m in float_net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ql = [m for m in qnet.modules() if isinstance(m, (QuantConv2d, QuantLinear))]
    if len(fl) != len(ql):
        raise ValueError("float and quantised networks differ in structure")
    with torch.no_grad():
        for f, q in zip(fl, ql):
            q.weight.copy_(f.weight)
            q.bias.copy_(f.bias)


def _batched(net: nn.Module, x: torch.Tensor, bs: int = 512) -> torch.Tensor:
    return torch.cat([net(x[i:i + bs]) for i in range(0, len(x), bs)])


def train_trigger(net: nn.Module, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
                  cfg: TrainConfig, progress=None) -> dict:
    """Train the trigger MLP on integer features ``x`` (N, 32) and 0/1 labels ``y`` (N,)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    pos = max(float(y.mean()), 1e-3)
    lossf = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / pos))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    xv_t, yv_t = torch.from_numpy(xv.astype(np.float32)), torch.from_numpy(yv.astype(np.float32))
    t0 = time.time()
    best, best_state, hist = np.inf, None, []
    for ep in range(cfg.epochs):
        net.train()
        tot, nb = 0.0, 0
        for b in _batches(len(x), cfg.batch_size, rng):
            loss = lossf(net(xt[b])[:, 0], yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach())
            nb += 1
        sched.step()
        net.eval()
        with torch.no_grad():
            vl = float(lossf(_batched(net, xv_t)[:, 0], yv_t))
        if vl < best:
            best, best_state = vl, {k: v.clone() for k, v in net.state_dict().items()}
        rec = {"epoch": ep, "train_loss": tot / max(nb, 1), "val_loss": vl, "seconds": time.time() - t0}
        hist.append(rec)
        if progress:
            progress(rec)
        if time.time() - t0 > cfg.max_seconds:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"history": hist, "best_val_loss": best}
