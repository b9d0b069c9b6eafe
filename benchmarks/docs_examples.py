"""Run the docs' examples that tests/test_docs_examples.py does not: the blocks marked ``needs-mnist`` (when MNIST
is on this machine), ``slow`` and, with ``--reproductions``, ``reproduction``; and the ``compare`` commands inside
tested blocks (``SLOW_COMMANDS``, with the test's tiny substitutions).

    python benchmarks/docs_examples.py --mnist ../shared/data/mnist [--reproductions] [--only docs/results.md]

Each command runs in its own process, in a scratch directory (``--work``, default a temporary one) holding the
test's generated inputs; the MNIST paths of the docs (``../shared/data/mnist``, ``DIR``) become ``--mnist``, and
``benchmarks/...``/``tests/...`` paths point into this tree (files a reproduction would write go to the scratch
directory).  One line per command: seconds, exit code, the command; the exit code is the number that failed.
``needs-gpu`` blocks run with ``--gpu``; ``needs-tool`` and ``output`` blocks never run here, nor a command naming
a Dask cluster (``tcp://host``).  docs/sweep.md's commands run its own YAML (the sweep of issue 24 finding 2).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_docs_examples as docs  # noqa: E402 - the test's collector, kinds and substitutions


def shell_line(cmd: str, mnist: Path | None, tiny: bool) -> str:
    """The command as this script runs it: tiny substitutions for a tested block's compare, else the docs' own
    command with MNIST and this tree's paths filled in."""
    if tiny:
        argv = docs.substituted(cmd)
        return " ".join([f"{sys.executable} -m sparsecodesign.cli", *map(_quote, argv)])
    cmd = re.sub(r"(^|\s)PYTHONPATH=\.\s", r"\1", cmd)   # this tree is on PYTHONPATH already
    if mnist is not None:
        cmd = re.sub(r"\.\./shared/data/fashion-mnist\b", str(mnist.parent / "fashion-mnist"), cmd)  # its sibling
        cmd = re.sub(r"(\.\./shared/data/mnist|(?<=--data-dir )DIR)\b", str(mnist), cmd)
    cmd = re.sub(r"(?<![\w/])(benchmarks|tests/fixtures)/", lambda m: f"{ROOT}/{m[1]}/"
                 if m[1] == "benchmarks" else f"{m[1]}/", cmd)
    cmd = re.sub(r"^(\w+=\S+ )*sparsesim ", lambda m: f"{m[0][:-len('sparsesim ')]}{sys.executable} -m "
                 "sparsecodesign.cli ", cmd)
    return re.sub(r"(^|\s)python(\s)", rf"\1{sys.executable}\2", cmd)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def plan(args) -> list[tuple[str, str, bool]]:
    """(block id, command, tiny) to run."""
    kinds = {"slow"} | ({"needs-mnist"} if args.mnist else set()) | ({"reproduction"} if args.reproductions
                                                                      else set()) | ({"needs-gpu"} if args.gpu else set())
    out = []
    for b in docs.ALL:
        if args.only and not b.doc.startswith(args.only):
            continue
        kind = docs.kind(b)
        if kind in kinds:
            out += [(b.id, c, False) for c in docs.commands(b.body) if "tcp://host" not in c]   # no cluster here
        elif kind == "command":
            out += [(b.id, c, True) for c in docs.commands(b.body) if docs.substituted(c)[0] in docs.SLOW_COMMANDS]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", type=Path, help="MNIST directory (the needs-mnist blocks run only with it)")
    ap.add_argument("--reproductions", action="store_true", help="also the reproduction scripts (minutes each)")
    ap.add_argument("--gpu", action="store_true", help="also the needs-gpu blocks")
    ap.add_argument("--only", help="only blocks of docs whose path starts so (README.md, docs/results.md)")
    ap.add_argument("--work", type=Path, help="scratch directory (default: a new temporary one)")
    ap.add_argument("--list", action="store_true", help="print the plan, run nothing")
    args = ap.parse_args(argv)
    if args.mnist is not None and not (args.mnist / "train-images-idx3-ubyte").exists() and \
            not any(args.mnist.glob("train-images*")):
        print(f"{args.mnist}: no MNIST files; the needs-mnist blocks are skipped")
        args.mnist = None
    todo = plan(args)
    if args.list:
        for block, cmd, tiny in todo:
            print(f"{block:28s} {'tiny ' if tiny else ''}{cmd}")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="docs_examples_"))
    work.mkdir(parents=True, exist_ok=True)
    docs._workspace(work)
    import shutil

    shutil.rmtree(work / "cmp")   # the test's stand-in for compare's output: here compare writes it
    sweep = next(b for b in docs.ALL if b.doc == "docs/sweep.md" and b.lang == "yaml")
    (work / "sweep.yaml").write_text(sweep.body)   # the docs' own sweep (its artifact: runs/digits, generated)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(work), os.environ.get("PYTHONPATH", "")])}
    failed = 0
    for block, cmd, tiny in todo:
        line = shell_line(cmd, args.mnist, tiny)
        t0 = time.monotonic()
        code = subprocess.run(line, shell=True, cwd=work, env=env).returncode
        failed += code != 0
        print(f"{time.monotonic() - t0:8.1f} s  exit {code}  {block}: {cmd}", flush=True)
    print(f"{len(todo) - failed} of {len(todo)} commands exited 0 (scratch: {work})")
    return failed


if __name__ == "__main__":
    sys.exit(min(main(), 125))
