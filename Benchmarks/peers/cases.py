"""The cases: the same maths and the same work counts as AlignCL's (Sources/Compute/*Descriptor.swift)."""
from __future__ import annotations

import math


class Case:
    def __init__(self, key, label, family, params, variant, unit, work, names, standard=True):
        self.key = key              # what --cases takes (or the family)
        self.label = label          # the table's first column
        self.family = family        # AlignCL's `family`
        self.params = params        # AlignCL's `parameters` (a subset is enough to match)
        self.variant = variant      # AlignCL's `variant`, None where it has none
        self.unit = unit
        self.work = work            # FLOPs, bytes or samples per run
        self.names = names          # AlignCL's `name`s before `family`/`parameters` existed
        # In `aligncl bench --preset standard`, and so in the default list and its families. The
        # others run only when named in --cases (too slow for everyday runs on 2 CPU threads),
        # and aligncl_runner.py times them on AlignCL with `--sizes`.
        self.standard = standard

    @property
    def scale(self) -> float:
        """throughput = work / seconds * scale (GFLOP/s, GB/s; samples/s as they are)."""
        return 1e-9 if self.unit.startswith("G") else 1.0


def _gemm(n, standard=True):
    return Case(f"gemm{n}", f"gemm {n}x{n}x{n}", "gemm", {"m": n, "n": n, "k": n}, None, "GFLOP/s",
                2.0 * n * n * n, [f"gemm {n}x{n}x{n}"], standard)


ATT = dict(batch=4, heads=8, length=1024, dimension=64)
_att_pairs = ATT["batch"] * ATT["heads"] * ATT["length"] ** 2
NCE = dict(rows=4096, dimension=256)
LN = dict(rows=16384, columns=1024)
TRAIN_BATCH = 64

CASES = [
    _gemm(1024),
    _gemm(2048),
    _gemm(4096, standard=False),  # 137 GFLOP a run: for a GPU (--torch-device cuda), not the 2-thread CPU
    # Read x, write y.
    Case("softmax", "softmax fwd 4096x4096", "softmax", {"rows": 4096, "columns": 4096}, "forward", "GB/s",
         2.0 * 4 * 4096 * 4096, ["softmax 4096x4096"]),
    # Forward q·kᵀ and p·v: 2·pairs·(D+D); backward recomputes q·kᵀ, then dv, dp, dq, dk: 2·pairs·(3D+2D).
    Case("attention", "attention fwd+bwd B4 H8 L1024 D64", "attention", dict(ATT), "fwd+bwd", "GFLOP/s",
         2.0 * _att_pairs * (2 * ATT["dimension"]) + 2.0 * _att_pairs * (5 * ATT["dimension"]),
         ["attention fwd+bwd B4 H8 L1024 D64"]),
    # Symmetric forward: 2·N²·D per direction; backward: 8·N²·D.
    Case("infonce", "InfoNCE fwd+bwd N4096 D256", "infonce", dict(NCE), "fwd+bwd", "GFLOP/s",
         4.0 * NCE["rows"] ** 2 * NCE["dimension"] + 8.0 * NCE["rows"] ** 2 * NCE["dimension"],
         ["infonce fwd+bwd N4096 D256"]),
    # Forward: read x, weight, bias, write y and the row statistics: 4·(2·RC + 2·C + 2·R).
    # Backward (our count, replaced by AlignCL's when its JSON has the case): read x, dy, weight
    # and the statistics, write dx, dweight, dbias: 4·(3·RC + 3·C + 2·R).
    Case("layernorm", "layernorm fwd+bwd 16384x1024", "layernorm", dict(LN), "fwd+bwd", "GB/s",
         4.0 * (5 * LN["rows"] * LN["columns"] + 5 * LN["columns"] + 4 * LN["rows"]),
         ["layernorm fwd+bwd 16384x1024", "layernorm fwd+bwd R16384 C1024"]),
    Case("train-step", "train step (CLIP, batch 64)", "train-step", {"batch": TRAIN_BATCH}, None, "samples/s",
         float(TRAIN_BATCH), ["train-step B64", "train step B64", "train-step batch 64", "train step batch 64"]),
]
CASE_BY_KEY = {c.key: c for c in CASES}
CASE_FAMILIES = list(dict.fromkeys(c.family for c in CASES))


def select_cases(spec: str | None) -> list[Case]:
    """The cases `--cases` names: keys or families (a family gives its standard cases only); all
    standard cases without it."""
    if not spec:
        return [c for c in CASES if c.standard]
    chosen = []
    for word in (w.strip().lower() for w in spec.split(",") if w.strip()):
        aliases = {"train": "train-step", "trainstep": "train-step", "train_step": "train-step", "nce": "infonce",
                   "gemm-1024": "gemm1024", "gemm-2048": "gemm2048", "gemm-4096": "gemm4096", "ln": "layernorm"}
        word = aliases.get(word, word)
        matches = [c for c in CASES if c.key == word or (c.family == word and c.standard)]
        if not matches:
            raise SystemExit(f"compare.py: unknown case '{word}'; known: "
                             + ", ".join(sorted({c.key for c in CASES} | {c.family for c in CASES})))
        chosen += [c for c in matches if c not in chosen]
    return [c for c in CASES if c in chosen]


# The CLIP-style model of the training-step case (clip_model.py builds it for either framework).
CLIP = dict(width=256, heads=4, hidden=512, layers=4, tokens=32, vocabulary=1000, image=32, patch=4, projection=256,
            lr=1e-4, weight_decay=0.01, initial_log_scale=math.log(1 / 0.07), max_log_scale=math.log(100.0))
