"""
The landscape project's fixed harness: the loss surface that train.py's
constants are scored on, and the run-to-run noise. Nobody edits this file
during research (it is part of the project id), so every experiment is
measured the same way, like autoresearch's prepare.py.

The surface is a sum of squared errors in log2 units, each error a relation
between constants that real training has: the learning rate that works
depends on the batch size and the width, the warmup on the learning rate,
the weight decay on the learning rate, the dropout on the model's size, the
model's size on depth and width together, the head size on width and heads.
So moving one constant moves the best value of others, and a walk of
one-constant steps zigzags for many steps before it gets near OPTIMUM_BPB.

Like a real train.py it also has knobs that are already well set (TUNED:
the Adam betas and epsilon, gradient clipping, init scale, warmdown, label
smoothing, the rotary base, the MLP ratio, the logit soft cap, the z-loss,
QK norm, the embedding learning rate): changing one costs a little or
nothing. So most ideas fail, as in real research, where autoresearch keeps
about one experiment in 5 to 10; here one node keeps about one in 6.

    python3 landscape.py            # the optimum, the start and the target
    python3 landscape.py train.py   # the noiseless val_bpb of each file given
"""

import math
import os
import random
import re
import sys

OPTIMUM_BPB = 0.9          # the noiseless val_bpb at the best constants (see OPTIMUM)
TARGET_BPB = 1.15          # what the swarm benchmark calls "reached the target"
NOISE_SIGMA = 0.006        # run-to-run noise of val_bpb (gaussian)

# The constants at which every term below is zero.
OPTIMUM = {
    "N_LAYER": 6,
    "N_EMBD": 256,
    "N_HEAD": 4,
    "BATCH_SIZE": 32,
    "LEARNING_RATE": 0.004,
    "WARMUP_STEPS": 40,
    "WEIGHT_DECAY": 0.1,
    "DROPOUT": 0.05,
}
# Knobs already at their best: every change of one is worse (or, for ROPE_BASE, within the noise).
TUNED = {
    "ADAM_BETA1": 0.9,
    "ADAM_BETA2": 0.95,
    "GRAD_CLIP": 1.0,
    "INIT_STD": 0.02,
    "WARMDOWN_FRAC": 0.4,
    "LABEL_SMOOTHING": 0.0,
    "ROPE_BASE": 10000,
    "MLP_RATIO": 4,
    "ADAM_EPS": 1e-8,
    "LOGIT_SOFTCAP": 30.0,
    "Z_LOSS": 1e-4,
    "QK_NORM": True,
    "EMBED_LR_MULT": 1.0,
}
BEST = {**OPTIMUM, **TUNED}
NAMES = tuple(BEST)
BOOLEANS = ("QK_NORM",)

lg = math.log2


def terms(c):
    """Each term's share of the loss above OPTIMUM_BPB: (weight, error in log2 units)."""
    return search_terms(c) + tuned_terms(c)


def tuned_terms(c):
    """The well-set knobs: how far each is from its best, as (weight, error)."""
    t = TUNED
    return [
        (0.010, lg((1 - c["ADAM_BETA1"]) / (1 - t["ADAM_BETA1"]))),
        (0.010, lg((1 - c["ADAM_BETA2"]) / (1 - t["ADAM_BETA2"]))),
        (0.006, lg(c["GRAD_CLIP"] / t["GRAD_CLIP"])),
        (0.010, lg(c["INIT_STD"] / t["INIT_STD"])),
        (0.008, lg(c["WARMDOWN_FRAC"] / t["WARMDOWN_FRAC"])),
        (0.360, math.sqrt(c["LABEL_SMOOTHING"])),
        (0.002, lg(c["ROPE_BASE"] / t["ROPE_BASE"])),
        (0.020, lg(c["MLP_RATIO"] / t["MLP_RATIO"])),
        (0.001, lg(c["ADAM_EPS"] / t["ADAM_EPS"])),
        (0.006, lg(c["LOGIT_SOFTCAP"] / t["LOGIT_SOFTCAP"])),
        (0.004, lg(c["Z_LOSS"] / t["Z_LOSS"])),
        (0.020, 0.0 if c["QK_NORM"] else 1.0),
        (0.010, lg(c["EMBED_LR_MULT"] / t["EMBED_LR_MULT"])),
    ]


