#!/usr/bin/env python3
"""The Lange et al. analysis, modrepro vs the authors' approach in numpy, same data, one run.

Times, per model (784→64→64→10 MLP, 2,000 inputs):
1. the four association matrices of both hidden layers — numpy computes per-sample Jacobians
   (batched einsum), as autograd-based code does;
2. Monte Carlo refinement of one 64-unit matrix for 5,000 steps — numpy rescores Q from scratch
   (one-hot P, e = PᵀAP / ΣA) for every candidate move, as the authors' code does.
modrepro's side is `cargo bench --bench lange_analysis -- DIR` on the same weights, inputs and
matrix (written here as .npy). Prints markdown rows for BENCHMARKS.md. Needs numpy.
"""
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import numpy as np
except ImportError:
    print("skipped: numpy is not installed")
    sys.exit(0)

rng = np.random.default_rng(0)
W = [rng.uniform(-1, 1, (784, 64)) / 28, rng.uniform(-1, 1, (64, 64)) / 8, rng.uniform(-1, 1, (64, 10)) / 8]
b = [rng.uniform(-0.1, 0.1, 64), rng.uniform(-0.1, 0.1, 64), rng.uniform(-0.1, 0.1, 10)]
X = rng.uniform(0, 1, (2000, 784)).astype(np.float32)


def associations(layer):
    z1 = X @ W[0] + b[0]
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W[1] + b[1]
    h2 = np.maximum(z2, 0)
    logits = h2 @ W[2] + b[2]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d1, d2 = (z1 > 0).astype(float), (z2 > 0).astype(float)
    h = h1 if layer == 0 else h2
    cov = np.cov(h.T, bias=True)
    # Jacobians dh/dx per sample: layer 0: D1 W1ᵀ; layer 1: D2 W2ᵀ D1 W1ᵀ.
    j1 = d1[:, :, None] * W[0].T[None]
    j = j1 if layer == 0 else np.einsum("nk,lk,nlp->nkp", d2, W[1].T, j1)
    input_gradient = np.einsum("nip,njp->ij", j, j) / len(X)
    # Logit Jacobians dy/dh: layer 1: W3 (constant); layer 0: W2 D2 W3.
    k = np.broadcast_to(W[2], (len(X), 64, 10)) if layer == 1 else np.einsum("ik,nk,ko->nio", W[1], d2, W[2])
    output_gradient = np.einsum("nio,njo->ij", k, k) / len(X)
    hy = np.einsum("no,op->nop", p, np.eye(10)) - np.einsum("no,np->nop", p, p)
    hessian = np.einsum("nio,nop,njp->ij", k, hy, k) / len(X)
    return cov, input_gradient, output_gradient, hessian


def q_of(A, labels):
    P = np.eye(labels.max() + 1)[labels]
    e = P.T @ A @ P / A.sum()
    return np.trace(e) - (e.sum(1) ** 2).sum()


def monte_carlo(A, steps=5000):
    labels = np.arange(len(A)) % 4
    for _ in range(steps):
        i = rng.integers(len(A))
        candidates = list(range(labels.max() + 2))
        scores = []
        for c in candidates:
            trial = labels.copy()
            trial[i] = c
            scores.append(q_of(A, np.unique(trial, return_inverse=True)[1]))
        scores = np.array(scores)
        lo, hi = -40.0, 10.0
        for _ in range(60):
            t = np.exp(0.5 * (lo + hi))
            w = np.exp((scores - scores.max()) / t)
            w /= w.sum()
            h = -(w[w > 0] * np.log(w[w > 0])).sum()
            lo, hi = (lo, 0.5 * (lo + hi)) if h > 0.15 else (0.5 * (lo + hi), hi)
        labels[i] = rng.choice(candidates, p=w)
        labels = np.unique(labels, return_inverse=True)[1]
    return labels


def main():
    started = time.perf_counter()
    mats = [associations(0), associations(1)]
    numpy_assoc = time.perf_counter() - started
    A = np.abs(mats[0][1])
    np.fill_diagonal(A, 0)
    started = time.perf_counter()
    monte_carlo(A)
    numpy_mc = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as d:
        for name, value in [("W1", W[0]), ("W2", W[1]), ("W3", W[2]), ("b1", b[0]), ("b2", b[1]), ("b3", b[2]), ("X", X), ("A", A)]:
            np.save(Path(d) / f"{name}.npy", np.ascontiguousarray(value))
        out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "lange_analysis", "--", d],
                             capture_output=True, text=True, check=True).stdout
    print(out, file=sys.stderr)
    rust_assoc = float(re.search(r"modrepro_associations_seconds=([0-9.]+)", out).group(1))
    rust_mc = float(re.search(r"modrepro_monte_carlo_seconds=([0-9.]+)", out).group(1))
    print(f"| 4 association matrices × 2 layers, 2,000 inputs | numpy (per-sample Jacobians): {numpy_assoc:.2f} s "
          f"| modrepro: {rust_assoc:.3f} s | {numpy_assoc / rust_assoc:.1f}× |")
    print(f"| Monte Carlo refinement, 64 units, 5,000 steps | numpy (Q rescored per candidate): {numpy_mc:.2f} s "
          f"| modrepro (incremental Q): {rust_mc:.3f} s | {numpy_mc / rust_mc:.0f}× |")


if __name__ == "__main__":
    main()
