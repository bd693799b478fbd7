#!/usr/bin/env python3
"""Runs `aligncl op` (gemm, softmax, attention, infonce, layernorm) on the OpenCL and CPU
backends and compares the outputs and gradients with NumPy in float64 (max-abs error /
max-abs value <= 1e-4).

usage: check-against-numpy.py PATH/TO/aligncl [--small] [BACKEND ...]   (default: opencl cpu)
  --small  shapes of at most a few hundred per side (still primes, 1 and non-multiples of the
           tiles), for a simulated device such as Oclgrind, which interprets every work-item
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TOLERANCE = 1e-4


def normwise(got, expected):
    finite = np.isfinite(expected)
    if not np.array_equal(np.isfinite(got), finite) or not np.array_equal(got[~finite], expected[~finite]):
        return np.inf
    scale = np.abs(expected[finite]).max(initial=0.0)
    error = np.abs(got[finite] - expected[finite]).max(initial=0.0)
    return error / scale if scale > 0 else error


def softmax_reference(x, mask, scale, log):
    z = np.where(mask != 0, scale * x, -np.inf)
    top = z.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(mask != 0, np.exp(z - top), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    if not log:
        return p
    with np.errstate(divide="ignore"):
        return np.where(mask != 0, z - top - np.log(np.where(total > 0, total, 1.0)), -np.inf)


def softmax_grad_reference(y, dy, mask, scale, log):
    keep = mask != 0
    if log:
        p = np.where(keep, np.exp(np.where(keep, y, 0.0)), 0.0)
        return np.where(keep, scale * (dy - p * np.where(keep, dy, 0.0).sum(-1, keepdims=True)), 0.0)
    return np.where(keep, scale * y * (dy - (np.where(keep, dy * y, 0.0)).sum(-1, keepdims=True)), 0.0)


def attention_reference(q, k, v, keep, scale, causal, dout):
    """out and (dq, dk, dv) of softmax(scale q k^T) v over the visible keys; rows with none give 0."""
    lq, lk = q.shape[2], k.shape[2]
    visible = keep[:, None, None, :] != 0
    if causal:
        visible = visible & (np.arange(lk)[None, :] <= np.arange(lq)[:, None] + lk - lq)
    s = np.where(visible, scale * q @ np.swapaxes(k, -1, -2), -np.inf)
    top = s.max(-1, keepdims=True)
    e = np.where(visible, np.exp(s - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = e.sum(-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    dp = dout @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    return p @ v, scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ dout


def main():
    aligncl = sys.argv[1]
    small = "--small" in sys.argv[2:]
    backends = [name for name in sys.argv[2:] if name != "--small"] or ["opencl", "cpu"]
    rng = np.random.default_rng(0)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as work:
        def save(name, array):
            path = os.path.join(work, name)
            np.save(path, array)
            return path

        def run(args, outdir):
            result = subprocess.run([aligncl, *args, "--output-dir", outdir], capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(result.stderr.strip())
            return lambda name: np.load(os.path.join(outdir, name + ".npy")).astype(np.float64)

        def check(label, got, expected):
            nonlocal passed, failed
            error = normwise(got, expected)
            ok = error <= TOLERANCE and got.shape == expected.shape
            passed += ok
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {label}: error {error:.2e}", file=sys.stderr)

        for backend in backends:
            for (batch, m, n, k, ta, tb) in [(None, 70, 131, 33, False, False) if small else (None, 1024, 1024, 1024, False, False),
                                             (None, 37, 61, 29, True, False),
                                             (3, 17, 19, 23, False, True), (None, 1, 1, 1, True, True)]:
                lead = [] if batch is None else [batch]
                a = rng.standard_normal(lead + ([k, m] if ta else [m, k])).astype(np.float32)
                b = rng.standard_normal(lead + ([n, k] if tb else [k, n]))  # float64 input
                g = rng.standard_normal(lead + [m, n]).astype(np.float32)
                flags = (["--transpose-a"] if ta else []) + (["--transpose-b"] if tb else [])
                out = run(["op", "gemm", "--backend", backend, "--input", f"a={save('a.npy', a)}", "--input", f"b={save('b.npy', b)}",
                           "--grad-output", save("g.npy", g), *flags], os.path.join(work, f"gemm-{backend}-{m}"))
                a64, b64, g64 = a.astype(np.float64), b.astype(np.float32).astype(np.float64), g.astype(np.float64)
                opa = np.swapaxes(a64, -1, -2) if ta else a64
                opb = np.swapaxes(b64, -1, -2) if tb else b64
                grad_opa, grad_opb = g64 @ np.swapaxes(opb, -1, -2), np.swapaxes(opa, -1, -2) @ g64
                label = f"{backend} gemm {lead + [m, n, k]} tA={ta} tB={tb}"
                check(label + " c", out("c"), opa @ opb)
                check(label + " grad_a", out("grad_a"), np.swapaxes(grad_opa, -1, -2) if ta else grad_opa)
                check(label + " grad_b", out("grad_b"), np.swapaxes(grad_opb, -1, -2) if tb else grad_opb)

            for (shape, magnitude, scale, log, masked) in [([13, 300] if small else [4096, 4096], 10, 1.0, False, False), ([5, 17], 1e4, 0.5, True, True),
                                                          ([2, 3, 129], 1, 2.0, False, True), ([1, 1], 1, 1.0, True, False)]:
                x = (rng.standard_normal(shape) * magnitude).astype(np.float32)
                mask = rng.random(shape) > 0.4 if masked else np.ones(shape, dtype=bool)
                if masked:
                    mask.reshape(-1, shape[-1])[0] = False  # a fully masked row
                dy = rng.standard_normal(shape).astype(np.float32)
                args = ["op", "softmax", "--backend", backend, "--input", f"x={save('x.npy', x)}", "--grad-output", save("dy.npy", dy),
                        "--scale", str(scale)] + (["--log"] if log else []) + (["--input", f"mask={save('mask.npy', mask)}"] if masked else [])
                out = run(args, os.path.join(work, f"softmax-{backend}-{len(shape)}-{shape[-1]}"))
                y = softmax_reference(x.astype(np.float64), mask, scale, log)
                label = f"{backend} softmax {shape} x~{magnitude:g} scale {scale} log={log} masked={masked}"
                check(label + " y", out("y"), y)
                check(label + " grad_x", out("grad_x"), softmax_grad_reference(y, dy.astype(np.float64), mask, scale, log))
            # Attention: a fully masked batch (rows of zeros), causal with Lq < Lk, head widths
            # across the GPU kernels' buckets, logits ~1e3.
            for (b, h, lq, lk, d, dv, causal, masked, magnitude) in [(2, 2, 7, 13, 16, 8, False, True, 1), (1, 3, 5, 11, 64, 64, True, False, 1),
                                                                      (1, 1, 1, 1, 1, 1, False, False, 1), (1, 2, 19, 17, 100, 33, True, True, 30)]:
                q, k = [(rng.standard_normal((b, h, length, d)) * magnitude).astype(np.float32) for length in (lq, lk)]
                v = rng.standard_normal((b, h, lk, dv)).astype(np.float32)
                dout = rng.standard_normal((b, h, lq, dv)).astype(np.float32)
                keep = (rng.random((b, lk)) > 0.3).astype(np.float32) if masked else np.ones((b, lk), dtype=np.float32)
                if masked:
                    keep[0] = 0
                args = ["op", "attention", "--backend", backend, "--input", f"q={save('q.npy', q)}", "--input", f"k={save('k.npy', k)}",
                        "--input", f"v={save('v.npy', v)}", "--grad-output", save("dout.npy", dout)]
                args += (["--input", f"key_mask={save('keep.npy', keep)}"] if masked else []) + (["--causal"] if causal else [])
                out = run(args, os.path.join(work, f"attention-{backend}-{d}-{lq}"))
                expected = attention_reference(*(t.astype(np.float64) for t in (q, k, v)), keep, 1 / np.sqrt(d), causal, dout.astype(np.float64))
                label = f"{backend} attention B{b} H{h} Lq{lq} Lk{lk} D{d} Dv{dv} causal={causal} masked={masked} x~{magnitude:g}"
                for name, value in zip(["out", "grad_q", "grad_k", "grad_v"], expected):
                    check(f"{label} {name}", out(name), value)
            for (n, d, tau) in [(40 if small else 256, 64, 0.07), (1, 8, 0.5), (33, 5, 0.01)]:
                a = rng.standard_normal((n, d)).astype(np.float32)
                b = rng.standard_normal((n, d)).astype(np.float32)
                out = run(["op", "infonce", "--backend", backend, "--input", f"a={save('a.npy', a)}", "--input", f"b={save('b.npy', b)}",
                           "--temperature", str(tau)], os.path.join(work, f"infonce-{backend}-{n}"))
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                na, nb = np.linalg.norm(a64, axis=1, keepdims=True), np.linalg.norm(b64, axis=1, keepdims=True)
                u, v = a64 / na, b64 / nb
                logits = u @ v.T / tau
                def log_softmax(z):
                    m = z.max(axis=1, keepdims=True)
                    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
                loss = -0.5 * (np.diag(log_softmax(logits)).mean() + np.diag(log_softmax(logits.T)).mean())
                p_rows, p_cols = np.exp(log_softmax(logits)), np.exp(log_softmax(logits.T)).T
                ds = 0.5 * (p_rows - np.eye(n)) / n + 0.5 * (p_cols - np.eye(n)) / n
                du, dv = ds @ v / tau, ds.T @ u / tau
                grad_a = (du - u * (u * du).sum(1, keepdims=True)) / na
                grad_b = (dv - v * (v * dv).sum(1, keepdims=True)) / nb
                label = f"{backend} infonce N={n} D={d} tau={tau}"
                check(label + " loss", out("loss").reshape(()), np.array(loss))
                check(label + " logits", out("logits"), logits)
                check(label + " grad_a", out("grad_a"), grad_a)
                check(label + " grad_b", out("grad_b"), grad_b)
            for shape in [[9, 300] if small else [64, 768], [3, 5, 129], [1, 1]]:
                c = shape[-1]
                x = (rng.standard_normal(shape) * 3 + 50).astype(np.float32)
                w = (rng.standard_normal(c) + 1).astype(np.float32)
                bias = rng.standard_normal(c).astype(np.float32)
                dy = rng.standard_normal(shape).astype(np.float32)
                out = run(["op", "layernorm", "--backend", backend, "--input", f"x={save('x.npy', x)}", "--input", f"weight={save('w.npy', w)}",
                           "--input", f"bias={save('bias.npy', bias)}", "--grad-output", save("dy.npy", dy)],
                          os.path.join(work, f"layernorm-{backend}-{len(shape)}-{c}"))
                x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
                mean = x64.mean(-1, keepdims=True)
                rstd = 1 / np.sqrt(((x64 - mean) ** 2).mean(-1, keepdims=True) + 1e-5)
                xhat = (x64 - mean) * rstd
                g = dy64 * w64
                dx = rstd * (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True))
                axes = tuple(range(len(shape) - 1))
                label = f"{backend} layernorm {shape}"
                check(label + " y", out("y"), xhat * w64 + bias)
                check(label + " grad_x", out("grad_x"), dx)
                check(label + " grad_weight", out("grad_weight"), (dy64 * xhat).sum(axis=axes))
                check(label + " grad_bias", out("grad_bias"), dy64.sum(axis=axes))
    print(f"numpy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
