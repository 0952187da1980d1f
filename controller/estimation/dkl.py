"""Deep kernel learning (DKL): a neural feature extractor on image patches + a Gaussian process.

The GP is GPyTorch's exact GP (``ExactGP``, ``ExactMarginalLogLikelihood``); no GP algebra is
written here. The deep kernel is ``k(x, x') = s^2 RBF(g(x), g(x'))`` with ``g`` a small MLP
(patch features -> low-dimensional embedding, scaled to [-1, 1]); kernel hyperparameters,
noise and network weights are trained together by maximising the marginal likelihood
(Wilson et al. 2016; the ORNL DKL experiments, ``../shared/seeds/003``). ``deep=False`` gives
the plain GP baseline on the same inputs (ARD Matern-5/2 on the raw features, e.g. probe
coordinates).

Inputs: any (n, d) float features. For image patches, :func:`patch_features` reduces the
survey's patches with PCA (fitted on all patches of the survey, which is fully known before
the first measurement) so the network starts from a few informative numbers, not 121 pixels.
Targets are standardised internally; predictions come back in the units of ``y``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DKLConfig", "DKLRegressor", "extract_patches", "patch_features"]


def extract_patches(image: np.ndarray, size: int) -> np.ndarray:
    """(nx, ny, size, size) patches centred on every pixel of ``image`` (reflect padding)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"patch size must be a positive odd number of pixels, got {size}")
    h = size // 2
    pad = np.pad(np.asarray(image, dtype=np.float64), h, mode="reflect")
    win = np.lib.stride_tricks.sliding_window_view(pad, (size, size))
    return np.ascontiguousarray(win)


def patch_features(image: np.ndarray, size: int = 11, n_components: int = 8, smooth_px: float = 1.0) -> np.ndarray:
    """(nx * ny, n_components) PCA scores of the standardised survey's patches (row-major
    over (ix, iy)), each component scaled to unit variance. The survey is first smoothed
    with a Gaussian of ``smooth_px`` (shot noise would otherwise dominate the small
    components)."""
    from scipy.ndimage import gaussian_filter

    img = np.asarray(image, dtype=np.float64)
    if smooth_px > 0:
        img = gaussian_filter(img, smooth_px, mode="reflect")
    img = (img - img.mean()) / (img.std() + 1e-12)
    p = extract_patches(img, size).reshape(img.shape[0] * img.shape[1], -1)
    p = p - p.mean(axis=0)
    k = min(n_components, p.shape[1], p.shape[0])
    u, s, vt = np.linalg.svd(p, full_matrices=False)
    scores = p @ vt[:k].T
    return (scores / (scores.std(axis=0) + 1e-12)).astype(np.float32)


@dataclass
class DKLConfig:
    """deep: MLP feature extractor (True) or plain GP on the inputs (False); hidden: MLP
    widths; embed_dim: embedding size the GP sees; iters_first / iters_update: Adam steps
    for the first fit and for each refit (warm-started); lr: Adam step; weight_decay: on the
    network weights; noise_min: lower bound of the (standardised) noise variance; double:
    float64 tensors (float32 kernel matrices went indefinite mid-run on the twin, measured)."""

    deep: bool = True
    hidden: tuple[int, ...] = (32, 16)
    embed_dim: int = 2
    iters_first: int = 150
    iters_update: int = 20
    lr: float = 0.02
    weight_decay: float = 1e-2
    noise_min: float = 1e-2
    double: bool = True
    seed: int = 0


def _mlp(d_in: int, hidden: tuple[int, ...], d_out: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    d = d_in
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    layers.append(torch.nn.Linear(d, d_out))
    return torch.nn.Sequential(*layers)


def _build_gp(train_x, train_y, likelihood, d_in: int, cfg: DKLConfig):
    import gpytorch

    class _GP(gpytorch.models.ExactGP):
        def __init__(self):
            super().__init__(train_x, train_y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            if cfg.deep:
                self.features = _mlp(d_in, cfg.hidden, cfg.embed_dim)
                self.scale = gpytorch.utils.grid.ScaleToBounds(-1.0, 1.0)
                self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=cfg.embed_dim))
            else:
                self.features = None
                self.covar_module = gpytorch.kernels.ScaleKernel(
                    gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=d_in))

        def embed(self, x):
            return self.scale(self.features(x)) if self.features is not None else x

        def forward(self, x):
            z = self.embed(x)
            return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))

    return _GP()


