"""The cases on PyTorch, in a worker process inside the virtualenv: its CPU path with 2 threads, or
with --torch-device cuda a CUDA GPU in strict FP32 (TF32 off)."""
from __future__ import annotations

from types import SimpleNamespace

from cases import CLIP, LN, NCE, Case
from clip_model import build_clip
from common import PeerUnavailable
from measure import check_and_time, time_runs
from reference import make_inputs


def torch_setup(torch, device: str) -> tuple[dict, object]:
    """Facts about where PyTorch runs, and the sync that waits for its work to finish."""
    if device == "cpu":
        torch.set_num_threads(2)
        return {"torch": torch.__version__, "threads": torch.get_num_threads()}, lambda: None
    if not torch.cuda.is_available():
        built = (f"this torch is built for CUDA {torch.version.cuda} but finds no usable GPU or driver"
                 if torch.version.cuda else "this torch is a CPU-only build (--torch-spec installs another)")
        raise PeerUnavailable(f"CUDA is not available to PyTorch {torch.__version__}: {built}")
    # Before any tensor exists: the comparison is FP32, and PyTorch would otherwise be free to run
    # FP32 matmuls and convolutions as TF32 on Ampere and later (10 mantissa bits, not 23).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    facts = {"torch": torch.__version__, "device": "cuda", "device_name": torch.cuda.get_device_name(),
             "cuda": torch.version.cuda,
             "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
             "float32_matmul_precision": torch.get_float32_matmul_precision()}
    # CUDA launches return at once: each timed run ends when the GPU has finished.
    return facts, torch.cuda.synchronize


def torch_worker(case: Case, warmup: int, repetitions: int, device: str = "cpu") -> dict:
    import torch
    import torch.nn.functional as F
    facts, sync = torch_setup(torch, device)
    x = make_inputs(case)
    t = {k: torch.from_numpy(v).to(device) for k, v in x.items()}  # .to("cpu") is the same tensor
    notes = []
    if case.family == "gemm":
        c = torch.empty(case.params["m"], case.params["n"], device=device)

        def run():
            torch.matmul(t["a"], t["b"], out=c)
            return {"c": c}
    elif case.family == "softmax":
        y = torch.empty_like(t["x"])
        ref = torch.softmax(t["x"], -1)
        attempts = [
            ("torch._softmax(x, -1, False, out=y)", lambda: torch._softmax(t["x"], -1, False, out=y)),
            ("torch.ops.aten._softmax.out(x, -1, False, out=y)", lambda: torch.ops.aten._softmax.out(t["x"], -1, False, out=y)),
            ("torch.softmax(x, -1, out=y)", lambda: torch.softmax(t["x"], -1, out=y)),
        ]
        chosen = None
        for label, attempt in attempts:
            try:
                y.zero_()
                attempt()
                if torch.allclose(y, ref, rtol=1e-5, atol=1e-7):
                    chosen = (label, attempt)
                    break
                notes.append(f"{label}: wrong result")
            except Exception as error:  # noqa: BLE001 - any failure means: try the next form
                notes.append(f"{label}: {type(error).__name__}")
        if chosen is None:
            notes.append("no preallocated form worked: timing torch.softmax(x, -1), which allocates")
            facts["softmax_form"] = "torch.softmax(x, -1) (allocating)"

            def run():
                return {"y": torch.softmax(t["x"], -1)}
        else:
            facts["softmax_form"] = chosen[0]
            # The allocating form too, for the JSON.
            allocating = time_runs(lambda: torch.softmax(t["x"], -1), sync, warmup, repetitions)
            facts["allocating_median_s"] = allocating["median_s"]

            def run(form=chosen[1]):
                form()
                return {"y": y}
    elif case.family == "attention":
        q, k, v = (t[n].clone().requires_grad_(True) for n in ("q", "k", "v"))
        if device != "cpu":
            facts["sdpa_backend"] = sdpa_backend(torch, q, k, v)

        # The default scale, 1/sqrt(D), and no mask, as reference.py and AlignCL.
        def run():
            out = F.scaled_dot_product_attention(q, k, v)
            dq, dk, dv = torch.autograd.grad(out, (q, k, v), t["g"])
            return {"out": out, "dq": dq, "dk": dk, "dv": dv}
    elif case.family == "infonce":
        a, b = (t[n].clone().requires_grad_(True) for n in ("a", "b"))
        labels = torch.arange(NCE["rows"], device=device)

        def run():
            s = (1 / 0.07) * F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
            loss = 0.5 * (F.cross_entropy(s, labels) + F.cross_entropy(s.T, labels))
            da, db = torch.autograd.grad(loss, (a, b))
            return {"loss": loss.detach().reshape(1), "da": da, "db": db}
    elif case.family == "layernorm":
        xx, w, b = (t[n].clone().requires_grad_(True) for n in ("x", "w", "b"))

        def run():
            y = F.layer_norm(xx, (LN["columns"],), w, b, 1e-5)
            dx, dw, db = torch.autograd.grad(y, (xx, w, b), t["g"])
            return {"y": y, "dx": dx, "dw": dw, "db": db}
    elif case.family == "train-step":
        torch.manual_seed(0)
        model = torch_clip(torch).to(device)  # made on the CPU, so the seed gives the same weights on either
        optimizer = torch.optim.AdamW(model.parameters(), lr=CLIP["lr"], weight_decay=CLIP["weight_decay"])
        ids, images = t["ids"].long(), t["images"]
        facts["parameters"] = sum(p.numel() for p in model.parameters())

        def run():
            optimizer.zero_grad(set_to_none=True)
            loss = model(ids, images)
            loss.backward()
            optimizer.step()
            return {"loss": loss.detach().reshape(1)}
    else:
        raise ValueError(case.key)

    # The only copies to the host: the first run's outputs, for the check (the timed runs keep theirs).
    first = {k: v.detach().cpu().numpy() for k, v in run().items()}
    result = dict(facts)
    if notes:
        result["notes"] = notes
    return check_and_time("torch", case, x, first, result, run, sync, warmup, repetitions)


def sdpa_backend(torch, q, k, v) -> str | None:
    """The kernel scaled_dot_product_attention picks for these inputs (for FP32 on CUDA not flash,
    which takes only half precision), through a private call: None where this torch lacks it."""
    try:
        from torch.nn.attention import SDPBackend
        return SDPBackend(torch._fused_sdp_choice(q, k, v)).name
    except Exception:  # noqa: BLE001 - a fact for the JSON, nothing depends on it
        return None


def torch_clip(torch):
    nn, F = torch.nn, torch.nn.functional

    def loss(text, vision, log_scale):
        t = F.normalize(text, dim=-1)
        v = F.normalize(vision, dim=-1)
        logits = log_scale.clamp(max=CLIP["max_log_scale"]).exp() * v @ t.T
        labels = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))

    return build_clip(SimpleNamespace(
        Module=nn.Module, nn=nn, parameter=nn.Parameter, randn=torch.randn, module_list=nn.ModuleList,
        scalar=torch.tensor, attention=F.scaled_dot_product_attention, gelu=F.gelu,
        prepend=lambda cls, x: torch.cat([cls.expand(x.shape[0], 1, -1), x], dim=1), loss=loss))
