#!/usr/bin/env python3
"""modrepro vs JAX on the same machine, in one run (Krause et al. 2022 rate RNN, BPTT).

The same model and training step on both sides: N = 100 units, α = 0.1, σ = 0.1 network noise,
x_{t+1} = (1 − α) x_t + α (u_t B + tanh(x_t) W + σ ξ_t), z_t = tanh(x_t) w_out, mean squared
error over every step, Adam (lr 2e-3) after a global gradient-norm clip of 1.0.
Context-dependent integration, batch 32 × 1,400 steps, and sine generation, batch 51 × 500.
JAX: `lax.scan` over time inside one jit-compiled step (inputs and noise made on the host, as
modrepro does). modrepro: `cargo bench --bench rnn_bptt`.

Prints markdown rows for BENCHMARKS.md. Needs numpy, jax and optax; exits 0 with a message
when they are missing. Run from the repository root.
"""
import re
import subprocess
import sys
import time

try:
    import numpy as np
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as missing:
    print(f"skipped: {missing.name} is not installed (pip install numpy jax optax)")
    sys.exit(0)

ITERATIONS = 10
N = 100
ALPHA = 0.1
SIGMA = 0.1
COHERENCES = np.array([-0.5, -0.12, -0.03, 0.03, 0.12, 0.5]) * 0.3


def integration_batch(rng, batch=32):
    steps = 1400
    u = np.zeros((steps, batch, 5), np.float32)
    y = np.zeros((steps, batch, 1), np.float32)
    for b in range(batch):
        ctx = rng.integers(2)
        coh = rng.choice(COHERENCES, 2)
        u[:, b, 2 + ctx] = 1.0
        u[650:, b, :2] = coh + rng.normal(size=(750, 2))
        y[650:, b, 0] = np.clip(np.cumsum(0.02 * u[650:, b, ctx]), -1, 1)
    return u, y


def sine_batch():
    j = np.arange(1, 52)
    t = np.arange(1, 501) / 1000.0
    u = np.broadcast_to((j / 51 + 0.25)[None, :, None], (500, 51, 1)).astype(np.float32)
    y = np.sin(2 * np.pi * (1 + 0.1 * (j - 1))[None, :] * t[:, None])[..., None].astype(np.float32)
    return u, y


def init(inputs, key):
    k1, k2, k3 = jax.random.split(key, 3)
    b = jax.random.normal(k2, (inputs, N))
    w_out = jax.random.normal(k3, (N, 1))
    return {
        "w": jax.random.normal(k1, (N, N)) / np.sqrt(N),
        "b": b / jnp.linalg.norm(b, axis=0, keepdims=True),
        "w_out": w_out / jnp.linalg.norm(w_out),
    }


def loss(params, u, y, noise):
    def step(x, inp):
        u_t, xi_t = inp
        x = (1 - ALPHA) * x + ALPHA * (u_t @ params["b"] + jnp.tanh(x) @ params["w"] + SIGMA * xi_t)
        return x, jnp.tanh(x)

    x0 = jnp.zeros((u.shape[1], N))
    _, rates = jax.lax.scan(step, x0, (u, noise))
    return jnp.mean((rates @ params["w_out"] - y) ** 2)


def jax_seconds_per_iteration(make_batch, inputs):
    optimiser = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(2e-3))
    params = init(inputs, jax.random.PRNGKey(0))
    state = optimiser.init(params)

    @jax.jit
    def train_step(params, state, u, y, noise):
        value, grads = jax.value_and_grad(loss)(params, u, y, noise)
        updates, state = optimiser.update(grads, state)
        return optax.apply_updates(params, updates), state, value

    rng = np.random.default_rng(0)

    def one(params, state):
        u, y = make_batch(rng)
        noise = rng.normal(size=(u.shape[0], u.shape[1], N)).astype(np.float32)
        params, state, value = train_step(params, state, u, y, noise)
        value.block_until_ready()
        return params, state

    params, state = one(params, state)  # compile
    started = time.perf_counter()
    for _ in range(ITERATIONS):
        params, state = one(params, state)
    return (time.perf_counter() - started) / ITERATIONS


def cargo_bench(name, *args):
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", name, "--", *args], capture_output=True, text=True, check=True
    ).stdout
    print(out, file=sys.stderr)
    rows = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| (\w+) \| [^|]+\| ([0-9.]+) \|", out, re.M)}
    return rows


def main():
    jax_integration = jax_seconds_per_iteration(integration_batch, 5)
    jax_sine = jax_seconds_per_iteration(lambda rng: sine_batch(), 1)
    rust = cargo_bench("rnn_bptt", str(ITERATIONS))
    for task, shape, jax_s in [
        ("ContextIntegration", "32 × 1,400", jax_integration),
        ("SineWave", "51 × 500", jax_sine),
    ]:
        ours = rust[task]
        print(f"| RNN BPTT, {task}, batch {shape} | JAX {jax.__version__} CPU: {jax_s:.3f} s/iteration "
              f"| modrepro (CPU, hand-written BPTT): {ours:.3f} s/iteration | modrepro / JAX throughput = {jax_s / ours:.2f} |")


if __name__ == "__main__":
    main()
