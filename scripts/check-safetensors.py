#!/usr/bin/env python3
"""Cross-check safetensors files against the Hugging Face reference implementation.

    check-safetensors.py DIR            load every DIR/*.safetensors with safetensors.numpy and print, per
                                        file, each tensor's name/dtype/shape and the metadata as JSON
    check-safetensors.py --write OUT    write OUT/python.safetensors (reference_tensors() and
                                        REFERENCE_METADATA below); combine with DIR to check afterwards
    --values                            also print each tensor's values (flattened, as a JSON list)

Exits 1 if any file fails to load, so a test can run it as is. Needs numpy and safetensors only.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

# A JSON document as a metadata value: checks that string escaping survives both directions.
REFERENCE_METADATA = {"format": "pt", "config": '{"width": 4}'}


def reference_tensors():
    """The tensors of python.safetensors. Swift tests compare against these exact values."""
    return {
        "weight": (np.arange(6, dtype=np.float32) * 0.5 - 1.0).reshape(2, 3),
        "ids": np.array([0, -1, 2**31 - 1, -(2**31)], dtype=np.int32),
        "counts": np.array([[0, -1], [2**40, -(2**63)]], dtype=np.int64),
        "scale": np.array(3.25, dtype=np.float32),  # shape []
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def describe(path, with_values):
    tensors = load_file(str(path))
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata() or {}
    print(f"== {path.name}")
    for name in sorted(tensors):
        array = tensors[name]
        print(f"{name}\t{array.dtype}\t{list(array.shape)}")
        if with_values:
            print(f"  values {json.dumps(array.reshape(-1).tolist())}")
    print(f"metadata {json.dumps(metadata, sort_keys=True)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=pathlib.Path, nargs="?", help="directory of *.safetensors to check")
    parser.add_argument("--write", type=pathlib.Path, metavar="OUT", help="write OUT/python.safetensors first")
    parser.add_argument("--values", action="store_true", help="print tensor values too")
    arguments = parser.parse_args()
    if arguments.directory is None and arguments.write is None:
        parser.error("give a directory to check, --write OUT, or both")

    if arguments.write is not None:
        arguments.write.mkdir(parents=True, exist_ok=True)
        save_file(reference_tensors(), str(arguments.write / "python.safetensors"), metadata=REFERENCE_METADATA)
    if arguments.directory is None:
        return 0

    failures = 0
    for path in sorted(arguments.directory.glob("*.safetensors")):
        try:
            describe(path, arguments.values)
        except Exception as error:  # report every bad file, not just the first
            print(f"== {path.name}\nFAILED {type(error).__name__}: {error}")
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
