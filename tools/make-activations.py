#!/usr/bin/env python3
"""Real activations for `ecq analyze --activations`: runs all-MiniLM-L6-v2 (BERT, 6 layers, d=384) in numpy
on a few sentences and saves the input of every linear layer, one tensor per weight name, shaped
[tokens, in_features] (F32 safetensors). That is the format `ecq analyze --activations` reads: a weight
`W` of shape [out, in] is checked with `y = W x` for every row `x` of the tensor of the same name.

Needs numpy (`pip install numpy`). The input is the F32 model.safetensors that `tools/fetch-weights.sh minilm`
puts in ${ECQ_CACHE:-~/.cache/ecq}/minilm/, next to its vocab.txt. As a sanity check the script prints the
cosine similarity of mean-pooled sentence embeddings: paraphrases must score above unrelated sentences.

    python3 tools/make-activations.py [MODEL_DIR] [OUTPUT.safetensors]
"""
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np

SENTENCES = [
    "The capital of France is Paris.",
    "Paris is the capital city of France.",
    "A quick brown fox jumps over the lazy dog.",
    "Quantized weights are decoded on the GPU before the matrix-vector product.",
    "Entropy coding shrinks the model file without changing a single weight.",
    "The cat sat on the mat and looked out of the window.",
    "Stock markets fell sharply on Tuesday after the interest rate decision.",
    "How do I reset my password if I no longer have access to my email?",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "She played the violin at the concert last night, and the audience loved it.",
    "Rust's borrow checker prevents data races at compile time.",
    "The recipe needs two eggs, a cup of flour and a pinch of salt.",
]
HEADS = 12
EPS = 1e-12


def load(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(buf[8 + n + a : 8 + n + b], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return out


def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def tokenize(text, vocab):
    """BERT uncased: lower case, strip accents, split on whitespace and punctuation, greedy WordPiece."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, cur = [], ""
    for c in text:
        if c.isspace():
            words, cur = words + ([cur] if cur else []), ""
        elif unicodedata.category(c).startswith("P") or c in "$+<=>^`|~":
            words, cur = words + ([cur] if cur else []) + [c], ""
        else:
            cur += c
    words += [cur] if cur else []
    ids = [vocab["[CLS]"]]
    for w in words:
        start, pieces = 0, []
        while start < len(w):
            end = len(w)
            while end > start and (("##" if start else "") + w[start:end]) not in vocab:
                end -= 1
            if end == start:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[("##" if start else "") + w[start:end]])
            start = end
        ids += pieces
    return ids + [vocab["[SEP]"]]


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def main():
    cache = os.environ.get("ECQ_CACHE", os.path.expanduser("~/.cache/ecq"))
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "minilm")
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(model_dir, "activations.safetensors")
    w = load(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    n_layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))
    acts = {}

    def linear(name, x):
        acts.setdefault(name + ".weight", []).append(x)
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    embeddings = []
    for s in SENTENCES:
        ids = tokenize(s, vocab)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
        x = layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for i in range(n_layers):
            p = f"encoder.layer.{i}."
            q, k, v = (linear(p + "attention.self." + n, x) for n in ("query", "key", "value"))
            t, d = x.shape[0], x.shape[1] // HEADS
            q, k, v = (m.reshape(t, HEADS, d).transpose(1, 0, 2) for m in (q, k, v))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(1, 0, 2).reshape(t, HEADS * d)
            x = layer_norm(x + linear(p + "attention.output.dense", ctx), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = gelu(linear(p + "intermediate.dense", x))
            x = layer_norm(x + linear(p + "output.dense", h), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        linear("pooler.dense", x)
        e = x.mean(0)
        embeddings.append(e / np.linalg.norm(e))
    save(out_path, {k: np.concatenate(v) for k, v in acts.items()})
    e = np.stack(embeddings)
    sim = e @ e.T
    print(f"wrote {out_path}: {len(acts)} tensors, {sum(len(tokenize(s, vocab)) for s in SENTENCES)} tokens each")
    print(f"cosine(paraphrases 0,1) = {sim[0, 1]:.3f}; unrelated pairs: mean {np.mean(sim[np.triu_indices(len(e), 2)]):.3f}")
    if sim[0, 1] <= np.max(sim[0, 2:]):
        sys.exit("sanity check failed: the paraphrase is not the nearest sentence")


if __name__ == "__main__":
    main()
