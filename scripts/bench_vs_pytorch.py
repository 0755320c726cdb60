#!/usr/bin/env python3
"""modrepro vs PyTorch on the same machine, in one run: Lange et al. 2022's MLP (the authors'
framework) and Dorrell et al.'s Fig 1 linear autoencoder (the authors' Fig 1 notebooks use
PyTorch too).

Training throughput of the MNIST MLP (784→64→64→10, ReLU then dropout 0.3, cross-entropy +
1e-5·ΣW² over the weight matrices, Adam lr 1e-3, batch 200): PyTorch on CPU (eager, as the
authors' code trains it), with one thread and with its default thread count, vs
`cargo bench --bench classifier_throughput` (one run on one core, as `modrepro --jobs` trains
runs). Random images: the throughput does not depend on them.

Fig 1: the 2→16→2 linear autoencoder on 32 points, full batch, Adam lr 1e-3, the loss of
`src/model/linear_ae.rs`, one model, one thread, vs `cargo bench --bench linear_ae_batching`.

Fig 3f–g student (the authors' `disentangled_rnn_train_clean.py` is PyTorch, float32): a ReLU
RNN of 64 units, 2 inputs, 2 outputs, unrolled over 20 steps in a Python loop as the authors'
`RNN.forward` does, batch 128; loss β·MSE + mean h² + Σ_matrices mean(W²), β adapted by GECO;
gradient-norm clip 2, Adam 2e-3; vs `cargo bench --bench small_rnns` (random sequences: the
throughput does not depend on them).

Prints markdown rows for BENCHMARKS.md. Needs torch (the PyPI wheel runs on CPU); exits 0 with
a message when it is missing. Run from the repository root.
"""
import re
import subprocess
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    print("skipped: torch is not installed (pip install torch)")
    sys.exit(0)

IMAGES, BATCH, EPOCHS = 50_000, 200, 2
DEFAULT_THREADS = torch.get_num_threads()


def pytorch_steps_per_second(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(64, 10),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    images = torch.rand(IMAGES, 784)
    labels = torch.randint(0, 10, (IMAGES,))
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]

    def epoch():
        order = torch.randperm(IMAGES)
        for start in range(0, IMAGES, BATCH):
            batch = order[start:start + BATCH]
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss = loss + 1e-5 * sum((w ** 2).sum() for w in weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    epoch()  # warm up
    started = time.perf_counter()
    for _ in range(EPOCHS):
        epoch()
    return EPOCHS * (IMAGES // BATCH) / (time.perf_counter() - started)


def pytorch_linear_ae_us_per_step(steps=5_000):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    encoder, decoder = nn.Linear(2, 16), nn.Linear(16, 2)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimiser = torch.optim.Adam(params, lr=1e-3, eps=1e-8)
    x = torch.rand(32, 2)

    def step():
        z = encoder(x)
        x_hat = decoder(z)
        loss = ((x_hat - x) ** 2).mean() + 1e-3 * 0.5 * (z ** 2).sum(1).mean() \
            + 0.5 * torch.relu(-z).sum(1).mean() \
            + 1e-4 * 0.5 * ((encoder.weight ** 2).sum() + (decoder.weight ** 2).sum())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    for _ in range(200):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return 1e6 * (time.perf_counter() - started) / steps


def pytorch_student_iterations_per_second(threads, seconds=5.0):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n, steps, batch, pool = 64, 20, 128, 1280
    w_rec, w_in, w_out = nn.Linear(n, n), nn.Linear(2, n), nn.Linear(n, 2)
    params = [p for m in (w_rec, w_in, w_out) for p in m.parameters()]
    optimiser = torch.optim.Adam(params, lr=2e-3)
    xs, ys = torch.rand(pool, steps, 2) * 2 - 1, torch.rand(pool, steps, 2) - 0.5
    beta, ema = 10.0, None

    def step(k):
        nonlocal beta, ema
        start = (k * batch) % pool
        x, y = xs[start:start + batch], ys[start:start + batch]
        h, hiddens, outputs = torch.zeros(batch, n), [], []
        for t in range(steps):
            h = torch.relu(w_rec(h) + w_in(x[:, t]))
            hiddens.append(h)
            outputs.append(w_out(h))
        hs, out = torch.stack(hiddens, 1), torch.stack(outputs, 1)
        mse = ((out - y) ** 2).mean()
        loss = beta * mse + (hs ** 2).mean() + sum((m.weight ** 2).mean() for m in (w_rec, w_in, w_out))
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_norm=2)
        optimiser.step()
        value = mse.item()
        ema = value if ema is None else 0.9 * ema + 0.1 * value
        beta *= float(torch.exp(torch.tensor(0.2 * (ema - 3e-4))))

    for k in range(20):
        step(k)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step(done)
        done += 1
    return done / (time.perf_counter() - started)


def cargo_bench(name, key, *args):
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", name, "--", *args], capture_output=True, text=True, check=True,
    ).stdout
    print(out, file=sys.stderr)
    return float(re.search(key + r"=([0-9.]+)", out).group(1))


def main():
    # The Rust MLP bench falls back to random images without MNIST, and its speed depends on how
    # many pixels are lit: a comparison on them is not the one BENCHMARKS.md records.
    if not __import__("os").path.isdir("data/mnist"):
        print("data/mnist is missing: run scripts/fetch_mnist.sh first (the Lange row needs real MNIST)")
        sys.exit(1)
    one = pytorch_steps_per_second(1)
    default_threads = DEFAULT_THREADS
    both = pytorch_steps_per_second(default_threads)
    rust = cargo_bench("classifier_throughput", "modrepro_steps_per_second", str(EPOCHS))
    torch_ae = pytorch_linear_ae_us_per_step()
    rust_ae = cargo_bench("linear_ae_batching", "modrepro_us_per_step")
    torch_student = pytorch_student_iterations_per_second(1)
    torch_student_both = pytorch_student_iterations_per_second(default_threads)
    rust_student = cargo_bench("small_rnns", "student_iterations_per_second")
    print(f"| Lange MLP, batch 200 (Adam steps/s) | PyTorch {torch.__version__} CPU, 1 thread: {one:.0f} "
          f"| modrepro, 1 core: {rust:.0f} | modrepro / PyTorch = {rust / one:.2f} |")
    print(f"| the same | PyTorch, {default_threads} threads: {both:.0f} | modrepro, 1 core: {rust:.0f} "
          f"| modrepro / PyTorch = {rust / both:.2f} |")
    print(f"| Fig 1 linear autoencoder, one model (µs per Adam step) | PyTorch, 1 thread: {torch_ae:.1f} "
          f"| modrepro: {rust_ae:.2f} | modrepro / PyTorch throughput = {torch_ae / rust_ae:.0f} |")
    print(f"| Fig 3f–g student, batch 128 × 20 steps (iterations/s) | PyTorch, 1 thread: {torch_student:.0f}; "
          f"{default_threads} threads: {torch_student_both:.0f} | modrepro, 1 core: {rust_student:.0f} "
          f"| modrepro / PyTorch = {rust_student / torch_student:.2f} (1 thread), "
          f"{rust_student / torch_student_both:.2f} ({default_threads} threads) |")


if __name__ == "__main__":
    main()
