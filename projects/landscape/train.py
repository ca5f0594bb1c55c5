"""
A synthetic research landscape: eight interacting training constants among
twenty-one (the rest are already well set, so most ideas fail) and a known
optimum, so a swarm's search can be measured in seconds instead of GPU hours.
This is the one file agents edit, like autoresearch's train.py.

"Training" waits out the time budget (the budget is wall-clock, as in
autoresearch); the score comes from the fixed harness landscape.py: a loss
surface where the best learning rate depends on batch and width, the warmup
and weight decay on the learning rate, the dropout on the model's size, so a
walk that changes one constant at a time zigzags for many steps.

    python3 train.py
"""

import os
import sys
import time

t_start = time.time()
sys.dont_write_bytecode = True  # a run writes nothing but its output (it may run in a read-only sandbox)

from landscape import check, noise, true_bpb

# ---------------------------------------------------------------------------
# Hyperparameters

N_LAYER = 2
N_EMBD = 64
N_HEAD = 2
BATCH_SIZE = 16
LEARNING_RATE = 0.001
WARMUP_STEPS = 100
WEIGHT_DECAY = 0.3
DROPOUT = 0.2
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.95
GRAD_CLIP = 1.0
INIT_STD = 0.02
WARMDOWN_FRAC = 0.4
LABEL_SMOOTHING = 0.0
ROPE_BASE = 10000
MLP_RATIO = 4
ADAM_EPS = 1e-8
LOGIT_SOFTCAP = 30.0
Z_LOSS = 0.0001
QK_NORM = True
EMBED_LR_MULT = 1.0

TIME_BUDGET = float(os.environ.get("SWARM_TIME_BUDGET", "1"))
LOG_EVERY_S = 0.25

# ---------------------------------------------------------------------------
# Model: the constants as the harness reads them

config = dict(N_LAYER=N_LAYER, N_EMBD=N_EMBD, N_HEAD=N_HEAD, BATCH_SIZE=BATCH_SIZE,
              LEARNING_RATE=LEARNING_RATE, WARMUP_STEPS=WARMUP_STEPS,
              WEIGHT_DECAY=WEIGHT_DECAY, DROPOUT=DROPOUT,
              ADAM_BETA1=ADAM_BETA1, ADAM_BETA2=ADAM_BETA2, GRAD_CLIP=GRAD_CLIP, INIT_STD=INIT_STD,
              WARMDOWN_FRAC=WARMDOWN_FRAC, LABEL_SMOOTHING=LABEL_SMOOTHING, ROPE_BASE=ROPE_BASE,
              MLP_RATIO=MLP_RATIO, ADAM_EPS=ADAM_EPS, LOGIT_SOFTCAP=LOGIT_SOFTCAP, Z_LOSS=Z_LOSS,
              QK_NORM=QK_NORM, EMBED_LR_MULT=EMBED_LR_MULT)
try:
    check(config)  # a shape that cannot be built fails at once, as real training would
except ValueError as err:
    print(f"FAIL: {err}", flush=True)
    sys.exit(1)
num_params = N_LAYER * 12 * N_EMBD * N_EMBD
print(f"model: {num_params / 1e6:.3f}M params | budget {TIME_BUDGET:g}s", flush=True)

# ---------------------------------------------------------------------------
# Training: the budget passes; the loss settles towards what these constants allow

final = true_bpb(config) + noise(config)
training_time = 0.0
step = 0
while training_time < TIME_BUDGET:
    time.sleep(min(LOG_EVERY_S, TIME_BUDGET - training_time))
    training_time = time.time() - t_start
    step += 1
    progress = min(1.0, training_time / TIME_BUDGET)
    print(f"step {step} | loss {final + (1 - progress) * 2.0:.4f} | {training_time:.1f}s/{TIME_BUDGET:g}s", flush=True)

# ---------------------------------------------------------------------------
# Summary

print("---")
print(f"val_bpb: {final:.6f}")
print(f"training_seconds: {training_time:.1f}")
print(f"total_seconds: {time.time() - t_start:.1f}")
print("peak_vram_mb: 0.0")
print(f"num_params_M: {num_params / 1e6:.3f}")
print(f"num_steps: {step}")
