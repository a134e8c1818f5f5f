"""Chapter 9's arena: the course's architectures on the same tasks, under the
same budget.

Six small language models of about the same number of parameters (``build``): an LSTM,
a transformer, RetNet, RWKV-4, Mamba, and a hybrid (RetNet with softmax attention in its
last block). Each is trained from the same seed, for the same number of steps on the
same batches, on three tasks:

- ``recall``: multi-query associative recall (``rnncourse.data.recall``), accuracy at
  each number of key-value pairs;
- ``copy``: selective copying (``rnncourse.data.selective_copy``), accuracy;
- ``text``: the character corpus (``rnncourse.data.text``), validation loss in bits per
  character, and the training throughput in tokens per second;

and measured in generation (``inference_cost``): the time per generated token and the
bytes of the state (a recurrent state, or a transformer's key-value cache) after
contexts of several lengths. ``ABLATIONS`` trains changed models on recall alone: RetNet
and the hybrid without their short convolution.

``python -m rnncourse.arena`` (``make arena``, the runner in ``__main__``) runs it all,
about a quarter of an hour on two CPU cores, and writes
``rnncourse/arena/results.json``, stamped with ``source_hash()``: a hash of the budget
and of the code of every ``rnncourse`` module that this one imports, found by following
the import statements (``run_path``), so that no list can forget one. ``load()`` refuses
a file whose stamp does not match the code, so the chapter never shows numbers of a
model that has since changed. :mod:`rnncourse.arena.analysis` reads the
results; :mod:`rnncourse.figures.arena` draws them.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rnncourse.data.long_range import IGNORE
from rnncourse.data.recall import associative_recall
from rnncourse.data.selective_copy import selective_copy
from rnncourse.data.text import char_corpus, random_windows
from rnncourse.measure import n_params, state_bytes
from rnncourse.nn.lstm_lm import LSTMConfig
from rnncourse.nn.mamba_lm import MambaConfig
from rnncourse.nn.registry import build
from rnncourse.nn.retnet_lm import RetNetConfig
from rnncourse.nn.rwkv import RWKVConfig
from rnncourse.nn.transformer import TransformerConfig
from rnncourse.training import seed_everything

MODELS = ("lstm", "transformer", "retnet", "rwkv", "mamba", "hybrid")
RECURRENT = ("lstm", "retnet", "rwkv", "mamba")  # a state of fixed size in generation
CACHE = "results.json"


def configs(vocab_size: int, d_model: int = 64) -> dict[str, Any]:
    """One configuration per model, sized to about the same number of parameters
    (within 10%): a transformer block holds 12 d^2; a Mamba block about half of that, so
    Mamba gets 4 blocks, a little narrower, for the others' 2."""
    return {
        "lstm": LSTMConfig(vocab_size, d_model, hidden_size=80, n_layers=2),
        "transformer": TransformerConfig(vocab_size, d_model, n_layers=2, n_heads=4),
        "retnet": RetNetConfig(vocab_size, d_model, n_layers=2, n_heads=4),
        "rwkv": RWKVConfig(vocab_size, d_model, n_layers=2),
        "mamba": MambaConfig(vocab_size, d_model - 4, n_layers=4, d_state=4),
        "hybrid": RetNetConfig(
            vocab_size, d_model, n_layers=2, n_heads=4, attention_layers=(1,)
        ),
    }


@dataclass(frozen=True)
class Budget:
    """The same for every model: on each task, ``*_steps`` steps of AdamW at ``lr`` with
    a one-cycle schedule and gradients clipped to norm 1, on batches of ``*_batch``
    sequences; the recall task cycles through ``pairs`` from step to step."""

    lr: float = 3e-3
    recall_steps: int = 4000
    recall_batch: int = 32
    pairs: tuple[int, ...] = (2, 4, 8, 16, 32)
    copy_steps: int = 300
    copy_batch: int = 32
    copy_length: int = 64
    text_steps: int = 300
    text_batch: int = 32
    text_length: int = 128
    eval_sequences: int = 256
    contexts: tuple[int, ...] = (16, 64, 256, 1024, 4096)
    generated: int = 16  # tokens timed after each context


