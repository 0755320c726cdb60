#!/usr/bin/env python3
"""modrepro vs JAX on the same machine, in one run: the small RNNs of Dorrell et al. 2025.

1. Fig 3a–b linear RNN: 16 units, one sequence of 200 steps (pulse trains in, cosines out),
   h_t = W h_{t-1} + b_rec + W_in x_t + b_in, y_t = W_out h_t + b_out; loss = MSE + 0.5 mean h^2
   + 0.02 (|W|^2 + |W_in|^2 + |W_out|^2) + 5 mean 0.5 (h - |h|)^2; Adam lr 1e-3 after a global
   gradient-norm clip of 2 (optax.clip_by_global_norm).
2. Fig 4 action-conditioned linear RNN: 64 units, 4 actions, 3x3 room, 10 rooms x 26 states;
   g_0 = I onehot(reward) + b, g_t = W_a g_{t-1} + b_a, y = R g; loss = 100 relu(MSE - 1e-3)
   + 0.1 mean sum g^2 + 0.01 (sum |W_a|^2 + |R|^2 + |I|^2) + 100 mean sum relu(-g); Adam 1e-3.
3. Fig 3f–g student: ReLU RNN, 64 units, 2 inputs, 2 outputs, 128 sequences x 20 steps from a
   pool of 1,280; loss = beta MSE + mean h^2 + sum over matrices of mean(W^2), beta adapted by
   GECO (beta *= exp(0.2 (EMA_0.9(MSE) - 3e-4))); Adam 2e-3 after a gradient-norm clip of 2.

JAX: `lax.scan` over time inside one jit-compiled training step, float64 like modrepro for 1
and 2 (jax_enable_x64), batches made on the host per step as modrepro does. The student runs in
float32, as modrepro's and the authors' (PyTorch float32) do; its float64 row is kept for
comparison with earlier records. modrepro:
`cargo bench --bench small_rnns`. Prints markdown rows for BENCHMARKS.md. Needs numpy, jax and
optax; exits 0 with a message when they are missing. Run from the repository root.
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

jax.config.update("jax_enable_x64", True)
SECONDS = float(__import__("os").environ.get("BENCH_SECONDS", "3.0"))


def timed(step, state, make_batch):
    state = step(state, *make_batch())  # compile
    jax.block_until_ready(state)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        state = step(state, *make_batch())
        done += 1
    jax.block_until_ready(state)
    return done / (time.perf_counter() - started)


def frequency_rnn():
    n, steps, dt, f1, f2 = 16, 200, 0.1, 3.7, 6.1
    t = np.arange(steps) * dt
    x = np.zeros((steps, 2))
    for k, f in enumerate((f1, f2)):
        for m in range(100):
            s = int(2 * np.pi * m / (f * dt))
            if s < steps:
                x[s, k] = 1.0
    y = np.stack([np.cos(f1 * t), np.cos(f2 * t)], 1)
    key = jax.random.PRNGKey(0)
    ortho = jax.nn.initializers.orthogonal()
    k = jax.random.split(key, 3)
    params = {"w": ortho(k[0], (n, n), jnp.float64), "b_rec": jnp.zeros(n),
              "w_in": ortho(k[1], (n, 2), jnp.float64), "b_in": jnp.zeros(n),
              "w_out": ortho(k[2], (2, n), jnp.float64), "b_out": jnp.zeros(2)}

    def loss(p, x, y):
        def cell(h, xt):
            h = p["w"] @ h + p["b_rec"] + p["w_in"] @ xt + p["b_in"]
            return h, h
        _, hs = jax.lax.scan(cell, jnp.zeros(n), x)
        out = hs @ p["w_out"].T + p["b_out"]
        weights = sum(jnp.sum(p[m] ** 2) for m in ("w", "w_in", "w_out"))
        return (jnp.mean((out - y) ** 2) + 0.5 * jnp.mean(hs ** 2) + 0.02 * weights
                + 5 * jnp.mean(0.5 * (hs - jnp.abs(hs)) ** 2))

    opt = optax.chain(optax.clip_by_global_norm(2.0), optax.adam(1e-3))

    @jax.jit
    def step(state, x, y):
        p, s = state
        g = jax.grad(loss)(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    xs, ys = jnp.asarray(x), jnp.asarray(y)
    return timed(step, (params, opt.init(params)), lambda: (xs, ys))


def entorhinal_rnn():
    n, side, rooms, actions_per_walk = 64, 3, 10, 25
    cells = side * side
    rng = np.random.default_rng(0)
    key = jax.random.split(jax.random.PRNGKey(1), 6)
    ortho = jax.nn.initializers.orthogonal()
    params = {"w": jnp.stack([ortho(k, (n, n), jnp.float64) for k in jax.random.split(key[0], 4)]),
              "b_a": 0.1 * jax.random.normal(key[1], (4, n), jnp.float64),
              "i": 0.1 * jax.random.normal(key[2], (n, cells), jnp.float64),
              "b": 0.1 * jax.random.normal(key[3], (n,), jnp.float64),
              "r": 0.1 * jax.random.normal(key[4], (2 * cells, n), jnp.float64)}
    moves = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])

    def batch():
        reward = np.where(rng.random(rooms)[:, None] < 0.5, [[1, 1]], rng.integers(0, side, (rooms, 2)))
        acts = rng.integers(0, 4, (rooms, actions_per_walk))
        pos = np.zeros((rooms, actions_per_walk + 1, 2), int)
        for t in range(actions_per_walk):
            pos[:, t + 1] = (pos[:, t] + moves[acts[:, t]]) % side
        disp = (reward[:, None, :] - pos) % side
        target = np.zeros((rooms, actions_per_walk + 1, 2 * cells))
        r_idx, t_idx = np.meshgrid(np.arange(rooms), np.arange(actions_per_walk + 1), indexing="ij")
        target[r_idx, t_idx, pos[..., 0] * side + pos[..., 1]] = 1
        target[r_idx, t_idx, cells + disp[..., 0] * side + disp[..., 1]] = 1
        onehot = np.eye(cells)[reward[:, 0] * side + reward[:, 1]]
        return jnp.asarray(onehot), jnp.asarray(acts.T), jnp.asarray(target)

    def loss(p, onehot, acts, target):
        g0 = onehot @ p["i"].T + p["b"]

        def cell(g, a):
            g = jnp.einsum("rij,rj->ri", p["w"][a], g) + p["b_a"][a]
            return g, g
        _, gs = jax.lax.scan(cell, g0, acts)
        gs = jnp.concatenate([g0[None], gs]).transpose(1, 0, 2)
        mse = jnp.mean((gs @ p["r"].T - target) ** 2)
        weights = jnp.sum(p["w"] ** 2) + jnp.sum(p["r"] ** 2) + jnp.sum(p["i"] ** 2)
        return (100 * jax.nn.relu(mse - 1e-3) + 0.1 * jnp.mean(jnp.sum(gs ** 2, -1)) + 0.01 * weights
                + 100 * jnp.mean(jnp.sum(jax.nn.relu(-gs), -1)))

    opt = optax.adam(1e-3)

    @jax.jit
    def step(state, onehot, acts, target):
        p, s = state
        g = jax.grad(loss)(p, onehot, acts, target)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    return timed(step, (params, opt.init(params)), batch)


def student_rnn(dtype):
    n, steps, batch, pool = 64, 20, 128, 1280
    rng = np.random.default_rng(2)
    xs = jnp.asarray(rng.uniform(-1, 1, (pool, steps, 2)), dtype)
    ys = jnp.asarray(rng.uniform(-0.5, 0.5, (pool, steps, 2)), dtype)
    key = jax.random.split(jax.random.PRNGKey(3), 6)
    bound = 1 / np.sqrt(n)
    u = lambda k, shape: jax.random.uniform(k, shape, dtype, -bound, bound)
    w_in = jax.random.uniform(key[1], (n, 2), dtype)
    params = {"w": u(key[0], (n, n)), "b_rec": u(key[2], (n,)), "w_in": w_in / jnp.linalg.norm(w_in),
              "b_in": u(key[3], (n,)), "w_out": u(key[4], (2, n)), "b_out": u(key[5], (2,))}

    def loss(p, beta, x, y):
        def cell(h, xt):
            h = jax.nn.relu(h @ p["w"].T + p["b_rec"] + xt @ p["w_in"].T + p["b_in"])
            return h, h
        _, hs = jax.lax.scan(cell, jnp.zeros((x.shape[0], n), dtype), x.transpose(1, 0, 2))
        out = hs @ p["w_out"].T + p["b_out"]
        mse = jnp.mean((out - y.transpose(1, 0, 2)) ** 2)
        weights = sum(jnp.mean(p[m] ** 2) for m in ("w", "w_in", "w_out"))
        return beta * mse + jnp.mean(hs ** 2) + weights, mse

    opt = optax.chain(optax.clip_by_global_norm(2.0), optax.adam(2e-3))

    @jax.jit
    def step(state, x, y):
        p, s, beta, ema = state
        g, mse = jax.grad(loss, has_aux=True)(p, beta, x, y)
        u, s = opt.update(g, s, p)
        ema = 0.9 * ema + 0.1 * mse
        return optax.apply_updates(p, u), s, beta * jnp.exp(0.2 * (ema - 3e-4)), ema

    batches = iter(range(10 ** 9))

    def make_batch():
        start = (next(batches) * batch) % pool
        return xs[start:start + batch], ys[start:start + batch]

    return timed(step, (params, opt.init(params), dtype(10.0), dtype(0.0)), make_batch)


def main():
    jax_frequency = frequency_rnn()
    jax_entorhinal = entorhinal_rnn()
    jax_student = student_rnn(jnp.float32)
    jax_student_f64 = student_rnn(jnp.float64)
    out = subprocess.run(["cargo", "bench", "--bench", "small_rnns", "--", str(SECONDS)],
                         capture_output=True, text=True, check=True).stdout
    ours = dict(re.findall(r"(\w+)_iterations_per_second=([\d.]+)", out))
    rows = [("Fig 3a–b linear RNN (16 units, 1 × 200 steps)", jax_frequency, float(ours["frequency"])),
            ("Fig 4 action-conditioned RNN (64 units, 10 × 26 states)", jax_entorhinal, float(ours["entorhinal"])),
            ("Fig 3f–g ReLU student (64 units, 128 × 20 steps), float32 both", jax_student, float(ours["student"])),
            ("the same, modrepro on two threads (JAX: its default, both cores)", jax_student,
             float(ours["student_two_threads"])),
            ("the same, JAX in float64 (modrepro float32, one thread)", jax_student_f64, float(ours["student"]))]
    print(f"JAX {jax.__version__}, optax {optax.__version__}, on CPU")
    print("| model | JAX iterations/s | modrepro iterations/s | modrepro / JAX |")
    print("| --- | --- | --- | --- |")
    for name, theirs, mine in rows:
        print(f"| {name} | {theirs:.0f} | {mine:.0f} | **{mine / theirs:.2f}** |")


if __name__ == "__main__":
    main()
