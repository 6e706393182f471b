"""Check ``service.domain.activations`` against the tensors PyTorch autograd really keeps.

Run with the torch environment (CPU is enough, nothing is downloaded)::

    .venv-torch/bin/python bench/activations_validate.py            # full grid
    .venv-torch/bin/python bench/activations_validate.py --quick    # two sizes

Each model runs one forward pass and its loss in bf16 inside
``torch.autograd.graph.saved_tensors_hooks``; the pack hook records the storage of every tensor
saved for the backward pass, deduplicated by ``untyped_storage().data_ptr()`` (views of one
buffer count once) and excluding parameters and buffers. That sum is compared with the
estimate's stored activations (``total_bytes - recompute_bytes``: the transient re-materialised
layer exists only during the backward pass, which is not run).

Models:

* ``megatron``: a GPT written here the way Megatron-LM writes it, so every kernel is known:
  ``[s, b, h]`` layout, fused Q/K/V as views of one buffer, ``baddbmm`` scores, a fused
  scale-mask-softmax that keeps only its output (``FusedScaleMaskSoftmax``), 1-byte dropout masks
  (``torch.native_dropout``, the fused CUDA kernel's behaviour), tanh-GeLU keeping its input,
  a fused SwiGLU keeping its input, fp32 cross-entropy; selective recomputation checkpoints the
  core attention, full recomputation every block (reentrant ``torch.utils.checkpoint``).
* ``hf-gpt2`` and ``hf-llama``: stock Hugging Face ``transformers`` models built from tiny
  configs (random weights), with ``attn_implementation`` ``eager`` or ``sdpa``.

On CPU, ``torch.nn.functional.dropout`` multiplies by a mask of the input's dtype (2 bytes in
bf16); the CUDA kernel keeps a ``bool`` mask. The script routes ``F.dropout`` through
``torch.native_dropout`` so that CPU runs keep the masks a GPU run would keep.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain.activations import ActivationConfig, activation_memory
from service.domain.architecture import Architecture
from service.domain.types import Attention, Checkpointing, Family, PositionEmbedding

DTYPE = torch.bfloat16
MIB = 2**20

_original_dropout = F.dropout


def _fused_dropout(
    input: torch.Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> torch.Tensor:
    """``F.dropout`` with the CUDA kernel's 1-byte mask (``native_dropout``) on every device."""
    if not training or p == 0.0:
        return input
    return torch.native_dropout(input, p, True)[0]


F.dropout = _fused_dropout  # type: ignore[assignment]


# --- measurement --------------------------------------------------------------------------------


@dataclass
class Measured:
    total: int
    by_dtype: dict[str, int]


