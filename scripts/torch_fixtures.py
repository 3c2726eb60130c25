#!/usr/bin/env python3
"""Builds the PyTorch twins of the networks in `tests/weights.rs` and writes their
weights, inputs, outputs, per-sample losses and gradients as small safetensors fixtures
under `tests/fixtures/torch/`, so the Rust tests can check stackprop against PyTorch
without Python.

    python3 -m venv .venv && .venv/bin/pip install torch safetensors
    .venv/bin/python scripts/torch_fixtures.py

For each network `NAME`:
- `NAME.safetensors`: `model.state_dict()`, as `safetensors.torch.save_file` writes it;
- `NAME_io.safetensors`: `input` [B, ...], `target` [B, OUT], `output` [B, OUT] (after the
  output activation), `loss` [B] (per sample), `input_grad` [B, ...] (∂loss_b/∂x_b);
- `NAME_grad.safetensors`: the gradient of the mean loss over the batch with respect to
  every parameter, under the state dict's names.
And `mlp_f32.safetensors`, the freshly initialized weights of a 64-32-10 MLP (`hidden`,
`output`) that `benches/weights.rs` compiles in. For the dense net, its weights rounded to `float16` and `bfloat16`
(`dense_f16.safetensors`, `dense_bf16.safetensors`) with the rounded values widened to
`float64` beside them (`dense_f16_ref.safetensors`, `dense_bf16_ref.safetensors`).

The other direction: `from_rust_dense_f64.safetensors` is the file stackprop writes for
`DenseNet::seeded(21)` (committed; `tests/weights.rs` checks that `save` still writes it
byte for byte). The script loads it into the PyTorch twin with `load_state_dict(strict=True)`
and writes PyTorch's outputs for it to `from_rust_dense_f64_io.safetensors` (`input`,
`output`), which the same test compares with stackprop's.

The output is deterministic (fixed seeds, CPU).
"""

import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch")
BATCH = 4


def dense_net(dtype):
    # Mirrors `DenseNet` (and `DenseNet32`): input 4, hidden Dense<8, Tanh>, output
    # Dense<3, Sigmoid>, loss `mse`. As an `nn.Sequential`, so the state dict is numbered
    # (`0.weight`, `2.weight`).
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid()).to(dtype)


class ConvNet(nn.Module):
    # Mirrors `ConvNet`: input [1, 6, 6], conv Conv2d<3, Relu, { kernel = 3; padding = 1 }>,
    # pool MaxPool2d<2>, flat Flatten, output Dense<4, Softmax>, loss `cross_entropy`.
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.output = nn.Linear(27, 4)

    def logits(self, x):
        return self.output(self.flat(self.pool(F.relu(self.conv(x)))))


def write(name, model, x, target, outputs_and_losses):
    x = x.clone().requires_grad_(True)
    output, losses = outputs_and_losses(model, x, target)
    model.zero_grad()
    losses.mean().backward(retain_graph=True)
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    # Per-sample losses depend only on their own input, so the gradient of their sum with
    # respect to the batch of inputs is every sample's ∂loss/∂x.
    (input_grad,) = torch.autograd.grad(losses.sum(), x)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"{name}.safetensors"))
    save_file(
        {
            "input": x.detach().contiguous(),
            "target": target.contiguous(),
            "output": output.detach().contiguous(),
            "loss": losses.detach().contiguous(),
            "input_grad": input_grad.contiguous(),
        },
        os.path.join(OUT, f"{name}_io.safetensors"),
    )
    save_file(grads, os.path.join(OUT, f"{name}_grad.safetensors"))


class DenseNamed(nn.Module):
    # `DenseNet` under the Rust field names, for files stackprop writes.
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.output = nn.Linear(8, 3)

    def forward(self, x):
        return torch.sigmoid(self.output(torch.tanh(self.hidden(x))))


def mse_per_sample(model, x, target):
    y = model(x)
    return y, ((y - target) ** 2).mean(dim=1)  # nn.MSELoss per sample: mean over outputs


def ce_per_sample(model, x, target):
    z = model.logits(x)
    return F.softmax(z, dim=1), F.cross_entropy(z, target, reduction="none")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, dtype, seed in [("dense_f64", torch.float64, 1), ("dense_f32", torch.float32, 2)]:
        torch.manual_seed(seed)
        model = dense_net(dtype)
        x = torch.randn(BATCH, 4, dtype=dtype)
        target = torch.rand(BATCH, 3, dtype=dtype)
        write(name, model, x, target, mse_per_sample)
        if dtype == torch.float64:
            sd = model.state_dict()
            for tag, half in [("f16", torch.float16), ("bf16", torch.bfloat16)]:
                save_file({k: v.to(half).contiguous() for k, v in sd.items()}, os.path.join(OUT, f"dense_{tag}.safetensors"))
                save_file(
                    {k: v.to(half).to(torch.float64).contiguous() for k, v in sd.items()},
                    os.path.join(OUT, f"dense_{tag}_ref.safetensors"),
                )

    torch.manual_seed(3)
    model = ConvNet().to(torch.float64)
    x = torch.randn(BATCH, 1, 6, 6, dtype=torch.float64)
    classes = torch.tensor([0, 3, 1, 2])
    target = F.one_hot(classes, 4).to(torch.float64)
    write("conv_f64", model, x, target, ce_per_sample)

    torch.manual_seed(4)
    mlp = nn.Module()
    mlp.hidden = nn.Linear(64, 32)
    mlp.output = nn.Linear(32, 10)
    save_file({k: v.contiguous() for k, v in mlp.state_dict().items()}, os.path.join(OUT, "mlp_f32.safetensors"))

    # The other direction: a file stackprop wrote, loaded by PyTorch.
    model = DenseNamed().to(torch.float64)
    model.load_state_dict(load_file(os.path.join(OUT, "from_rust_dense_f64.safetensors")), strict=True)
    torch.manual_seed(5)
    x = torch.randn(BATCH, 4, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
    save_file({"input": x.contiguous(), "output": y.contiguous()}, os.path.join(OUT, "from_rust_dense_f64_io.safetensors"))


if __name__ == "__main__":
    main()
