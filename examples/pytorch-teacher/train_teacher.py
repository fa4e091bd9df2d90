#!/usr/bin/env python3
"""Train a small CNN teacher on Fashion-MNIST with PyTorch and export it to ONNX.

Usage (from the repository root):

    /usr/bin/python3 examples/pytorch-teacher/train_teacher.py \
        [--data /usr/share/datasets/fashion-mnist] [--epochs 5] [--out examples/pytorch-teacher]

Writes <out>/teacher.onnx (input 'input' [batch,1,28,28] NCHW float32, already
normalised as (x/255 - MEAN)/STD; output 'logits' [batch,10]; dynamic batch axis)
and <out>/teacher.json ({testAccuracy (in [0,1]), epochs, mean, std, seconds, ...}).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = 0.2860
STD = 0.3530
SEED = 1234
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    """Read an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def find_file(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}(.gz) not found in {data_dir}")


def load_split(data_dir, prefix):
    images = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    x = torch.from_numpy(x).unsqueeze(1)  # [N, 1, 28, 28] NCHW
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                    help="folder with the Fashion-MNIST IDX files (.gz or plain)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--out", default=HERE, help="output directory (default: this script's folder)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    print(f"train {tuple(x_train.shape)}  test {tuple(x_test.shape)}", flush=True)

    model = Teacher()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(SEED)
    n = x_train.shape[0]

    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total_loss = 0.0
        t0 = time.time()
        for i in range(0, n, args.batch_size):
            idx = perm[i : i + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            total_loss += loss.item() * idx.shape[0]
        acc = evaluate(model, x_test, y_test)
        print(f"epoch {epoch}/{args.epochs}  loss {total_loss / n:.4f}  "
              f"test {acc * 100:.2f}%  ({time.time() - t0:.1f}s)", flush=True)
    seconds = time.time() - start

    test_acc = evaluate(model, x_test, y_test)
    print(f"test accuracy {test_acc * 100:.2f}%", flush=True)
    print(f"training time {seconds:.1f}s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "teacher.onnx")
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), onnx_path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13, do_constant_folding=True,
    )
    meta = {
        "testAccuracy": round(test_acc, 4),
        "epochs": args.epochs,
        "mean": MEAN,
        "std": STD,
        "seconds": round(seconds, 1),
        "batchSize": args.batch_size,
        "lr": args.lr,
        "seed": SEED,
        "input": {"name": "input", "shape": ["batch", 1, 28, 28], "layout": "NCHW"},
        "output": {"name": "logits", "shape": ["batch", 10]},
    }
    with open(os.path.join(args.out, "teacher.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) and teacher.json", flush=True)


if __name__ == "__main__":
    main()
