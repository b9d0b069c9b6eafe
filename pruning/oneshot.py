"""One-shot layer-wise pruning of Linear weights from calibration inputs.

A Linear ``y = x W^T`` with weight ``W`` (out x in) sees calibration inputs ``X``
(tokens x in).  Pruning it to ``W'`` costs the layer reconstruction error

    ||X W^T - X W'^T||_F^2  =  tr((W - W') H (W - W')^T),    H = X^T X (in x in)

so every method here reads the calibration data only through the Gram matrix ``H``
(``gram``), accumulated over batches without keeping activations.  Each method is
a small frozen config with ``prune(w, h, structure) -> w'``; the support always
satisfies ``structure`` exactly (``pruning.structures.Structure.keep_mask``):

* ``Magnitude``   keep the largest ``w^2`` (no data).
* ``Wanda``       keep the largest ``(|w_ij| ||X_j||)^2 = w_ij^2 H_jj`` (Sun et al. 2024),
                  layer-wide through the structure (the paper compares within each
                  output row; ours is the structure's own top-k).
* ``SparseGPT``   Frantar & Alistarh 2023: columns left to right, blocked (``blocksize``),
                  the mask of each block chosen by ``w^2 / [H^-1]_jj^2`` on the
                  Cholesky factor of the damped inverse Hessian, each pruned weight's
                  error spread over the later columns (OBS update).  Non-structured
                  (exact layer count, spread evenly over the blocks) and N:M.
* ``LayerADMM``   ALPS-style (Meng et al. 2024): ADMM on
                  ``min ||X W0^T - X W^T||^2 s.t. W in S`` with the split ``W = D``,
                  ``D`` projected by ``Structure.keep_mask``, the penalty rho growing
                  geometrically; then the weights are re-fitted exactly on ``D``'s
                  support (``refit``; ALPS uses PCG, here a direct batched solve).
                  Any structure.

``prune_linears_`` prunes every ``nn.Linear`` of a model (and the packed Q/K/V and output
projections of ``nn.MultiheadAttention``) in place from calibration batches, capturing each
layer's inputs with forward hooks on the dense model.
All computation is float64 and deterministic on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Union

import torch
from torch import nn

from .structures import Structure, StructureError, nm_keep
from .topk import keep_count, topk_mask


# ------------------------------------------------------------------ calibration
def gram(x: torch.Tensor) -> torch.Tensor:
    """``X^T X`` in float64 for inputs of any leading shape (..., in)."""
    x2 = x.reshape(-1, x.shape[-1]).to(torch.float64)
    return x2.T @ x2


def damped(h: torch.Tensor, damp_rel: float) -> torch.Tensor:
    """``H + lambda I`` with ``lambda = damp_rel * mean(diag H)``; a dead input (``H_jj = 0``) gets 1."""
    h = h.to(torch.float64).clone()
    d = torch.diagonal(h)
    d[d == 0] = 1.0
    d += damp_rel * float(d.mean())
    return h


def reconstruction_error(w: torch.Tensor, w_new: torch.Tensor, h: torch.Tensor) -> float:
    """``||X W^T - X W'^T||_F^2 = tr((W - W') H (W - W')^T)`` (H undamped)."""
    e = (w.to(torch.float64) - w_new.to(torch.float64))
    return float(((e @ h.to(torch.float64)) * e).sum())


def refit(w: torch.Tensor, h: torch.Tensor, mask: torch.Tensor, damp_rel: float = 0.0,
          chunk_elems: int = 1 << 24) -> torch.Tensor:
    """The least-squares weights on a fixed support: per row ``w'_S = argmin (w - w')^T H (w - w')``.

    Solves ``H_SS w'_S = (H w)_S`` for every row, batched over rows (in chunks of at most
    ``chunk_elems`` matrix entries), pruned entries exactly 0.  Each row's system is gathered
    on its own support (size ``|S|``, padded with the identity to the largest support in the
    chunk), so a row costs ``|S|^3``, not ``in^3``.  With ``damp_rel = 0`` it never increases
    the error of ``w * mask``.
    """
    hd = damped(h, damp_rel) if damp_rel > 0 else _nonsingular(h)
    w64 = w.to(torch.float64)
    rhs = w64 @ hd
    mask = mask.to(torch.bool)
    kept = mask.sum(1)
    out = torch.zeros_like(w64)
    k_max = int(kept.max()) if kept.numel() else 0
    if k_max == 0:
        return out.to(w.dtype)
    # each row's kept columns first (in increasing order), then pruned ones as padding
    idx = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :k_max]
    valid = torch.arange(k_max)[None, :] < kept[:, None]
    rows = max(1, chunk_elems // (k_max * k_max))
    for r0 in range(0, w.shape[0], rows):
        ix, v = idx[r0:r0 + rows], valid[r0:r0 + rows]
        a = hd[ix[:, :, None], ix[:, None, :]].masked_fill_(~(v[:, :, None] & v[:, None, :]), 0.0)
        a.diagonal(dim1=1, dim2=2).masked_fill_(~v, 1.0)
        b = torch.gather(rhs[r0:r0 + rows], 1, ix) * v
        out[r0:r0 + rows].scatter_(1, ix, _spd_solve(a, b) * v)
    return out.to(w.dtype)


def _spd_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a x = b`` for a batch of symmetric matrices: Cholesky where ``a`` is positive definite, the
    least-squares (minimum-norm) solution one matrix at a time where it is not.

    Not ``torch.linalg.solve``: batched LU on CPU fails for matrices above ~128 rows with torch 2.13's
    oneMKL on 2 threads ("Pivots given to lu_solve must all be greater or equal to 1"; 1 thread works).
    """
    chol, info = torch.linalg.cholesky_ex(a)
    x = torch.cholesky_solve(b[..., None], chol)[..., 0]
    for i in torch.nonzero(info).flatten().tolist():
        x[i] = torch.linalg.lstsq(a[i], b[i, :, None], driver="gelsd").solution[:, 0]
    return x


def _nonsingular(h: torch.Tensor) -> torch.Tensor:
    h = h.to(torch.float64).clone()
    d = torch.diagonal(h)
    d[d == 0] = 1.0
    return h


# ------------------------------------------------------------------ methods
@dataclass(frozen=True)
class Magnitude:
    """Keep the largest weights (``gain = w^2``); the data are not read."""

    def prune(self, w: torch.Tensor, h: torch.Tensor, structure: Structure) -> torch.Tensor:
        return w * structure.keep_mask(w.to(torch.float64) ** 2)


@dataclass(frozen=True)
class Wanda:
    """Keep the largest ``(|w_ij| ||X_j||)^2 = w_ij^2 H_jj`` (Sun et al. 2024), no weight update."""

    def prune(self, w: torch.Tensor, h: torch.Tensor, structure: Structure) -> torch.Tensor:
        gain = w.to(torch.float64) ** 2 * torch.diagonal(h.to(torch.float64))[None, :]
        return w * structure.keep_mask(gain)


@dataclass(frozen=True)
class SparseGPT:
    """Frantar & Alistarh 2023 (Algorithm 1), non-structured or N:M."""

    blocksize: int = 128
    damp_rel: float = 0.01

    def __post_init__(self) -> None:
        if self.blocksize < 1 or not 0.0 <= self.damp_rel:
            raise ValueError(f"SparseGPT(blocksize={self.blocksize}, damp_rel={self.damp_rel}); "
                             "allowed: blocksize >= 1, damp_rel >= 0")

    def prune(self, w: torch.Tensor, h: torch.Tensor, structure: Structure) -> torch.Tensor:
        if structure.kind not in ("nonstructured", "nm", "dense"):
            raise StructureError(f"SparseGPT prunes nonstructured or nm, not {structure.kind!r}; "
                                 "use LayerADMM, Wanda or Magnitude for it")
        structure.check_shape(tuple(w.shape))
        if structure.kind == "dense":
            return w.clone()
        rows, cols = w.shape
        bs = self.blocksize
        if structure.kind == "nm" and bs % structure.m:
            bs = max(structure.m, bs - bs % structure.m)
        h64 = h.to(torch.float64)
        dead = torch.diagonal(h64) == 0
        hd = damped(h64, self.damp_rel)
        hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(hd)), upper=True)
        W = w.to(torch.float64).clone()
        W[:, dead] = 0.0
        pruned_total = rows * cols - keep_count(rows * cols, structure.ratio)
        for i1 in range(0, cols, bs):
            i2 = min(i1 + bs, cols)
            w1 = W[:, i1:i2].clone()
            hinv1 = hinv[i1:i2, i1:i2]
            err1 = torch.zeros_like(w1)
            d = torch.diagonal(hinv1)
            keep1 = None
            if structure.kind == "nonstructured":
                n_prune = round(pruned_total * i2 / cols) - round(pruned_total * i1 / cols)
                keep1 = topk_mask(w1 ** 2 / d[None, :] ** 2, w1.numel() - n_prune)
            for i in range(i2 - i1):
                if structure.kind == "nm" and i % structure.m == 0:
                    s = w1[:, i:i + structure.m] ** 2 / d[None, i:i + structure.m] ** 2
                    keep_nm = nm_keep(s, structure.n)
                col_keep = keep1[:, i] if keep1 is not None else keep_nm[:, i % structure.m]
                q = torch.where(col_keep, w1[:, i], torch.zeros_like(w1[:, i]))
                e = (w1[:, i] - q) / d[i]
                w1[:, i:] -= e[:, None] * hinv1[i, i:][None, :]
                w1[:, i] = q
                err1[:, i] = e
            W[:, i1:i2] = w1
            W[:, i2:] -= err1 @ hinv[i1:i2, i2:]
        return W.to(w.dtype)


@dataclass(frozen=True)
class LayerADMM:
    """ALPS-style layer-wise ADMM (Meng et al. 2024) with an exact support projection, then a refit.

    Works in columns scaled to a unit-diagonal Hessian (``Hn = S^-1 H S^-1``, ``S = diag(H)^1/2``,
    ``W0 = W S``: the zero pattern is unchanged, and the first support is Wanda's).
    Iterates (U the scaled dual):
        W <- (W0 Hn + rho (D - U)) (Hn + rho I)^-1     (one eigendecomposition of Hn)
        D <- Pi_S(W + U)                               (Structure.keep_mask of (W + U)^2)
        U <- U + W - D
    rho starts at ``rho0`` and is multiplied by ``rho_growth`` every ``rho_every``
    iterations (our schedule; ALPS ties the growth to the support change), so W is
    pulled onto the support; it stops when the support has not changed for
    ``patience`` iterations after ``min_iters``, or after ``max_iters``.  The result is
    ``refit`` on the support of D.
    """

    rho0: float = 0.1
    rho_growth: float = 1.3
    rho_every: int = 3
    max_iters: int = 300
    min_iters: int = 30
    patience: int = 10
    damp_rel: float = 0.01

    def __post_init__(self) -> None:
        if not (self.rho0 > 0 and self.rho_growth >= 1 and self.rho_every >= 1 and self.max_iters >= 1):
            raise ValueError(f"{self!r}: allowed rho0 > 0, rho_growth >= 1, rho_every >= 1, max_iters >= 1")

    def support(self, w: torch.Tensor, h: torch.Tensor, structure: Structure) -> torch.Tensor:
        """The support ADMM settles on (a boolean mask satisfying ``structure``)."""
        hd = damped(h, self.damp_rel)
        scale = torch.diagonal(hd).sqrt()  # columns scaled to unit diagonal: the zero pattern is unchanged
        hn = hd / scale[:, None] / scale[None, :]
        lam, q = torch.linalg.eigh(hn)
        w0 = w.to(torch.float64) * scale[None, :]
        w0h = w0 @ hn
        mask = structure.keep_mask(w0 ** 2)
        d = w0 * mask
        u = torch.zeros_like(w0)
        rho, still = self.rho0, 0
        for it in range(self.max_iters):
            wk = ((w0h + rho * (d - u)) @ q) / (lam + rho)[None, :] @ q.T
            v = wk + u
            new_mask = structure.keep_mask(v ** 2)
            d = v * new_mask
            u = u + wk - d
            still = still + 1 if torch.equal(new_mask, mask) else 0
            mask = new_mask
            if it + 1 >= self.min_iters and still >= self.patience:
                break
            if (it + 1) % self.rho_every == 0:
                rho *= self.rho_growth
        return mask

    def prune(self, w: torch.Tensor, h: torch.Tensor, structure: Structure) -> torch.Tensor:
        return refit(w, h, self.support(w, h, structure), damp_rel=self.damp_rel)


Method = Union[Magnitude, Wanda, SparseGPT, LayerADMM]
METHODS: dict[str, type] = {"magnitude": Magnitude, "wanda": Wanda, "sparsegpt": SparseGPT, "admm": LayerADMM}


def method_named(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"one-shot method {name!r} unknown; allowed: {', '.join(METHODS)}")
    return METHODS[name]()


# ------------------------------------------------------------------ whole models
@dataclass(frozen=True)
class LayerReport:
    layer: str
    tokens: int
    sparsity: float            # fraction of weights that are zero after pruning
    error: float               # ||X W^T - X W'^T||_F^2 on the calibration inputs
    error_rel: float           # error / ||X W^T||_F^2


@dataclass(frozen=True)
class OneShotReport:
    layers: tuple[LayerReport, ...]
    not_called: tuple[str, ...] = field(default=())  # weights whose input was never seen (not pruned)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights one-shot pruning reads, by name: every ``nn.Linear`` (its module name) and the
    packed Q/K/V projection of every ``nn.MultiheadAttention`` (``<name>.in_proj_weight``, 3E x E)."""
    out: dict[str, nn.Parameter] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = m.weight
        elif isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            out[f"{name}.in_proj_weight" if name else "in_proj_weight"] = m.in_proj_weight
    return out


@torch.no_grad()
def capture_grams(model: nn.Module, batches: Iterable, names: Iterable[str] | None = None
                  ) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Gram matrices ``X^T X`` (float64) and token counts of the inputs of every prunable weight.

    Each batch is passed as ``model(batch)`` (a tuple as ``model(*batch)``).  Linears are read by
    forward pre-hooks.  ``nn.MultiheadAttention`` reads its ``out_proj`` and ``in_proj_weight`` as
    tensors, so no Linear hook fires: a pre-hook on the attention records the query as the input of
    ``in_proj_weight`` (self-attention only: query, key and value the same tensor) and reruns the
    attention once with ``out_proj`` set to the identity to get ``out_proj``'s input (the per-head
    context).  The attention fast path is switched off while capturing, so encoder layers call
    their modules.  A weight whose input was never seen gets no entry.
    """
    modules = dict(model.named_modules())
    weights = prunable_weights(model)
    wanted = set(weights if names is None else names)
    grams: dict[str, torch.Tensor] = {}
    tokens: dict[str, int] = {}

    def add(name, x):
        if name in wanted:
            g = gram(x)
            grams[name] = grams[name] + g if name in grams else g
            tokens[name] = tokens.get(name, 0) + x.numel() // x.shape[-1]

    def linear_hook(name):
        return lambda _module, inputs: add(name, inputs[0])

    rerunning: set[str] = set()

    def attention_hook(name):
        prefix = f"{name}." if name else ""

        def fn(mha, args, kwargs):
            if name in rerunning:
                return None
            bound = dict(zip(("query", "key", "value"), args), **kwargs)
            q = bound["query"]
            if bound.get("key") is q and bound.get("value") is q:
                add(f"{prefix}in_proj_weight", q)
            out_w, out_b = mha.out_proj.weight, mha.out_proj.bias
            saved = out_w.detach().clone(), None if out_b is None else out_b.detach().clone()
            rerunning.add(name)
            try:
                out_w.copy_(torch.eye(out_w.shape[0], dtype=out_w.dtype))
                if out_b is not None:
                    out_b.zero_()
                kw = dict(kwargs, need_weights=False)
                add(f"{prefix}out_proj", mha(*args, **kw)[0])
            finally:
                out_w.copy_(saved[0])
                if out_b is not None:
                    out_b.copy_(saved[1])
                rerunning.discard(name)
            return None
        return fn

    handles = []
    for name, m in modules.items():
        if isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_pre_hook(attention_hook(name), with_kwargs=True))
        elif isinstance(m, nn.Linear) and name in wanted and not _inside_attention(name, modules):
            handles.append(m.register_forward_pre_hook(linear_hook(name)))
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        for batch in batches:
            model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for hd in handles:
            hd.remove()
    return grams, tokens


def _inside_attention(name: str, modules: dict[str, nn.Module]) -> bool:
    parent, _, leaf = name.rpartition(".")
    return leaf == "out_proj" and isinstance(modules.get(parent), nn.MultiheadAttention)


@torch.no_grad()
def prune_linears_(model: nn.Module, batches: Iterable, structure: Structure,
                   method: Method | str = "sparsegpt", names: Iterable[str] | None = None) -> OneShotReport:
    """Prune every weight of ``prunable_weights`` (or those in ``names``) in place, each from its own inputs.

    All inputs are captured on the dense model in one pass (not sequentially through already
    pruned layers).  Returns per-layer errors and the weights whose input was never seen (not pruned).
    """
    m = method_named(method) if isinstance(method, str) else method
    grams, tokens = capture_grams(model, batches, names)
    weights = prunable_weights(model)
    wanted = list(weights) if names is None else list(names)
    reports = []
    for name in wanted:
        if name not in grams:
            continue
        w = weights[name].detach()
        w_new = m.prune(w, grams[name], structure)
        err = reconstruction_error(w, w_new, grams[name])
        ref = reconstruction_error(w, torch.zeros_like(w), grams[name])
        weights[name].copy_(w_new)
        reports.append(LayerReport(name, tokens[name], float((w_new == 0).double().mean()), err,
                                   err / ref if ref > 0 else 0.0))
    return OneShotReport(tuple(reports), tuple(n for n in wanted if n not in grams))