def search_terms(c):
    """The eight interacting constants the search is about."""
    o = OPTIMUM
    size = lg(c["N_LAYER"]) + 2 * lg(c["N_EMBD"]) - (lg(o["N_LAYER"]) + 2 * lg(o["N_EMBD"]))
    shape = lg(c["N_EMBD"] / c["N_LAYER"]) - lg(o["N_EMBD"] / o["N_LAYER"])
    head = lg(c["N_EMBD"] / c["N_HEAD"]) - lg(o["N_EMBD"] / o["N_HEAD"])
    batch = lg(c["BATCH_SIZE"] / o["BATCH_SIZE"])
    # The best learning rate grows with sqrt(batch) and shrinks with sqrt(width).
    lr = lg(c["LEARNING_RATE"] / o["LEARNING_RATE"]) - 0.5 * batch + 0.5 * lg(c["N_EMBD"] / o["N_EMBD"])
    # A higher learning rate wants a longer warmup.
    warmup = lg(c["WARMUP_STEPS"] / o["WARMUP_STEPS"]) - lg(c["LEARNING_RATE"] / o["LEARNING_RATE"])
    # AdamW decays by lr * wd per step: that product is what matters, plus a little wd alone.
    decay = lg(c["WEIGHT_DECAY"] / o["WEIGHT_DECAY"]) + lg(c["LEARNING_RATE"] / o["LEARNING_RATE"])
    wd = lg(c["WEIGHT_DECAY"] / o["WEIGHT_DECAY"])
    # A bigger model wants more dropout.
    dropout = lg(c["DROPOUT"] / o["DROPOUT"]) - 0.5 * size
    return [
        (0.010, size), (0.020, shape), (0.020, head), (0.015, batch),
        (0.030, lr), (0.010, warmup), (0.020, decay), (0.005, wd), (0.008, dropout),
    ]


def check(c):
    """What real training would refuse to run: raises ValueError."""
    for name in NAMES:
        if name in BOOLEANS:
            if not isinstance(c.get(name), bool):
                raise ValueError(f"{name} must be True or False, got {c.get(name)!r}")
        elif not isinstance(c.get(name), (int, float)) or isinstance(c.get(name), bool):
            raise ValueError(f"{name} must be a number, got {c.get(name)!r}")
    for name in ("N_LAYER", "N_EMBD", "N_HEAD", "BATCH_SIZE", "WARMUP_STEPS", "ROPE_BASE", "MLP_RATIO"):
        if c[name] != int(c[name]) or c[name] < 1:
            raise ValueError(f"{name} must be a positive integer, got {c[name]}")
    for name in ("LEARNING_RATE", "WEIGHT_DECAY", "DROPOUT", "GRAD_CLIP", "INIT_STD", "WARMDOWN_FRAC", "ADAM_EPS", "LOGIT_SOFTCAP", "Z_LOSS", "EMBED_LR_MULT"):
        if not c[name] > 0:
            raise ValueError(f"{name} must be positive, got {c[name]}")
    if not 0 <= c["LABEL_SMOOTHING"] < 1:
        raise ValueError(f"LABEL_SMOOTHING must be in [0, 1), got {c['LABEL_SMOOTHING']}")
    for name in ("DROPOUT", "ADAM_BETA1", "ADAM_BETA2", "WARMDOWN_FRAC"):
        if not 0 < c[name] < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {c[name]}")
    if c["N_EMBD"] % c["N_HEAD"] != 0:
        raise ValueError(f"N_EMBD ({c['N_EMBD']}) must be divisible by N_HEAD ({c['N_HEAD']})")
    if c["LEARNING_RATE"] > 0.1:
        raise ValueError(f"loss is nan: LEARNING_RATE {c['LEARNING_RATE']} diverges")


def true_bpb(c):
    """The noiseless val_bpb of the constants `c` (a dict of NAMES)."""
    check(c)
    return OPTIMUM_BPB + sum(w * e * e for w, e in terms(c))


def noise(c):
    """One run's noise. LANDSCAPE_SEED makes it a fixed function of the seed and the constants (for tests)."""
    seed = os.environ.get("LANDSCAPE_SEED")
    rng = random.Random(f"{seed}:{sorted(c.items())}" if seed else os.urandom(16))
    return rng.gauss(0.0, NOISE_SIGMA)


CONST_RE = re.compile(r"^([A-Z][A-Z0-9_]*)\s*=\s*(True|False|[-+0-9.eE]+)\s*(?:#.*)?$")


def constants_of(text):
    """The top-level NAMES = number lines of a train.py."""
    found = {}
    for line in text.splitlines():
        m = CONST_RE.match(line)
        if m and m.group(1) in NAMES:
            v = m.group(2)
            found[m.group(1)] = v == "True" if v in ("True", "False") else int(v) if re.fullmatch(r"[-+]?\d+", v) else float(v)
    return found


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(f"optimum: {OPTIMUM_BPB}  target: {TARGET_BPB}  noise sigma: {NOISE_SIGMA}")
        print("at: " + ", ".join(f"{k}={v}" for k, v in BEST.items()))
    for path in sys.argv[1:]:
        with open(path) as f:
            c = constants_of(f.read())
        try:
            print(f"{true_bpb(c):.6f}\t{path}")
        except ValueError as err:
            print(f"crash\t{path}\t{err}")