def measure(model: nn.Module, run: Callable[[], torch.Tensor]) -> Measured:
    """Bytes of unique storages saved for backward during ``run()`` (parameters excluded)."""
    exclude = {t.untyped_storage().data_ptr() for t in model.parameters()}
    exclude |= {t.untyped_storage().data_ptr() for t in model.buffers()}
    seen: dict[int, tuple[int, str]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr and ptr not in exclude:
            size = max(storage.nbytes(), seen.get(ptr, (0, ""))[0])
            seen[ptr] = (size, str(t.dtype).removeprefix("torch."))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = run()
    assert loss.requires_grad
    by_dtype: dict[str, int] = defaultdict(int)
    for size, dtype in seen.values():
        by_dtype[dtype] += size
    del loss
    return Measured(sum(by_dtype.values()), dict(by_dtype))


def attribute(loss: torch.Tensor, exclude: set[int]) -> dict[str, int]:
    """Saved bytes per ``node.attribute dtype`` (each storage charged to the first node found)."""
    charged: set[int] = set()
    out: dict[str, int] = defaultdict(int)
    stack, visited = [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in visited:
            continue
        visited.add(node)
        tensors: list[tuple[str, torch.Tensor]] = []
        for name in dir(node):
            if name.startswith("_saved_") and not name.endswith("_sym_sizes"):
                try:
                    value = getattr(node, name)
                except RuntimeError:  # freed, or not a tensor
                    continue
                values = value if isinstance(value, tuple | list) else [value]
                tensors.extend((name, v) for v in values if isinstance(v, torch.Tensor))
        if hasattr(node, "saved_tensors"):
            tensors.extend(("saved_tensors", t) for t in node.saved_tensors)
        for name, t in tensors:
            ptr = t.untyped_storage().data_ptr()
            if ptr and ptr not in exclude and ptr not in charged:
                charged.add(ptr)
                dtype = str(t.dtype).removeprefix("torch.")
                key = f"{type(node).__name__}.{name.removeprefix('_saved_')} {dtype}"
                out[key] += t.untyped_storage().nbytes()
        stack.extend(fn for fn, _ in node.next_functions)
    return dict(out)


# --- a Megatron-style GPT -----------------------------------------------------------------------


class ScaleMaskSoftmax(torch.autograd.Function):
    """Causal mask + softmax that keeps only its output (Megatron's FusedScaleMaskSoftmax)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        s = scores.shape[-1]
        causal = torch.ones(s, s, dtype=torch.bool, device=scores.device).triu(1)
        probs = torch.softmax(scores.masked_fill(causal, float("-inf")).float(), -1).to(scores)
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (probs,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return probs * (grad - (grad * probs).sum(-1, keepdim=True))


class SwiGLU(torch.autograd.Function):
    """silu(gate) * up that keeps only its input (Megatron-Core's fused bias_swiglu)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, fused: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(fused)
        gate, up = fused.chunk(2, dim=-1)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (fused,) = ctx.saved_tensors  # type: ignore[attr-defined]
        gate, up = fused.float().chunk(2, dim=-1)
        sig = torch.sigmoid(gate)
        silu = gate * sig
        g = grad.float()
        d_gate = g * up * (sig * (1 + gate * (1 - sig)))
        return torch.cat([d_gate, g * silu], dim=-1).to(fused)


@dataclass(frozen=True)
class Shape:
    h: int
    a: int
    s: int
    b: int
    layers: int = 2
    vocab: int = 1000
    kv: int | None = None
    d_ff: int | None = None
    gated: bool = False

    @property
    def ff(self) -> int:
        return self.d_ff or 4 * self.h

    @property
    def kv_heads(self) -> int:
        return self.kv or self.a


class Block(nn.Module):
    def __init__(self, shape: Shape, attention: str, dropout: float, recompute: str) -> None:
        super().__init__()
        h, a, kv = shape.h, shape.a, shape.kv_heads
        self.shape, self.attention, self.p, self.recompute = shape, attention, dropout, recompute
        self.hd = h // a
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.q = nn.Linear(h, a * self.hd)
        self.kv = nn.Linear(h, 2 * kv * self.hd)
        self.proj = nn.Linear(h, h)
        self.fc1 = nn.Linear(h, shape.ff * (2 if shape.gated else 1))
        self.fc2 = nn.Linear(shape.ff, h)

    def core(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """[s, b·a, d] views in, [s, b, h] context out."""
        s, ba, d = q.shape
        b = ba // self.shape.a
        if self.attention == "eager":
            scores = torch.baddbmm(
                torch.empty(ba, s, s, dtype=q.dtype),
                q.transpose(0, 1),
                k.transpose(0, 1).transpose(1, 2),
                beta=0.0,
                alpha=1.0 / math.sqrt(d),
            )
            probs = ScaleMaskSoftmax.apply(scores)
            if self.p:
                probs = torch.native_dropout(probs, self.p, True)[0]
            ctx = torch.bmm(probs, v.transpose(0, 1))  # [b·a, s, d]
            return ctx.view(b, self.shape.a, s, d).permute(2, 0, 1, 3).reshape(s, b, -1)
        kv = self.shape.kv_heads
        q4 = q.view(s, b, self.shape.a, d).permute(1, 2, 0, 3)
        k4 = k.view(s, b, kv, d).permute(1, 2, 0, 3)
        v4 = v.view(s, b, kv, d).permute(1, 2, 0, 3)
        out = F.scaled_dot_product_attention(
            q4, k4, v4, is_causal=True, enable_gqa=kv < self.shape.a
        )
        return out.permute(2, 0, 1, 3).reshape(s, b, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, b, _ = x.shape
        ln1 = self.ln1(x)
        q = self.q(ln1).view(s, b * self.shape.a, self.hd)
        k, v = self.kv(ln1).view(s, b * self.shape.kv_heads, 2 * self.hd).split(self.hd, dim=-1)
        if self.recompute == "selective":
            ctx = checkpoint(self.core, q, k, v, use_reentrant=True)
        else:
            ctx = self.core(q, k, v)
        x = x + self.drop(self.proj(ctx))
        hidden = self.fc1(self.ln2(x))
        act = SwiGLU.apply(hidden) if self.shape.gated else F.gelu(hidden, approximate="tanh")
        return x + self.drop(self.fc2(act))

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        return torch.native_dropout(x, self.p, True)[0] if self.p else x


class MegatronGPT(nn.Module):
    def __init__(self, shape: Shape, attention: str, dropout: float, recompute: str) -> None:
        super().__init__()
        self.shape, self.p, self.recompute = shape, dropout, recompute
        self.wte = nn.Embedding(shape.vocab, shape.h)
        self.wpe = nn.Embedding(shape.s, shape.h)
        self.blocks = nn.ModuleList(
            Block(shape, attention, dropout, recompute) for _ in range(shape.layers)
        )
        self.ln_f = nn.LayerNorm(shape.h)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        s = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(s))
        x = x.transpose(0, 1).contiguous()  # [s, b, h]
        if self.p:
            x = torch.native_dropout(x, self.p, True)[0]
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=True) if self.recompute == "full" else block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # [s, b, v], tied
        labels = ids.t().roll(-1, 0)
        return F.cross_entropy(logits.float().view(-1, self.shape.vocab), labels.reshape(-1))


# --- Hugging Face models ------------------------------------------------------------------------


def hf_gpt2(shape: Shape, attention: str) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=shape.vocab,
        n_positions=shape.s,
        n_embd=shape.h,
        n_layer=shape.layers,
        n_head=shape.a,
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1 if attention == "eager" else 0.0,
        attn_implementation=attention,
    )
    return GPT2LMHeadModel(config)


def hf_llama(shape: Shape, attention: str) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.h,
        intermediate_size=shape.ff,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.a,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=shape.s,
        attention_dropout=0.0,
        attn_implementation=attention,
    )
    return LlamaForCausalLM(config)


# --- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    model: str  # megatron | hf-gpt2 | hf-llama
    attention: str  # eager | flash (sdpa for Hugging Face)
    dropout: bool
    recompute: str  # none | selective | full
    shape: Shape

    @property
    def label(self) -> str:
        parts = [self.model, self.attention]
        parts.append("dropout" if self.dropout else "no-dropout")
        if self.recompute != "none":
            parts.append(self.recompute)
        if self.shape.gated:
            parts.append("swiglu")
        if self.shape.kv_heads != self.shape.a:
            parts.append(f"gqa{self.shape.kv_heads}")
        return " ".join(parts)


def formula_bytes(case: Case) -> int:
    shape = case.shape
    arch = Architecture(
        Family.DECODER_ONLY,
        shape.layers,
        shape.h,
        shape.a,
        shape.ff,
        shape.vocab,
        shape.s,
        n_kv_heads=shape.kv,
        gated_mlp=shape.gated,
        position_embedding=(
            PositionEmbedding.ROTARY if case.model == "hf-llama" else PositionEmbedding.LEARNED
        ),
    )
    est = activation_memory(
        arch,
        ActivationConfig(
            sequence_length=shape.s,
            micro_batch_size=shape.b,
            checkpointing=Checkpointing(case.recompute),
            attention=Attention.EAGER if case.attention == "eager" else Attention.FLASH,
            dropout=case.dropout,
            bytes_per_element=2,
        ),
    )
    return est.total_bytes - est.recompute_bytes


def build(case: Case) -> nn.Module:
    if case.model == "megatron":
        return MegatronGPT(case.shape, case.attention, 0.1 if case.dropout else 0.0, case.recompute)
    attention = "eager" if case.attention == "eager" else "sdpa"
    return (hf_gpt2 if case.model == "hf-gpt2" else hf_llama)(case.shape, attention)


def runner(model: nn.Module, case: Case) -> Callable[[], torch.Tensor]:
    ids = torch.randint(0, case.shape.vocab, (case.shape.b, case.shape.s))
    if case.model == "megatron":
        return lambda: model(ids)
    return lambda: model(input_ids=ids, labels=ids).loss


def run_case(case: Case) -> tuple[Measured, int, dict[str, int] | None]:
    torch.manual_seed(0)
    model = build(case).to(DTYPE).train()
    run = runner(model, case)
    measured = measure(model, run)
    attribution = None
    if case.model != "megatron" or case.recompute == "none":
        exclude = {t.untyped_storage().data_ptr() for t in model.parameters()}
        exclude |= {t.untyped_storage().data_ptr() for t in model.buffers()}
        attribution = attribute(run(), exclude)
    return measured, formula_bytes(case), attribution


SHAPES = [
    Shape(h=256, a=4, s=128, b=1),
    Shape(h=512, a=8, s=256, b=2),
    Shape(h=1024, a=16, s=512, b=1),
    Shape(h=512, a=8, s=512, b=4),
    Shape(h=1024, a=8, s=128, b=4),
]


def cases(shapes: list[Shape]) -> list[Case]:
    out: list[Case] = []
    for shape in shapes:
        llama = Shape(
            shape.h,
            shape.a,
            shape.s,
            shape.b,
            kv=max(1, shape.a // 4),
            d_ff=256 * math.ceil(8 * shape.h / 3 / 256),
            gated=True,
        )
        out += [
            Case("megatron", "eager", True, "none", shape),
            Case("megatron", "eager", True, "selective", shape),
            Case("megatron", "eager", True, "full", shape),
            Case("megatron", "eager", False, "none", shape),
            Case("megatron", "flash", True, "none", shape),
            Case("megatron", "flash", False, "none", llama),
            Case("hf-gpt2", "eager", True, "none", shape),
            Case("hf-gpt2", "flash", True, "none", shape),
            Case("hf-llama", "eager", False, "none", llama),
            Case("hf-llama", "flash", False, "none", llama),
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two shapes only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    shapes = SHAPES[:2] if args.quick else SHAPES
    print(f"torch {torch.__version__}, bf16 on CPU; bytes in MiB (2^20)\n")
    print(
        "| model / variant | h | a | s | b | measured | formula | measured / formula | "
        "fp32 | int64 | bool |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    attributions: dict[str, dict[str, int]] = {}
    report = shapes[1]
    for case in cases(shapes):
        measured, formula, attribution = run_case(case)
        sh = case.shape
        d = measured.by_dtype
        print(
            f"| {case.label} | {sh.h} | {sh.a} | {sh.s} | {sh.b} | {measured.total / MIB:.2f} | "
            f"{formula / MIB:.2f} | {measured.total / formula:.3f} | "
            f"{d.get('float32', 0) / MIB:.2f} | {d.get('int64', 0) / MIB:.3f} | "
            f"{d.get('bool', 0) / MIB:.2f} |",
            flush=True,
        )
        if attribution is not None and (sh.h, sh.s, sh.b) == (report.h, report.s, report.b):
            attributions[case.label] = attribution
    print(
        f"\nSaved bytes by autograd node, attribute and dtype (MiB; h={report.h}, s={report.s}, "
        f"b={report.b}, {report.layers} layers; entries under 0.01 MiB omitted):\n"
    )
    for label, attribution in attributions.items():
        top = sorted(attribution.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{name} {size / MIB:.2f}" for name, size in top if size >= 0.01 * MIB)
        print(f"* {label}: {listed}")


if __name__ == "__main__":
    main()
