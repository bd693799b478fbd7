"""The CLIP-style model of the training-step case, written once for PyTorch and tinygrad.

`build_clip(ops)` takes what differs between the two frameworks (see `torch_clip` in
cases_torch.py and `tinygrad_clip` in cases_tinygrad.py):
    Module          the base class (torch.nn.Module; for tinygrad a plain class calling forward)
    nn              the module with LayerNorm, Linear and Embedding
    parameter(t)    marks a tensor as a trainable parameter
    randn(*shape)   standard normal values
    module_list(l)  holds the blocks
    scalar(x)       the logit scale's initial tensor
    attention(q, k, v), gelu(x) (exact), prepend(cls, x) (the CLS token before the patches)
    loss(text, vision, log_scale)   symmetric InfoNCE of the two towers' outputs
Parameters are made in the same order in both, so each framework's seed gives its usual weights.
"""
from __future__ import annotations

from cases import CLIP


def patchify(images):
    """[B, 3, 32, 32] → [B, 64, 48] (channel-major 3·4·4 features per patch, row-major patches)."""
    b, p, g = images.shape[0], CLIP["patch"], CLIP["image"] // CLIP["patch"]
    x = images.reshape(b, 3, g, p, g, p)
    x = x.permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, g * g, 3 * p * p)


def build_clip(ops):
    nn, c = ops.nn, CLIP

    class Block(ops.Module):
        def __init__(self):
            super().__init__()
            w = c["width"]
            self.norm1, self.norm2 = nn.LayerNorm(w, eps=1e-5), nn.LayerNorm(w, eps=1e-5)
            self.q, self.k, self.v, self.o = (nn.Linear(w, w) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(w, c["hidden"]), nn.Linear(c["hidden"], w)

        def forward(self, x):
            b, length, w = x.shape
            h = self.norm1(x)

            def split(y):
                return y.reshape(b, length, c["heads"], w // c["heads"]).transpose(1, 2)

            a = ops.attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
            x = x + self.o(a.transpose(1, 2).reshape(b, length, w))
            return x + self.fc2(ops.gelu(self.fc1(self.norm2(x))))

    class Tower(ops.Module):
        def __init__(self, positions):
            super().__init__()
            self.positions = ops.parameter(ops.randn(positions, c["width"]) * 0.02)
            self.blocks = ops.module_list([Block() for _ in range(c["layers"])])
            self.norm = nn.LayerNorm(c["width"], eps=1e-5)
            self.projection = nn.Linear(c["width"], c["projection"])

        def encode(self, x):
            x = x + self.positions
            for block in self.blocks:
                x = block(x)
            return self.projection(self.norm(x)[:, 0])

    class Text(Tower):
        def __init__(self):
            super().__init__(c["tokens"])
            self.tokens = nn.Embedding(c["vocabulary"], c["width"])

        def forward(self, ids):
            return self.encode(self.tokens(ids))

    class Vision(Tower):
        def __init__(self):
            super().__init__((c["image"] // c["patch"]) ** 2 + 1)
            self.patch = nn.Linear(3 * c["patch"] ** 2, c["width"])
            self.cls = ops.parameter(ops.randn(1, 1, c["width"]) * 0.02)

        def forward(self, images):
            return self.encode(ops.prepend(self.cls, self.patch(patchify(images))))

    class Model(ops.Module):
        def __init__(self):
            super().__init__()
            self.text, self.vision = Text(), Vision()
            self.log_scale = ops.parameter(ops.scalar(c["initial_log_scale"]))

        def forward(self, ids, images):
            return ops.loss(self.text(ids), self.vision(images), self.log_scale)

    return Model()
