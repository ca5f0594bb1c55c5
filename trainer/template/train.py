"""
Byte-level GPT on the Brown corpus. This is the one file agents edit.

Trains for a fixed wall-clock budget (prepare.TIME_BUDGET seconds), then reports
val_bpb on the fixed validation windows and exports model.onnx.

    python prepare.py && python train.py
"""

import os
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads steal the CPU from everyone else

import contextlib
import math
import sys
import time

t_start = time.time()

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import CONTEXT, VOCAB, TIME_BUDGET, get_batch, evaluate_bpb, export_onnx

# ---------------------------------------------------------------------------
# Hyperparameters

N_LAYER = 2
N_EMBD = 128
N_HEAD = 4
MLP_RATIO = 4
DROPOUT = 0.0
ROPE_BASE = 10000.0

BATCH_SIZE = 8
LEARNING_RATE = 3e-3
WARMUP_STEPS = 50
WARMDOWN_FRAC = 0.4  # last fraction of the time budget decays the lr linearly to zero
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.95)
GRAD_CLIP = 1.0
SEED = 1337
LOG_EVERY_S = 5.0

# ---------------------------------------------------------------------------
# Model

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


def rotary_tables(head_dim, length, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(length).float(), inv_freq)  # [T, head_dim/2]
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    # x: [B, H, T, D]; rotate the two halves of each head as complex pairs
    d = x.size(-1) // 2
    x1, x2 = x[..., :d], x[..., d:]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # keep q, k in the autocast dtype of v
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
        self.proj = nn.Linear(N_EMBD, N_EMBD, bias=False)
        self.dropout = nn.Dropout(DROPOUT)
        cos, sin = rotary_tables(N_EMBD // N_HEAD, CONTEXT, ROPE_BASE)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).tril()
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, N_HEAD, C // N_HEAD).permute(2, 0, 3, 1, 4)
        cos, sin = self.cos[:T], self.sin[:T]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if HAS_SDPA and not torch.onnx.is_in_onnx_export():
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=DROPOUT if self.training else 0.0)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(~self.mask[:T, :T], float("-inf")).softmax(dim=-1)
            y = self.dropout(att) @ v
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.dropout(self.proj(y))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(N_EMBD, MLP_RATIO * N_EMBD, bias=False)
        self.down = nn.Linear(MLP_RATIO * N_EMBD, N_EMBD, bias=False)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, x):
        return self.dropout(self.down(F.gelu(self.up(x))))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(N_EMBD)
        self.attn = CausalSelfAttention()
        self.ln2 = nn.LayerNorm(N_EMBD)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, N_EMBD)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(N_EMBD)
        self.head = nn.Linear(N_EMBD, VOCAB, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                # residual branches start small so the stack begins close to identity
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * N_LAYER))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # logits [B, T, VOCAB]


# ---------------------------------------------------------------------------
# Setup

torch.manual_seed(SEED)
if torch.cuda.is_available():
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
    device = torch.device("mps")
else:
    device = torch.device("cpu")
# bf16 autocast only on CUDA: on CPU it is slow or unsupported, and MPS keeps fp32.
autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


model = GPT().to(device)
num_params = sum(p.numel() for p in model.parameters())
print(f"model: {num_params / 1e6:.3f}M params | {device.type} | budget {TIME_BUDGET:g}s", flush=True)

decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW(
    [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
    lr=LEARNING_RATE, betas=BETAS)


def lr_multiplier(step, progress):
    """Linear warmup over steps, flat, then linear decay to zero over the last WARMDOWN_FRAC of time."""
    warmup = min(1.0, (step + 1) / WARMUP_STEPS)
    warmdown = min(1.0, (1.0 - progress) / WARMDOWN_FRAC)
    return max(0.0, min(warmup, warmdown))


# ---------------------------------------------------------------------------
# Training: exactly TIME_BUDGET seconds of stepping, measured on a synced clock

generator = torch.Generator().manual_seed(SEED)
step = 0
training_time = 0.0
tokens_trained = 0
smooth_loss = 0.0
next_log = 0.0
model.train()
while training_time < TIME_BUDGET:
    sync()
    t0 = time.perf_counter()

    lr = LEARNING_RATE * lr_multiplier(step, training_time / TIME_BUDGET)
    for group in optimizer.param_groups:
        group["lr"] = lr
    x, y = get_batch(BATCH_SIZE, device, generator)
    with autocast:
        logits = model(x)
    loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), y.reshape(-1))
    loss.backward()
    if GRAD_CLIP > 0:
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

    loss_value = loss.item()  # also syncs
    sync()
    dt = time.perf_counter() - t0
    if not math.isfinite(loss_value):
        print(f"FAIL: loss is {loss_value} at step {step}", flush=True)
        sys.exit(1)
    if step > 0:  # the first step pays for allocation and kernel warm-up
        training_time += dt
        tokens_trained += x.numel()
    smooth_loss = 0.95 * smooth_loss + 0.05 * loss_value
    if training_time >= next_log:
        debiased = smooth_loss / (1 - 0.95 ** (step + 1))
        print(f"step {step} | loss {debiased:.4f} | lr {lr:.2e} | {training_time:.1f}s/{TIME_BUDGET:g}s", flush=True)
        next_log += LOG_EVERY_S
    step += 1

# ---------------------------------------------------------------------------
# Evaluation, export, summary

val_bpb = evaluate_bpb(model, device)
export_onnx(model, "model.onnx")
peak_vram_mb = torch.cuda.max_memory_allocated() / 1024 / 1024 if device.type == "cuda" else 0.0

print("---")
print(f"val_bpb: {val_bpb:.6f}")
print(f"training_seconds: {training_time:.1f}")
print(f"total_seconds: {time.time() - t_start:.1f}")
print(f"peak_vram_mb: {peak_vram_mb:.1f}")
print(f"num_steps: {step}")
print(f"num_params_M: {num_params / 1e6:.3f}")
print(f"tokens_per_second: {tokens_trained / max(training_time, 1e-9):.0f}")
print(f"device: {device.type}", flush=True)
