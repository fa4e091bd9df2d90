#!/usr/bin/env python3
"""Train a small BERT-style text classifier in PyTorch and export it in the Hugging Face ONNX layout.

Step 2 of the text-teacher example (step 1, prepare-data.mjs, writes the tokenizer and the token ids).
Usage (from the repository root):

    node examples/text-teacher/prepare-data.mjs OUT
    /usr/bin/python3 examples/text-teacher/train_teacher.py OUT [--epochs 4]

The encoder is BERT's, written in plain torch (the `transformers` package is not needed): word, position
and segment embeddings, post-norm transformer layers with GELU, the [CLS] pooler and a linear classifier.
Its inputs and output carry Hugging Face's names, so that the export looks like `optimum`'s:

    input_ids, attention_mask, token_type_ids: int64 [batch, sequence]  ->  logits: float32 [batch, classes]

Writes to OUT:
    model.onnx           opset 14, dynamic batch and sequence axes
    config.json          model_type bert, id2label / label2id (the class order), max_position_embeddings, ...
    pytorch-test.json    PyTorch's test accuracy and each test row's logits and prediction
(tokenizer.json and tokenizer_config.json are already there, from step 1.)
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 21


class Layer(nn.Module):
    """One post-norm BERT layer: self-attention, then a GELU feed-forward block, each with a residual."""

    def __init__(self, hidden, heads, intermediate):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, mask_bias):
        batch, length, hidden = x.shape
        size = hidden // self.heads

        def split(t):
            return t.view(batch, length, self.heads, size).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(size) + mask_bias
        context = torch.matmul(F.softmax(scores, dim=-1), v).transpose(1, 2).reshape(batch, length, hidden)
        x = self.attention_norm(x + self.attention_out(context))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


class BertClassifier(nn.Module):
    def __init__(self, vocab, classes, hidden, layers, heads, intermediate, positions, pad_id):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=pad_id)
        self.position_embeddings = nn.Embedding(positions, hidden)
        self.token_type_embeddings = nn.Embedding(2, hidden)
        self.embeddings_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([Layer(hidden, heads, intermediate) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        x = self.dropout(self.embeddings_norm(x))
        # Padding gets a large negative score before the softmax, as BERT's extended attention mask does.
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = self.dropout(layer(x, mask_bias))
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return self.classifier(self.dropout(pooled))


def padded(rows, pad_id):
    """Token id lists as [rows, longest] tensors: ids (padded with pad_id), attention mask, segment ids."""
    longest = max(len(row) for row in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask, torch.zeros_like(ids)


def logits_of(model, rows, pad_id, batch=64):
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            out.append(model(*padded(rows[start : start + batch], pad_id)))
    return torch.cat(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the folder prepare-data.mjs wrote")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(SEED)
    with open(os.path.join(args.out, "token-ids.json")) as f:
        data = json.load(f)
    with open(os.path.join(args.out, "tokenizer.json")) as f:
        pad_id = json.load(f)["model"]["vocab"]["[PAD]"]
    classes, max_length = data["classes"], data["maxLength"]
    model = BertClassifier(
        data["vocabSize"], len(classes), args.hidden, args.layers, args.heads, 2 * args.hidden, max_length, pad_id
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    train_ids, train_labels = data["train"]["ids"], torch.tensor(data["train"]["labels"])
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_ids)).tolist()
        total = 0.0
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            loss = F.cross_entropy(model(*padded([train_ids[i] for i in rows], pad_id)), train_labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        print(f"epoch {epoch + 1}: training loss {total / len(order):.4f}")
    seconds = time.time() - started

    test_ids, test_labels = data["test"]["ids"], torch.tensor(data["test"]["labels"])
    logits = logits_of(model, test_ids, pad_id)
    predictions = logits.argmax(dim=1)
    accuracy = (predictions == test_labels).float().mean().item()
    print(f"test accuracy {accuracy * 100:.2f}% on {len(test_ids)} texts")

    model.eval()
    example = padded(test_ids[:2], pad_id)
    torch.onnx.export(
        model,
        example,
        os.path.join(args.out, "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "sequence_length"},
            "token_type_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size"},
        },
        opset_version=14,
        do_constant_folding=True,
    )
    config = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": data["vocabSize"],
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "intermediate_size": 2 * args.hidden,
        "hidden_act": "gelu",
        "max_position_embeddings": max_length,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": pad_id,
        "id2label": {str(i): name for i, name in enumerate(classes)},
        "label2id": {name: i for i, name in enumerate(classes)},
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    result = {
        "testAccuracy": accuracy,
        "testRows": len(test_ids),
        "epochs": args.epochs,
        "trainRows": len(train_ids),
        "trainSeconds": round(seconds, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "predictions": predictions.tolist(),
        "logits": [[round(v, 5) for v in row] for row in logits.tolist()],
    }
    with open(os.path.join(args.out, "pytorch-test.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(f"wrote {args.out}/model.onnx, config.json and pytorch-test.json ({result['params']:,} parameters)")


if __name__ == "__main__":
    main()
