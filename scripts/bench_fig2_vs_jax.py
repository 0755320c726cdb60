#!/usr/bin/env python3
"""modrepro vs the authors' stack on the same machine, in one run (Dorrell et al. 2025, Fig 2).

1. Training throughput of the Fig 2 autoencoder (3→16→16→6→16→16→3, ReLU, batch 512, AdamW
   lr 1e-3, the paper's loss) for one model: JAX on CPU (jit-compiled step, as the authors'
   equinox/optax code) vs `cargo bench --bench mlp_ae_throughput`.
2. Time of the information metrics (NMI + NCMI → InfoM, CInfoM; data tiled twice, noise 0.01,
   k = 2) on one run's latents: scikit-learn's `mutual_info_classif`, called as the authors'
   `compute_metrics` does, vs `cargo bench --bench info_metrics` on the same CSV.

Prints markdown rows for BENCHMARKS.md. Needs numpy, scikit-learn, jax and optax; exits 0 with
a message when they are missing. Run from the repository root.
"""
import csv
import re
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as missing:
    print(f"skipped: {missing.name} is not installed (pip install numpy jax optax)")
    sys.exit(0)
try:  # only the metrics comparison needs it
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.preprocessing import StandardScaler
except ImportError:
    mutual_info_classif = None

RUNS = 8  # the batched sweep: this many runs in one program (JAX: vmap)

STEPS = 2000
WIDTHS = [3, 16, 16, 6, 16, 16, 3]
ENCODER_LAYERS = 3


def grid():
    v = np.linspace(0.0, 1.0, 21)
    labels = np.stack(np.meshgrid(np.arange(21), np.arange(21), np.arange(21), indexing="ij"), -1).reshape(-1, 3)
    return labels, v[labels].astype(np.float32)


def init(key):
    params = []
    for fan_in, fan_out in zip(WIDTHS[:-1], WIDTHS[1:]):
        key, kw, kb = jax.random.split(key, 3)
        w = 0.3 / np.sqrt(fan_in) * jax.random.normal(kw, (fan_in, fan_out))
        b = jax.random.uniform(kb, (fan_out,), minval=-1 / np.sqrt(fan_in), maxval=1 / np.sqrt(fan_in))
        params.append((w, b))
    return params


def loss(params, x):
    h = x
    z = None
    for layer, (w, b) in enumerate(params):
        h = h @ w + b
        if layer + 1 == ENCODER_LAYERS:
            z = h
        elif layer + 1 < len(params):
            h = jax.nn.relu(h)
    reconstruction = jnp.mean((x - h) ** 2)
    activity = jnp.mean(z**2)
    negativity = jnp.mean(jax.nn.relu(-z))
    weights = sum(jnp.sum(w**2) for w, _ in params)
    return reconstruction + 1e-2 * activity + negativity + 1e-4 * weights


def jax_steps_per_second(data, runs=None):
    """Optimiser steps per second of one model (`runs` None), or run-steps per second of `runs`
    models trained as one program by `jax.vmap` (each run its own minibatches)."""
    optimiser = optax.adamw(1e-3, eps=1e-8, weight_decay=1e-4)

    def step(params, state, x):
        grads = jax.grad(loss)(params, x)
        updates, state = optimiser.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    rng = np.random.default_rng(0)
    if runs is None:
        params = init(jax.random.PRNGKey(0))
        state = optimiser.init(params)
        step = jax.jit(step)
        batches = [data[rng.choice(len(data), 512, replace=False)] for _ in range(64)]
    else:
        params = jax.vmap(init)(jax.random.split(jax.random.PRNGKey(0), runs))
        state = jax.vmap(optimiser.init)(params)
        step = jax.jit(jax.vmap(step))
        batches = [np.stack([data[rng.choice(len(data), 512, replace=False)] for _ in range(runs)]) for _ in range(16)]
    for i in range(50):  # compile and warm up
        params, state = step(params, state, batches[i % len(batches)])
    jax.block_until_ready(params)
    started = time.perf_counter()
    for i in range(STEPS):
        params, state = step(params, state, batches[i % len(batches)])
    jax.block_until_ready(params)
    return STEPS * (runs or 1) / (time.perf_counter() - started)


def authors_metrics_seconds(sources, latents):
    """NMI and NCMI as the authors' compute_metrics (continuous latents, discrete sources)."""
    started = time.perf_counter()
    s = np.tile(sources, (2, 1))
    z = StandardScaler().fit_transform(np.tile(latents, (2, 1)))
    z = z + np.random.default_rng(0).normal(0, 0.01, size=z.shape)
    joint = np.unique(s, axis=0, return_inverse=True)[1].ravel()
    mi = lambda zj, labels: mutual_info_classif(zj.reshape(-1, 1), labels, discrete_features=False, n_neighbors=2)[0]
    i_joint = [mi(z[:, j], joint) for j in range(z.shape[1])]
    for i in range(3):
        rest = np.unique(np.delete(s, i, axis=1), axis=0, return_inverse=True)[1].ravel()
        for j in range(z.shape[1]):
            mi(z[:, j], s[:, i])
            i_joint[j] - mi(z[:, j], rest)
    return time.perf_counter() - started


def cargo_bench(name, *args):
    """The bench's `key=value` lines, as floats."""
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", name, "--", *args], capture_output=True, text=True, check=True
    ).stdout
    print(out, file=sys.stderr)
    return {k: float(v) for k, v in re.findall(r"^(\w+)=([0-9.]+)\s*$", out, re.MULTILINE)}


def main():
    labels, values = grid()
    jax_rate = jax_steps_per_second(values)
    jax_batched = jax_steps_per_second(values, RUNS)
    rust = cargo_bench("mlp_ae_throughput", str(STEPS))
    rust_rate, rust_batched = rust["modrepro_steps_per_second"], rust[f"modrepro_run_steps_per_second_{RUNS}"]
    print(f"| Fig 2 AE training, 1 model, batch 512 | JAX {jax.__version__} CPU: {jax_rate:.0f} steps/s "
          f"| modrepro (flex): {rust_rate:.0f} steps/s | modrepro / JAX = {rust_rate / jax_rate:.2f} |")
    print(f"| the same, {RUNS} runs in one program (run-steps/s) | JAX vmap: {jax_batched:.0f} "
          f"| modrepro: {rust_batched:.0f} | modrepro / JAX = {rust_batched / jax_batched:.2f} |")
    if mutual_info_classif is None:
        print("metrics comparison skipped: scikit-learn is not installed")
        return
    rng = np.random.default_rng(1)
    latents = np.maximum(values @ rng.normal(size=(3, 6)), 0.0)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["s0", "s1", "s2"] + [f"z{j}" for j in range(6)])
        writer.writerows([list(map(int, l)) + list(map(float, z)) for l, z in zip(labels, latents)])
        path = f.name
    sklearn_seconds = min(authors_metrics_seconds(labels, latents) for _ in range(3))
    rust_seconds = cargo_bench("info_metrics", path)["modrepro_metrics_seconds"]
    print(f"| Fig 2 metrics, 9,261 samples × 6 latents | scikit-learn: {sklearn_seconds:.2f} s "
          f"| modrepro: {rust_seconds:.3f} s | speed-up {sklearn_seconds / rust_seconds:.1f}× |")


if __name__ == "__main__":
    main()
