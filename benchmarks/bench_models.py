"""Training throughput of finrnn's LSTM / GRU / RNN against plain Keras `fit` (and PyTorch).

Every framework trains the same network (`n_layers` recurrent layers of `n_states` units, dropout
0.5 after each, a dense output on the last hidden state, Adam, squared error + L1 + L2 on all
weights) on the same synthetic data, with the same batch size and the same number of optimizer
steps. finrnn gets the data as a `data_feeder` (one batch per `--batch-size` rows) and does
`--inner-iteration` steps per batch per epoch; Keras `fit` and PyTorch do the same steps as
`epochs * inner_iteration` passes over the batches. Times exclude the first (compiling) call and
are the median of `--repeats` interleaved runs, so background load hits every framework alike.

finrnn's time includes what its `train()` does beyond the optimizer steps: a forward pass over
every batch for the per-batch correlations, and a checkpoint after every epoch.

    python benchmarks/bench_models.py                # small: a few minutes on 2 CPU cores
    python benchmarks/bench_models.py --full         # the reference size, 4096 samples
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CELLS = ("lstm", "gru", "rnn")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cells", nargs="+", choices=CELLS, default=list(CELLS), help="cell types to time"
    )
    parser.add_argument("--n-layers", type=int, default=2, help="stacked recurrent layers")
    parser.add_argument("--n-states", type=int, default=50, help="units per layer")
    parser.add_argument("--n-time-steps", type=int, default=100, help="steps per window")
    parser.add_argument("--n-input-features", type=int, default=10, help="features per step")
    parser.add_argument("--samples", type=int, default=512, help="rows of synthetic data")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per optimizer batch")
    parser.add_argument("--epochs", type=int, default=1, help="finrnn epochs per timed run")
    parser.add_argument(
        "--inner-iteration", type=int, default=5, help="optimizer steps per batch (all frameworks)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per framework")
    parser.add_argument(
        "--full",
        action="store_true",
        help="the full size: 4096 samples, 2 epochs, inner_iteration 10, 5 repeats",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    args = parser.parse_args(argv)
    for name in (
        "n_layers",
        "n_states",
        "n_time_steps",
        "n_input_features",
        "samples",
        "batch_size",
        "epochs",
        "inner_iteration",
        "repeats",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(args, name)})")
    if args.full:
        args.samples, args.epochs, args.inner_iteration, args.repeats = 4096, 2, 10, 5
    return args


def make_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(args.seed)
    shape = (args.samples, args.n_time_steps, args.n_input_features)
    X = rng.normal(size=shape).astype(np.float32)
    y = (X[:, -5:, :].mean(axis=(1, 2)) + 0.1 * rng.normal(size=args.samples)).astype(np.float32)
    return X, y.reshape(-1, 1)


def batches(X: np.ndarray, y: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(X[i : i + size], y[i : i + size]) for i in range(0, len(X), size)]


# ------------------------------------------------------------------ frameworks


def finrnn_runner(cell: str, args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> Callable:
    from finrnn_core import GRU, LSTM, RNN

    cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cell]
    model = cls(
        n_input_features=args.n_input_features,
        n_states=args.n_states,
        n_layers=args.n_layers,
        n_time_steps=args.n_time_steps,
        inner_iteration=args.inner_iteration,
        device="cpu",
        seed=args.seed,
        model_dir=tempfile.mkdtemp(prefix=f"bench_{cell}_"),
    )
    data = [(bx, by, 0.0, 1.0, len(bx)) for bx, by in batches(X, y, args.batch_size)]

    def run(epochs: int) -> None:
        model.train(data_feeder=lambda: iter(data), epoch_end=model.epochs_trained + epochs)

    return run


def keras_runner(cell: str, args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> Callable:
    import keras

    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
    reg = keras.regularizers.L1L2(l1=0.05, l2=0.01)
    inputs = keras.Input((args.n_time_steps, args.n_input_features))
    x = inputs
    for i in range(args.n_layers):
        x = layer[cell](
            args.n_states,
            return_sequences=i < args.n_layers - 1,
            kernel_regularizer=reg,
            recurrent_regularizer=reg,
            bias_regularizer=reg,
        )(x)
        x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(1, kernel_regularizer=reg, bias_regularizer=reg)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    def run(epochs: int) -> None:
        model.fit(
            X,
            y,
            batch_size=args.batch_size,
            epochs=epochs * args.inner_iteration,
            shuffle=False,
            verbose=0,
        )

    return run


def torch_runner(cell: str, args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> Callable:
    import torch

    torch.manual_seed(args.seed)
    rnn_class = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnn_class(
                args.n_input_features,
                args.n_states,
                num_layers=args.n_layers,
                batch_first=True,
                dropout=0.5 if args.n_layers > 1 else 0.0,
            )
            self.dropout = torch.nn.Dropout(0.5)
            self.out = torch.nn.Linear(args.n_states, 1)

        def forward(self, x: Any) -> Any:
            seq, _ = self.rnn(x)
            return self.out(self.dropout(seq[:, -1, :]))

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    params = list(net.parameters())
    data = [
        (torch.from_numpy(bx), torch.from_numpy(by)) for bx, by in batches(X, y, args.batch_size)
    ]

    def run(epochs: int) -> None:
        net.train()
        for _ in range(epochs):
            for bx, by in data:
                for _ in range(args.inner_iteration):
                    optimizer.zero_grad()
                    loss = torch.mean((net(bx) - by) ** 2)
                    loss = loss + 0.05 * sum(p.abs().sum() for p in params)
                    loss = loss + 0.01 * sum((p * p).sum() for p in params)
                    loss.backward()
                    optimizer.step()

    return run


# ------------------------------------------------------------------------ main


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    frameworks: dict[str, Callable] = {"finrnn": finrnn_runner, "keras_fit": keras_runner}
    if not args.no_torch and has_torch():
        import torch

        frameworks["torch"] = torch_runner
        torch_note = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    else:
        torch_note = "torch not installed" if not args.no_torch else "torch skipped"

    X, y = make_data(args)
    steps = args.epochs * args.inner_iteration * len(batches(X, y, args.batch_size))
    samples_per_run = args.epochs * args.inner_iteration * args.samples
    print(
        f"tensorflow {tf.__version__}, {torch_note}, {os.cpu_count()} CPU cores; "
        f"{args.n_layers} layers x {args.n_states} states, {args.n_time_steps} steps x "
        f"{args.n_input_features} features; {args.samples} samples, batch {args.batch_size}, "
        f"{steps} optimizer steps per timed run, median of {args.repeats}",
        flush=True,
    )

    rows = []
    for cell in args.cells:
        runners = {name: make(cell, args, X, y) for name, make in frameworks.items()}
        first = {}
        for name, run in runners.items():
            start = time.perf_counter()
            run(1)
            first[name] = time.perf_counter() - start
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                run(args.epochs)
                times[name].append(time.perf_counter() - start)
        rate = {name: samples_per_run / statistics.median(t) for name, t in times.items()}
        rows.append((cell, rate, first))
        print(f"  {cell}: " + ", ".join(f"{n} {r:,.0f}/s" for n, r in rate.items()), flush=True)

    names = list(frameworks)
    header = (
        "| cell | "
        + " | ".join(f"{n} samples/s" for n in names)
        + " | finrnn / keras_fit"
        + (" | finrnn / torch" if "torch" in names else "")
        + " | first call (s): "
        + ", ".join(names)
        + " |"
    )
    print()
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for cell, rate, first in rows:
        cols = [cell] + [f"{rate[n]:,.0f}" for n in names]
        cols.append(f"{rate['finrnn'] / rate['keras_fit']:.2f}x")
        if "torch" in names:
            cols.append(f"{rate['finrnn'] / rate['torch']:.2f}x")
        cols.append(", ".join(f"{first[n]:.1f}" for n in names))
        print("| " + " | ".join(cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
