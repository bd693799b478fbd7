"""Seeded inputs for each case and the float64 NumPy reference its first run is checked against.
NumPy is imported inside the functions: only the workers, in the virtualenv, call them."""
from __future__ import annotations

import math

from cases import ATT, CLIP, LN, NCE, TRAIN_BATCH, Case


def normwise_error(got, expected) -> float:
    import numpy as np
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-30))


CHECK_TOLERANCE = 1e-3


class Inputs:
    """Seeded inputs, uniform in [-1, 1) like AlignCL's SeededValues; float64 references."""

    def __init__(self):
        import numpy as np
        self.np = np
        self.rng = np.random.default_rng(20261129)

    def uniform(self, *shape, scale=1.0):
        return (self.rng.uniform(-1.0, 1.0, size=shape) * scale).astype(self.np.float32)


def reference(case: Case, x: dict) -> dict:
    """Float64 NumPy results (outputs and gradients) for the check."""
    import numpy as np
    f = {k: np.asarray(v, dtype=np.float64) for k, v in x.items() if k not in ("ids", "images")}
    if case.family == "gemm":
        return {"c": f["a"] @ f["b"]}
    if case.family == "softmax":
        e = np.exp(f["x"] - f["x"].max(-1, keepdims=True))
        return {"y": e / e.sum(-1, keepdims=True)}
    if case.family == "attention":
        q, k, v, g = f["q"], f["k"], f["v"], f["g"]
        scale = 1.0 / math.sqrt(q.shape[-1])
        s = (q @ np.swapaxes(k, -1, -2)) * scale
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out = p @ v
        dp = g @ np.swapaxes(v, -1, -2)
        dv = np.swapaxes(p, -1, -2) @ g
        ds = p * (dp - (g * out).sum(-1, keepdims=True))
        return {"out": out, "dq": ds @ k * scale, "dk": np.swapaxes(ds, -1, -2) @ q * scale, "dv": dv}
    if case.family == "infonce":
        a, b, scale = f["a"], f["b"], 1 / 0.07
        na = np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        an, bn = a / na, b / nb
        s = scale * an @ bn.T
        n = s.shape[0]

        def lse(m, axis):
            mx = m.max(axis, keepdims=True)
            return (mx + np.log(np.exp(m - mx).sum(axis, keepdims=True))).squeeze(axis)

        d = np.diag(s)
        loss = 0.5 * (np.mean(lse(s, 1) - d) + np.mean(lse(s, 0) - d))
        pr = np.exp(s - s.max(1, keepdims=True))
        pr /= pr.sum(1, keepdims=True)
        pc = np.exp(s - s.max(0, keepdims=True))
        pc /= pc.sum(0, keepdims=True)
        ds = 0.5 * (pr - np.eye(n)) / n + 0.5 * (pc - np.eye(n)) / n
        dan, dbn = scale * ds @ bn, scale * ds.T @ an
        da = (dan - an * (dan * an).sum(1, keepdims=True)) / na
        db = (dbn - bn * (dbn * bn).sum(1, keepdims=True)) / nb
        return {"loss": np.array([loss]), "da": da, "db": db}
    if case.family == "layernorm":
        x, w, b, g = f["x"], f["w"], f["b"], f["g"]
        mean = x.mean(-1, keepdims=True)
        rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-5)
        xhat = (x - mean) * rstd
        dxhat = g * w
        dx = (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)) * rstd
        return {"y": xhat * w + b, "dx": dx, "dw": (g * xhat).sum(0), "db": g.sum(0)}
    return {}


def make_inputs(case: Case) -> dict:
    gen = Inputs()
    if case.family == "gemm":
        n = case.params["m"]
        return {"a": gen.uniform(n, n), "b": gen.uniform(n, n)}
    if case.family == "softmax":
        return {"x": gen.uniform(case.params["rows"], case.params["columns"], scale=10.0)}
    if case.family == "attention":
        shape = (ATT["batch"], ATT["heads"], ATT["length"], ATT["dimension"])
        return {k: gen.uniform(*shape) for k in ("q", "k", "v", "g")}
    if case.family == "infonce":
        return {"a": gen.uniform(NCE["rows"], NCE["dimension"]), "b": gen.uniform(NCE["rows"], NCE["dimension"])}
    if case.family == "layernorm":
        return {"x": gen.uniform(LN["rows"], LN["columns"]), "w": gen.uniform(LN["columns"]),
                "b": gen.uniform(LN["columns"]), "g": gen.uniform(LN["rows"], LN["columns"])}
    if case.family == "train-step":
        np = gen.np
        return {"ids": gen.rng.integers(0, CLIP["vocabulary"], size=(TRAIN_BATCH, CLIP["tokens"])).astype(np.int32),
                "images": gen.uniform(TRAIN_BATCH, 3, CLIP["image"], CLIP["image"])}
    raise ValueError(case.key)


def check_outputs(case: Case, inputs: dict, got: dict) -> float:
    expected = reference(case, inputs)
    return max((normwise_error(got[k], expected[k]) for k in expected), default=0.0)
