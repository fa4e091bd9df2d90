"""Reference (b): PyTorch CPU on the bench's distillation job, for a side-by-side ratio.

The same shapes as bench/settings.mjs (passed in by bench/run.mjs): an MLP 784-1024-1024-10 and the CNN
of --cnn-filters (bench/export_cnn_onnx.py's layers: per entry a 3x3 same-padded ReLU conv and a 2x2
max-pool, then dense 128 ReLU and the logits; NCHW input), batch 256, Adam, Hinton's KD loss with
temperature T and weight alpha, soft labels given (seeded random logits, as in the tfjs runs); plus
inference (the labelling phase) at batch 256, at --threads torch threads: the median of --repeats
timings, for each model in turn in one process; JSON goes to --out. bench/run.mjs runs it once per setting of a grid: torch's threads
and OpenBLAS's (OPENBLAS_NUM_THREADS; OpenBLAS keeps a pool of its own that torch.set_num_threads does
not size), each combination, and once with no setting at all, as a user runs it.
"""
import argparse, json, statistics, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, required=True)  # 0: torch's default
p.add_argument("--steps", type=int, required=True)
p.add_argument("--label-rows", type=int, required=True)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--temperature", type=float, default=4.0)
p.add_argument("--alpha", type=float, default=0.9)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--cnn-filters", default="16,32")
p.add_argument("--out", required=True)
a = p.parse_args()

torch.manual_seed(1)
rows = max(a.steps * a.batch, a.label_rows)
images = torch.rand(rows, 1, 28, 28)
x = images.reshape(rows, 784)
teacher = torch.rand(rows, 10) * 8 - 4
labels = torch.randint(0, 10, (rows,))


def mlp():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10))


def cnn():
    torch.manual_seed(1)
    layers, channels, size = [], 1, 28
    for f in (int(f) for f in a.cnn_filters.split(",")):
        layers += [torch.nn.Conv2d(channels, f, kernel_size=3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        channels, size = f, size // 2
    layers += [torch.nn.Flatten(), torch.nn.Linear(channels * size * size, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)]
    return torch.nn.Sequential(*layers)


def kd_loss(student, teacher_logits, y, t, alpha):
    log_s = F.log_softmax(student / t, dim=1)
    log_t = F.log_softmax(teacher_logits / t, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(1)
    return (alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student, y, reduction="none")).mean()


def train_rate(model, x):
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)

    def step(i):
        s = slice(i * a.batch, (i + 1) * a.batch)
        opt.zero_grad(set_to_none=True)
        kd_loss(net(x[s]), teacher[s], labels[s], a.temperature, a.alpha).backward()
        opt.step()

    step(0)  # warm-up
    rates = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        for i in range(a.steps):
            step(i)
        rates.append(a.steps * a.batch / (time.perf_counter() - start))
    return statistics.median(rates)


def label_rate(model, x):
    net = model().eval()
    with torch.no_grad():
        net(x[: a.batch])  # warm-up
        rates = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            for i in range(0, a.label_rows, a.batch):
                net(x[i : i + a.batch])
            rates.append(a.label_rows / (time.perf_counter() - start))
    return statistics.median(rates)


def blas():
    """The BLAS torch was built against (its config) and the library actually mapped into this process."""
    config = torch.__config__.show()
    built = next((part.split("=", 1)[1] for part in config.replace(",", "\n").split() if part.startswith("BLAS_INFO=")), "unknown")
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line})
    return {"built": built, "mapped": mapped, "mkldnn": torch.backends.mkldnn.is_available()}


# --threads 0 leaves torch at its own default, as a user who sets nothing runs it.
if a.threads > 0:
    torch.set_num_threads(a.threads)
result = {"threads": torch.get_num_threads()}
for name, model, inputs in (("mlp", mlp, x), ("cnn", cnn, images)):
    result[name] = {"train": train_rate(model, inputs), "label": label_rate(model, inputs)}
with open(a.out, "w") as f:
    json.dump({"torch": torch.__version__, "blas": blas(), "result": result}, f)