QUICK = Budget(
    recall_steps=3,
    copy_steps=3,
    text_steps=3,
    pairs=(2, 4),
    recall_batch=4,
    copy_batch=4,
    copy_length=16,
    text_batch=4,
    text_length=16,
    eval_sequences=8,
    contexts=(4, 16),
    generated=2,
)


def _masked_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)


def _fit(model, next_batch, steps: int, lr: float) -> tuple[float, int]:
    """Train for ``steps`` on ``next_batch(step) -> (x, y)``; returns
    (seconds, tokens seen)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=steps, pct_start=0.1
    )
    model.train()
    seconds, tokens = 0.0, 0
    for step in range(steps):
        x, y = next_batch(step)
        start = time.perf_counter()
        loss = _masked_loss(model(x)[0], y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        seconds += time.perf_counter() - start
        tokens += x.numel()
    model.eval()
    return seconds, tokens


@torch.no_grad()
def _accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    scored = y != IGNORE
    return (model(x)[0].argmax(-1)[scored] == y[scored]).float().mean().item()


def recall_task(model_config, budget: Budget, seed: int = 0) -> dict[str, Any]:
    """Train on MQAR, each step's batch with the next number of pairs in
    ``budget.pairs``; returns the accuracy on fresh sequences for each number
    of pairs."""
    seed_everything(seed)
    model = build(model_config)

    def batch(step):
        task = associative_recall(
            budget.recall_batch,
            budget.pairs[step % len(budget.pairs)],
            seed=seed * 100003 + step,
        )
        return task.x, task.y

    seconds, _ = _fit(model, batch, budget.recall_steps, budget.lr)
    accuracy = {}
    for n_pairs in budget.pairs:
        # never trained on
        test = associative_recall(budget.eval_sequences, n_pairs, seed=10**9 + n_pairs)
        accuracy[n_pairs] = _accuracy(model, test.x, test.y)
    return {"accuracy": accuracy, "seconds": seconds}


def copy_task(model_config, budget: Budget, seed: int = 0) -> dict[str, Any]:
    """Train on selective copying (targets are the data tokens' ids); returns the
    test accuracy."""
    seed_everything(seed)
    model = build(model_config)

    def batch(step):
        task = selective_copy(
            budget.copy_batch, length=budget.copy_length, seed=seed * 100003 + step
        )
        # class c is data token c + 1
        return task.x, torch.where(task.y == IGNORE, IGNORE, task.y + 1)

    seconds, _ = _fit(model, batch, budget.copy_steps, budget.lr)
    test = selective_copy(budget.eval_sequences, length=budget.copy_length, seed=10**9)
    return {
        "accuracy": _accuracy(
            model, test.x, torch.where(test.y == IGNORE, IGNORE, test.y + 1)
        ),
        "seconds": seconds,
    }


def text_task(model_config, budget: Budget, seed: int = 0) -> dict[str, Any]:
    """Train on random windows of the corpus; returns validation bits per character and
    tokens per second."""
    seed_everything(seed)
    model = build(model_config)
    corpus = char_corpus()
    g = torch.Generator().manual_seed(seed)
    seconds, tokens = _fit(
        model,
        lambda step: random_windows(
            corpus.train, budget.text_batch, budget.text_length, g
        ),
        budget.text_steps,
        budget.lr,
    )
    val_g = torch.Generator().manual_seed(10**9)
    x, y = random_windows(corpus.val, budget.eval_sequences, budget.text_length, val_g)
    with torch.no_grad():
        nats = _masked_loss(model(x)[0], y).item()
    return {
        "bpc": nats / math.log(2),
        "tokens_per_s": tokens / seconds,
        "seconds": seconds,
        "model": model,
    }


@torch.no_grad()
def inference_cost(
    model,
    vocab_size: int,
    contexts: tuple[int, ...],
    generated: int = 16,
    seed: int = 0,
    piece_length: int = 512,
) -> dict[int, dict[str, float]]:
    """For each context length C: read C tokens (in pieces of at most ``piece_length``
    tokens, with the state), then time ``generated`` tokens fed one at a time with the
    state. Returns {C: {"seconds_per_token": the median, "state_bytes": after
    the context}}."""
    model.eval()
    # warm-up: the first calls of a model are slow
    model(torch.zeros(1, 1, dtype=torch.long))
    g = torch.Generator().manual_seed(seed)
    out = {}
    for context in contexts:
        prompt = torch.randint(0, vocab_size, (1, context), generator=g)
        state = None
        for piece in prompt.split(piece_length, dim=1):
            logits, state = model(piece, state)
        nbytes = state_bytes(state)
        times = []
        for _ in range(generated):
            token = logits[:, -1].argmax(-1, keepdim=True)
            start = time.perf_counter()
            logits, state = model(token, state)
            times.append(time.perf_counter() - start)
        out[context] = {
            "seconds_per_token": sorted(times)[len(times) // 2],
            "state_bytes": nbytes,
        }
    return out


def _module_file(root: Path, module: str) -> Path | None:
    """The file of ``rnncourse.<...>`` under ``root`` (the package's folder): a
    package's ``__init__.py`` or a module; None for a name that is not a module
    (a function imported from one)."""
    parts = module.split(".")[1:]
    candidates = [root.joinpath(*parts, "__init__.py")] + (
        [root.joinpath(*parts).with_suffix(".py")] if parts else []
    )
    return next((path for path in candidates if path.is_file()), None)


def _imported(source: str) -> set[str]:
    """Every ``rnncourse`` module name that ``source`` imports, anywhere in it
    (inside functions too), with each name imported from a package
    (``from rnncourse.ops import backend``) as a candidate."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {
                f"{node.module}.{alias.name}" for alias in node.names
            }
    return {n for n in names if n == "rnncourse" or n.startswith("rnncourse.")}


def run_path(root: Path | None = None) -> dict[str, Path]:
    """Every ``rnncourse`` module that importing ``rnncourse.arena`` imports, directly
    or not: the modules that build, train and time the models. Found by following the
    import statements from this package's own source, each module's parent packages
    included (Python runs their ``__init__.py`` first). ``root``: the package's folder
    (default: the installed one)."""
    root = Path(str(resources.files("rnncourse"))) if root is None else Path(root)
    found: dict[str, Path] = {}
    todo = ["rnncourse.arena"]
    while todo:
        module = todo.pop()
        path = _module_file(root, module)
        if module in found or path is None:
            continue
        found[module] = path
        parents = [
            ".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)
        ]
        todo += parents + sorted(_imported(path.read_text()))
    return dict(sorted(found.items()))


def _code(source: str) -> str:
    """The program in ``source`` without its comments and docstrings: editing the prose
    keeps the hash."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def source_hash(budget: Budget = Budget(), root: Path | None = None) -> str:
    """SHA-256 of the budget and of the code that produces the results: every module of
    ``run_path(root)``, comments and docstrings left out."""
    h = hashlib.sha256(json.dumps(dataclasses.asdict(budget), sort_keys=True).encode())
    for module, path in run_path(root).items():
        h.update(module.encode())
        h.update(_code(path.read_text()).encode())
    return h.hexdigest()


def measure(
    name: str, budget: Budget = Budget(), seed: int = 0, threads: int | None = None
) -> dict[str, Any]:
    """One model's row: its parameter counts, its three tasks, its generation cost and
    its configuration. ``threads`` sets torch's threads for the run
    (None: leave them)."""
    if threads is not None:
        torch.set_num_threads(threads)
    vocabs = {
        "recall": associative_recall(1, budget.pairs[0]).vocab_size,
        "copy": selective_copy(1, length=budget.copy_length).vocab_size,
        "text": len(char_corpus().vocab),
    }
    start = time.perf_counter()
    row: dict[str, Any] = {
        "params": {
            task: n_params(build(configs(v)[name])) for task, v in vocabs.items()
        }
    }
    row["recall"] = recall_task(configs(vocabs["recall"])[name], budget, seed)
    row["copy"] = copy_task(configs(vocabs["copy"])[name], budget, seed)
    text = text_task(configs(vocabs["text"])[name], budget, seed)
    row["inference"] = inference_cost(
        text.pop("model"), vocabs["text"], budget.contexts, budget.generated, seed
    )
    row["text"] = text
    row["config"] = dataclasses.asdict(configs(vocabs["text"])[name])
    row["seconds"] = time.perf_counter() - start
    return row


# Recall only, for models changed in one respect: what RetNet's short convolution
# (rnncourse.nn.short_conv) buys.
ABLATIONS = {
    "retnet_no_conv": ("retnet", {"short_conv": 0}),
    "hybrid_no_conv": ("hybrid", {"short_conv": 0}),
}


def measure_ablation(
    name: str, budget: Budget = Budget(), seed: int = 0, threads: int | None = None
) -> dict[str, Any]:
    """The recall task for ``ABLATIONS[name]``: a model of ``MODELS`` with some
    configuration fields changed."""
    if threads is not None:
        torch.set_num_threads(threads)
    base, changes = ABLATIONS[name]
    config = dataclasses.replace(
        configs(associative_recall(1, budget.pairs[0]).vocab_size)[base], **changes
    )
    start = time.perf_counter()
    row = {
        "base": base,
        "changes": changes,
        "params": n_params(build(config)),
        "recall": recall_task(config, budget, seed),
    }
    row["seconds"] = time.perf_counter() - start
    return row


def run(
    budget: Budget = Budget(),
    models: tuple[str, ...] = MODELS,
    seed: int = 0,
    jobs: int = 1,
    ablations: tuple[str, ...] = tuple(ABLATIONS),
    log=print,
) -> dict[str, Any]:
    """Every model on every task and in generation, and the ``ablations`` on recall;
    returns the results as a JSON-ready dict. With ``jobs`` > 1, that many runs go at
    once, each in its own process on one thread (so that every model's times are taken
    under the same conditions)."""
    threads = 1 if jobs > 1 else torch.get_num_threads()
    start = time.perf_counter()
    results: dict[str, Any] = {
        "source_hash": source_hash(budget),
        "budget": dataclasses.asdict(budget),
        "seed": seed,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": threads,
            "jobs": jobs,
            "torch": torch.__version__,
            "load_average_before": list(os.getloadavg()),
        },
        "models": {},
        "ablations": {},
    }
    # slowest first
    work = [
        ("models", name, measure)
        for name in sorted(models, key=lambda name: name != "mamba")
    ]
    work += [("ablations", name, measure_ablation) for name in ablations]

    def report(kind, name, row):
        results[kind][name] = row
        tasks = (
            f"  copy {row['copy']['accuracy']:.3f}  text {row['text']['bpc']:.3f} bpc"
            if kind == "models"
            else ""
        )
        log(
            f"{name:15s} {row['seconds']:6.1f} s  recall "
            f"{row['recall']['accuracy']}{tasks}"
        )

    if jobs == 1:
        for kind, name, fn in work:
            report(kind, name, fn(name, budget, seed))
    else:
        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = {
                pool.submit(fn, name, budget, seed, threads): (kind, name)
                for kind, name, fn in work
            }
            for future in as_completed(futures):
                report(*futures[future], future.result())
    # in the order asked for
    results["models"] = {name: results["models"][name] for name in models}
    results["ablations"] = {name: results["ablations"][name] for name in ablations}
    results["machine"]["load_average_after"] = list(os.getloadavg())
    results["seconds"] = time.perf_counter() - start  # the wall time of the whole run
    return results


def cache_path() -> Path:
    return Path(str(resources.files("rnncourse.arena").joinpath(CACHE)))


def load(path: str | Path | None = None, budget: Budget = Budget()) -> dict[str, Any]:
    """The cached results, after checking that they were produced by the code and budget
    of today.

    Raises ``ValueError`` (run ``make arena``) when the file is missing or its hash
    differs. Keys come back as they were written: JSON turns the integer keys
    (pairs, contexts) into strings.
    """
    path = Path(path) if path is not None else cache_path()
    if not path.is_file():
        raise ValueError(
            f"no arena results at {path}: run `make arena` (python -m rnncourse.arena) "
            "to produce them"
        )
    results = json.loads(path.read_text())
    if results.get("source_hash") != source_hash(budget):
        raise ValueError(
            f"{path} was produced by other code or another budget than today's: "
            "run `make arena` (python -m rnncourse.arena) again"
        )
    return results
