"""The cases on tinygrad's OpenCL backend, in a worker process inside the virtualenv."""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

from cases import CLIP, Case
from clip_model import build_clip
from common import log
from measure import check_and_time
from reference import make_inputs


def tinygrad_open(device: str) -> dict:
    """Selects tinygrad's OpenCL backend (`DEV=CL` from tinygrad 0.11 on; older: CL=1/GPU=1) and opens it."""
    os.environ["DEV"] = device
    import tinygrad
    from tinygrad import Device
    try:
        chosen = Device.DEFAULT
    except Exception:  # noqa: BLE001 - older tinygrad: no DEV variable
        chosen = None
    if chosen is None or chosen.split(":")[0] not in ("CL", "GPU"):
        for name in (device, device.replace("CL", "GPU")):
            try:
                Device.DEFAULT = name  # tinygrad < 0.11
                chosen = name
                break
            except Exception:  # noqa: BLE001
                continue
    dev = Device[chosen]  # raises with the OpenCL error when the device cannot be opened
    return {"tinygrad": getattr(tinygrad, "__version__", None) or _dist_version("tinygrad"), "device": chosen,
            "device_name": getattr(dev, "device_name", None), "driver_version": getattr(dev, "driver_version", None)}


def _dist_version(name: str):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


def tinygrad_worker(case: Case, warmup: int, repetitions: int, device: str, jit: bool) -> dict:
    facts = tinygrad_open(device)
    from tinygrad import Tensor, TinyJit, Device, nn
    try:
        from tinygrad import Context
    except ImportError:
        from tinygrad.helpers import Context
    dev = Device[facts["device"]]
    facts["jit"] = jit
    x = make_inputs(case)
    t = {k: Tensor(v, device=facts["device"]).realize() for k, v in x.items()}
    dev.synchronize()

    def grads(loss, *targets):
        if hasattr(loss, "gradient"):
            return loss.gradient(*targets)
        loss.backward()
        return [target.grad for target in targets]

    if case.family == "gemm":
        def body(a, b):
            c = (a @ b).realize()
            return c
        args, names = (t["a"], t["b"]), ("c",)
    elif case.family == "softmax":
        def body(xx):
            return xx.softmax(-1).realize()
        args, names = (t["x"],), ("y",)
    elif case.family == "attention":
        def body(q, k, v, g):
            out = q.scaled_dot_product_attention(k, v)
            dq, dk, dv = grads((out * g).sum(), q, k, v)
            Tensor.realize(out, dq, dk, dv)
            return out, dq, dk, dv
        args, names = (t["q"], t["k"], t["v"], t["g"]), ("out", "dq", "dk", "dv")
    elif case.family == "infonce":
        scale = 1 / 0.07

        def body(a, b):
            an = a / (a * a).sum(1, keepdim=True).sqrt().maximum(1e-12)
            bn = b / (b * b).sum(1, keepdim=True).sqrt().maximum(1e-12)
            s = (an @ bn.T) * scale
            diagonal = (an * bn).sum(1) * scale
            loss = 0.5 * ((s.logsumexp(1) - diagonal).mean() + (s.logsumexp(0) - diagonal).mean())
            da, db = grads(loss, a, b)
            Tensor.realize(loss, da, db)
            return loss, da, db
        args, names = (t["a"], t["b"]), ("loss", "da", "db")
    elif case.family == "layernorm":
        def body(xx, w, b, g):
            y = xx.layernorm(axis=-1, eps=1e-5) * w + b
            dx, dw, db = grads((y * g).sum(), xx, w, b)
            Tensor.realize(y, dx, dw, db)
            return y, dx, dw, db
        args, names = (t["x"], t["w"], t["b"], t["g"]), ("y", "dx", "dw", "db")
    elif case.family == "train-step":
        Tensor.manual_seed(0)
        model = tinygrad_clip(Tensor, nn)
        params = nn.state.get_parameters(model)
        optimizer = nn.optim.AdamW(params, lr=CLIP["lr"], weight_decay=CLIP["weight_decay"])
        facts["parameters"] = int(sum(p.numel() for p in params))
        ids = t["ids"]

        def body(ids, images):
            with Context(TRAINING=1):
                optimizer.zero_grad()
                loss = model(ids, images)
                loss.backward()
                Tensor.realize(loss, *optimizer.schedule_step())
            return loss
        args, names = (ids, t["images"]), ("loss",)
    else:
        raise ValueError(case.key)

    step = TinyJit(body) if jit else body
    outputs = []

    def run():
        result = step(*args)
        outputs[:] = list(result) if isinstance(result, tuple) else [result]

    # First call: plain execution (the JIT captures on the second); its result is checked.
    started = time.perf_counter()
    run()
    dev.synchronize()
    log(f"tinygrad {case.key}: first run (kernel compilation) took {time.perf_counter() - started:.1f} s")
    first = {name: out.numpy().reshape(-1) if name == "loss" else out.numpy() for name, out in zip(names, outputs)}
    effective_warmup = max(warmup, 2) if jit else warmup  # call 2 captures, calls 3+ replay
    return check_and_time("tinygrad", case, x, first, dict(facts), run, dev.synchronize, effective_warmup, repetitions)


class _Module:
    """A plain base class for tinygrad's model parts: calling one runs its forward."""

    def __init__(self):
        pass

    def __call__(self, *args):
        return self.forward(*args)


def tinygrad_clip(Tensor, nn):
    def normalize(v):
        return v / (v * v).sum(-1, keepdim=True).sqrt().maximum(1e-12)

    def loss(text, vision, log_scale):
        t = normalize(text)
        v = normalize(vision)
        logits = (v @ t.T) * log_scale.minimum(CLIP["max_log_scale"]).exp()
        labels = Tensor.arange(logits.shape[0])
        return 0.5 * (logits.sparse_categorical_crossentropy(labels) + logits.T.sparse_categorical_crossentropy(labels))

    model = build_clip(SimpleNamespace(
        Module=_Module, nn=nn, parameter=lambda t: t, randn=Tensor.randn, module_list=list,
        scalar=lambda x: Tensor([x]), attention=lambda q, k, v: q.scaled_dot_product_attention(k, v),
        gelu=lambda x: x.gelu(approximate="none"),
        prepend=lambda cls, x: cls.expand(x.shape[0], 1, CLIP["width"]).cat(x, dim=1), loss=loss))
    # Realize the initial weights (scaled randn etc. are lazy until then).
    Tensor.realize(*nn.state.get_parameters(model))
    return model
