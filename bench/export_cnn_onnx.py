"""The bench's CNN teacher as an ONNX file, for its ONNX labelling rows.

    /usr/bin/python3 bench/export_cnn_onnx.py --out FILE [--filters 16,32] [--classes 10]

The same layer shapes as tfjs-distill's `cnn:16,32` (src/models/architectures.ts): per entry of --filters
a 3x3 same-padded ReLU convolution and a 2x2 max-pool, then a dense ReLU layer of 128 units and a dense
output of --classes logits; 206,922 parameters for cnn:16,32 on 28x28x1 rows. The layout is PyTorch's
(NCHW input [batch, 1, 28, 28]), so its flatten order differs from the tfjs model's NHWC one: the weights
are random (seeded), for throughput, not a copy of the tfjs model's. Exported with opset 13 and a dynamic
batch axis. Needs torch (1.13 tested) and onnx (1.12 tested); bench/run.mjs calls it into its scratch
folder when /usr/bin/python3 can import torch. Prints the parameter count as JSON.
"""
import argparse
import json

import onnx
import torch
import torch.nn as nn

DENSE_UNITS = 128  # CNN_DENSE_UNITS in src/models/architectures.ts

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--filters", default="16,32")
p.add_argument("--classes", type=int, default=10)
p.add_argument("--size", type=int, default=28, help="height and width of the (1-channel) input images")
a = p.parse_args()

torch.manual_seed(1)
torch.set_num_threads(1)
filters = [int(f) for f in a.filters.split(",")]
layers = []
channels, size = 1, a.size
for f in filters:
    layers += [nn.Conv2d(channels, f, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    channels, size = f, size // 2
layers += [nn.Flatten(), nn.Linear(channels * size * size, DENSE_UNITS), nn.ReLU(), nn.Linear(DENSE_UNITS, a.classes)]
net = nn.Sequential(*layers).eval()

torch.onnx.export(
    net,
    torch.rand(2, 1, a.size, a.size),
    a.out,
    opset_version=13,
    input_names=["input"],
    output_names=["logits"],
    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
)
onnx.checker.check_model(onnx.load(a.out))
print(json.dumps({"out": a.out, "params": sum(t.numel() for t in net.parameters()), "torch": torch.__version__}))