class DKLRegressor:
    """Fit on (n, d) features and targets; predict mean and standard deviation anywhere.

    ``fit`` may be called again with more data: the model is warm-started (network weights
    and hyperparameters kept, ``iters_update`` steps)."""

    def __init__(self, cfg: DKLConfig | None = None):
        self.cfg = cfg or DKLConfig()
        self.model = None
        self.likelihood = None
        self._y_mu, self._y_sd = 0.0, 1.0
        self.psd_failures = 0     # fits cut short / predictions retried on an indefinite kernel matrix
        self._dtype = torch.float64 if self.cfg.double else torch.float32

    def fit(self, x: np.ndarray, y: np.ndarray) -> "DKLRegressor":
        import gpytorch

        x = torch.as_tensor(np.asarray(x), dtype=self._dtype)
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
            raise ValueError(f"fit needs (n, d) features and n >= 2 targets, got {tuple(x.shape)} and {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("fit: targets must be finite")
        self._y_mu, self._y_sd = float(y.mean()), float(y.std() + 1e-12)
        ty = torch.as_tensor((y - self._y_mu) / self._y_sd, dtype=self._dtype)
        first = self.model is None
        if first:
            torch.manual_seed(self.cfg.seed)
            self.likelihood = gpytorch.likelihoods.GaussianLikelihood(
                noise_constraint=gpytorch.constraints.GreaterThan(self.cfg.noise_min))
            self.model = _build_gp(x, ty, self.likelihood, x.shape[1], self.cfg).to(self._dtype)
            self.likelihood.to(self._dtype)
        else:
            self.model.set_train_data(x, ty, strict=False)
        self.model.train()
        self.likelihood.train()
        net = [p for n, p in self.model.named_parameters() if n.startswith("features.")]
        other = [p for n, p in self.model.named_parameters() if not n.startswith("features.")]
        groups = [{"params": other}]
        if net:
            groups.append({"params": net, "weight_decay": self.cfg.weight_decay})
        opt = torch.optim.Adam(groups, lr=self.cfg.lr)
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(self.likelihood, self.model)
        iters = self.cfg.iters_first if first else self.cfg.iters_update
        from linear_operator.utils.errors import NotPSDError

        loss = torch.tensor(float("nan"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # numerical-jitter warnings on tiny data sets
            for _ in range(iters):
                good = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                opt.zero_grad()
                try:
                    loss = -mll(self.model(x), ty)
                except NotPSDError:
                    # an Adam step can make the float32 kernel matrix numerically indefinite
                    # (seen on the twin: embedding collapse with a large outputscale); keep the
                    # last parameters that worked and stop this fit (counted in psd_failures)
                    self.model.load_state_dict(good)
                    self.psd_failures += 1
                    break
                loss.backward()
                opt.step()
        self.model.eval()
        self.likelihood.eval()
        self.last_loss = float(loss.detach())
        return self

    def _posterior(self, xt):
        """The posterior at ``xt``; if the Cholesky fails at the default jitter, retry with more."""
        import gpytorch
        from linear_operator.utils.errors import NotPSDError

        for jitter in (None, 1e-3, 1e-2):
            try:
                if jitter is None:
                    post = self.model(xt)
                    return post.mean, post.variance
                with gpytorch.settings.cholesky_jitter(float_value=jitter, double_value=jitter):
                    self.model.prediction_strategy = None      # drop the cached factor
                    post = self.model(xt)
                    return post.mean, post.variance
            except NotPSDError:
                self.psd_failures += 1
        raise NotPSDError("DKLRegressor: the kernel matrix stays indefinite at jitter 1e-2")

    def _check(self):
        if self.model is None:
            raise RuntimeError("DKLRegressor: call fit() before predicting")

    def predict(self, x: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function (units of y). Batches of
        ``batch`` points: GPyTorch forms the test-test covariance of a batch (512: 8x faster
        than 4096 on 4096 candidates, measured)."""
        import gpytorch

        self._check()
        xt = torch.as_tensor(np.asarray(x), dtype=self._dtype)
        mu, sd = [], []
        with torch.no_grad(), gpytorch.settings.fast_pred_var(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for s in range(0, len(xt), batch):
                m, v = self._posterior(xt[s:s + batch])
                mu.append(m.numpy())
                sd.append(v.clamp_min(0).sqrt().numpy())
        return (np.concatenate(mu) * self._y_sd + self._y_mu, np.concatenate(sd) * self._y_sd)

    def sample(self, x: np.ndarray, n_samples: int = 1, generator_seed: int | None = None) -> np.ndarray:
        """(n_samples, len(x)) joint draws from the posterior of the latent function at ``x``
        (keep ``x`` to a few thousand points: the joint covariance is dense)."""
        import gpytorch

        self._check()
        xt = torch.as_tensor(np.asarray(x), dtype=self._dtype)
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        from linear_operator.utils.errors import NotPSDError

        for jitter in (1e-4, 1e-3, 1e-2):
            try:
                with torch.no_grad(), warnings.catch_warnings(), gpytorch.settings.cholesky_jitter(jitter, jitter):
                    warnings.simplefilter("ignore")
                    self.model.prediction_strategy = None
                    draws = self.model(xt).rsample(torch.Size([n_samples]))
                return draws.numpy() * self._y_sd + self._y_mu
            except NotPSDError:
                self.psd_failures += 1
        raise NotPSDError("DKLRegressor.sample: the posterior covariance stays indefinite at jitter 1e-2")

    def embedding(self, x: np.ndarray) -> np.ndarray:
        """What the GP sees: the network's embedding (or the inputs for a plain GP)."""
        self._check()
        with torch.no_grad():
            return self.model.embed(torch.as_tensor(np.asarray(x), dtype=self._dtype)).numpy()

