#!/usr/bin/env python3
"""all-MiniLM-L6-v2 forward on 256 sentences of 32 tokens: AlignCL (`aligncl embed --model`, on
OpenCL and the CPU path) next to PyTorch on the CPU, alternating, in one run.

    /path/to/venv/bin/python Benchmarks/peers/minilm.py --model "$(scripts/fetch-minilm.sh)" \
        --aligncl .build/release/aligncl --rounds 3 --threads 2

Needs torch and transformers in the Python that runs it (the peers' virtualenv of compare.py).
Each sentence is 30 whole-word tokens, so with [CLS] and [SEP] every row is exactly 32 tokens and
no padding is computed. AlignCL's time is what `aligncl embed` reports for the batch (tokenising,
forward, pooling and normalisation; not loading); PyTorch's is tokenising plus the forward, mean
pooling and normalisation under no_grad, best of 3 after a warm-up, with `--threads` threads.
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def sentences(tokenizer, count: int, words_per_sentence: int) -> list[str]:
    vocab = [w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 2 and not w.startswith("##")]
    rng = random.Random(0)
    out = [" ".join(rng.choice(vocab) for _ in range(words_per_sentence)) for _ in range(count)]
    lengths = {len(tokenizer(s)["input_ids"]) for s in out}
    assert lengths == {words_per_sentence + 2}, lengths
    return out


def torch_seconds(model, tokenizer, texts: list[str]) -> float:
    import torch
    best = float("inf")
    for attempt in range(4):
        start = time.perf_counter()
        with torch.no_grad():
            batch = tokenizer(texts, padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
        elapsed = time.perf_counter() - start
        if attempt > 0:
            best = min(best, elapsed)
    assert pooled.shape == (len(texts), 384)
    return best


def aligncl_seconds(binary: str, model: str, texts_file: Path, backend: str, output: Path) -> float:
    result = subprocess.run([binary, "embed", "--model", model, "--texts", str(texts_file), "--batch-size", "256",
                             "--backend", backend, "--output-dir", str(output)], capture_output=True, text=True, check=True)
    match = re.search(r"embedded \d+ texts in ([0-9.]+) s", result.stderr)
    assert match, result.stderr
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 folder (scripts/fetch-minilm.sh prints it)")
    parser.add_argument("--aligncl", default=".build/release/aligncl")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model).eval()
    texts = sentences(tokenizer, 256, 30)
    work = Path(tempfile.mkdtemp())
    texts_file = work / "texts.txt"
    texts_file.write_text("\n".join(texts) + "\n")
    aligncl_seconds(args.aligncl, args.model, texts_file, "opencl", work / "warm")  # builds the program cache
    times: dict[str, list[float]] = {"AlignCL OpenCL": [], "AlignCL CPU path": [], "PyTorch CPU": []}
    for round_index in range(args.rounds):
        times["AlignCL OpenCL"].append(aligncl_seconds(args.aligncl, args.model, texts_file, "opencl", work / "cl"))
        times["PyTorch CPU"].append(torch_seconds(model, tokenizer, texts))
        times["AlignCL CPU path"].append(aligncl_seconds(args.aligncl, args.model, texts_file, "cpu", work / "cpu"))
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in times.items()), flush=True)
    torch_median = statistics.median(times["PyTorch CPU"])
    print(f"\n| all-MiniLM-L6-v2, 256 × 32 tokens | median ms | range ms | sentences/s | PyTorch time / this |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} | {min(values) * 1000:.0f}–{max(values) * 1000:.0f} | {256 / median:.0f} | {torch_median / median:.2f}× |")


if __name__ == "__main__":
    main()
