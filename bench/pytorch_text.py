"""PyTorch CPU reference for the text students' training rate, for bench/text.mjs's side-by-side ratio.

The same students as tfjs-distill's text families (src/models/architectures/bag.ts, cnn1d.ts): `bag` is an
embedding of D values per token, its mean over the row's real tokens (id 0 is padding), and the output layer;
`cnn1d` an embedding, padding zeroed, a same-padded ReLU Conv1d of F filters over 3 tokens, padding zeroed
again, the max over the positions and the output layer. The token-id rows are the bench's own (--ids, a
float32 .npy [rows, maxLength] that bench/text.mjs wrote from the tokenised corpus), with seeded random teacher
logits and labels; Adam at --lr, Hinton's KD loss with temperature T and weight alpha (as bench/pytorch_kd.py),
batch --batch. After --warmup steps, --rounds rounds of --round-steps steps each are timed (the batches run
through the rows in order, wrapping round); each round's rate, and their median, go to --out as JSON.
--threads 0 leaves torch at its default.
"""
import argparse, json, statistics, time

import numpy as np
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--ids", required=True)
p.add_argument("--vocab", type=int, required=True)
p.add_argument("--classes", type=int, default=2)
p.add_argument("--model", required=True)  # bag:D or cnn1d:D,F
p.add_argument("--threads", type=int, required=True)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--temperature", type=float, default=4.0)
p.add_argument("--alpha", type=float, default=0.9)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--warmup", type=int, default=5)
p.add_argument("--rounds", type=int, default=5)
p.add_argument("--round-steps", type=int, default=56)
p.add_argument("--out", required=True)
a = p.parse_args()

if a.threads > 0:
    torch.set_num_threads(a.threads)
torch.manual_seed(1)
ids = torch.from_numpy(np.load(a.ids)).long()
rows = ids.shape[0]
teacher = torch.rand(rows, a.classes) * 8 - 4
labels = torch.randint(0, a.classes, (rows,))


class Bag(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.embedding = torch.nn.Embedding(a.vocab, width)
        self.out = torch.nn.Linear(width, a.classes)

    def forward(self, x):
        real = (x > 0).float().unsqueeze(2)
        summed = (self.embedding(x) * real).sum(1)
        return self.out(summed / real.sum(1).clamp(min=1))


class Cnn1d(torch.nn.Module):
    def __init__(self, width, filters):
        super().__init__()
        self.embedding = torch.nn.Embedding(a.vocab, width)
        self.conv = torch.nn.Conv1d(width, filters, kernel_size=3, padding=1)
        self.out = torch.nn.Linear(filters, a.classes)

    def forward(self, x):
        real = (x > 0).float().unsqueeze(1)  # [batch, 1, length]
        embedded = self.embedding(x).transpose(1, 2) * real  # [batch, width, length]
        features = F.relu(self.conv(embedded)) * real
        return self.out(features.max(2).values)


def kd_loss(student, teacher_logits, y, t, alpha):
    log_s = F.log_softmax(student / t, dim=1)
    log_t = F.log_softmax(teacher_logits / t, dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(1)
    return (alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student, y, reduction="none")).mean()


family, widths = a.model.split(":")
widths = [int(w) for w in widths.split(",")]
net = Bag(*widths) if family == "bag" else Cnn1d(*widths)
opt = torch.optim.Adam(net.parameters(), lr=a.lr)
steps = rows // a.batch


def step(i):
    s = slice(i * a.batch, (i + 1) * a.batch)
    opt.zero_grad(set_to_none=True)
    kd_loss(net(ids[s]), teacher[s], labels[s], a.temperature, a.alpha).backward()
    opt.step()


for i in range(a.warmup):
    step(i % steps)
rates = []
done = a.warmup
for _ in range(a.rounds):
    start = time.perf_counter()
    for i in range(a.round_steps):
        step((done + i) % steps)
    rates.append(a.round_steps * a.batch / (time.perf_counter() - start))
    done += a.round_steps
with open(a.out, "w") as f:
    json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "model": a.model, "samplesPerSec": statistics.median(rates), "rates": rates}, f)
