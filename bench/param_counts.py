"""Check ``count_parameters`` against the real ``transformers`` model classes.

For every ``config.json`` in ``REAL_CONFIGS`` of ``tests/domain/test_hf_config.py`` (read with
``ast.literal_eval``, so the test and this script share one copy), build the ``transformers``
class from the config on PyTorch's meta device -- exact shapes, no memory, no download -- count
``sum(p.numel() for p in model.parameters())`` (tied weights once), and compare it with
``count_parameters(architecture_from_hf_config(config))``. Prints a markdown table; exits 1 if
any model is off by more than 0.5%.

Classes: ``AutoModelForCausalLM`` for decoders, ``AutoModelForSeq2SeqLM`` for T5/mT5/BART,
``AutoModel`` (``BertModel`` with its pooler) for encoders -- the variants whose counts
``count_parameters`` reproduces (see ``service/domain/architecture.py``).

Run it with the validation environment (torch + transformers; never the service's venv)::

    .venv-torch/bin/python bench/param_counts.py
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.domain.architecture import count_parameters  # noqa: E402
from service.domain.hf_config import architecture_from_hf_config  # noqa: E402

CONFIGS_FILE = ROOT / "tests" / "domain" / "test_hf_config.py"
TOLERANCE = 0.005
SEQ2SEQ = {"t5", "mt5", "bart"}
ENCODERS = {"bert", "roberta", "xlm-roberta"}


def load_configs(path: Path) -> dict[str, dict[str, Any]]:
    """The ``REAL_CONFIGS`` literal of ``path``, without importing it (no pytest needed)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "REAL_CONFIGS" and node.value:
            configs: dict[str, dict[str, Any]] = ast.literal_eval(node.value)
            return configs
    raise SystemExit(f"no REAL_CONFIGS literal in {path}")


@dataclass(frozen=True)
class Reference:
    """Counts read off a ``transformers`` model."""

    cls: str
    total: int
    embedding: int  # every nn.Embedding (token, position, token-type, T5 bias) + untied head
    active: int  # total, less the unused experts' share for a mixture of experts
    note: str


def reference_count(raw: dict[str, Any]) -> Reference:
    """Build the transformers model of ``raw`` on the meta device and count its parameters."""
    import torch
    import transformers

    model_type = raw["model_type"]
    config = transformers.AutoConfig.for_model(
        model_type, **{k: v for k, v in raw.items() if k != "model_type"}
    )
    if model_type in SEQ2SEQ:
        auto: Any = transformers.AutoModelForSeq2SeqLM
    elif model_type in ENCODERS:
        auto = transformers.AutoModel
    else:
        auto = transformers.AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(config)
    note = ""
    head = model.get_output_embeddings()
    if (
        raw.get("tie_word_embeddings") is False
        and head is not None
        and (head.weight is embedding_weight(model))
    ):
        # transformers 5 ties T5/mT5 heads whatever the config says (configuration_t5.py sets
        # tie_word_embeddings=True) and unties them in from_pretrained when the checkpoint holds
        # a separate lm_head.weight, as every T5 v1.1 / Flan-T5 / mT5 checkpoint does. Do the
        # same here so that the count is the checkpoint's.
        with torch.device("meta"):
            head.weight = torch.nn.Parameter(torch.empty_like(head.weight))
        note = "head untied as in the checkpoint"
    total = sum(p.numel() for p in model.parameters())
    tables = {
        id(p): p
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding)
        for p in module.parameters()
    }  # by identity: T5's and BART's shared table is one tensor in three modules
    if head is not None:
        tables[id(head.weight)] = head.weight
    embedding = sum(p.numel() for p in tables.values())
    experts = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    active = total
    if experts:
        n_experts, top_k = raw["num_local_experts"], raw["num_experts_per_tok"]
        active = total - experts + experts * top_k // n_experts
    return Reference(type(model).__name__, total, embedding, active, note)


def embedding_weight(model: Any) -> Any:
    """The token embedding matrix."""
    return model.get_input_embeddings().weight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=Path, default=CONFIGS_FILE)
    parser.add_argument("names", nargs="*", help="only these models (default: all)")
    args = parser.parse_args(argv)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()  # e.g. Gemma's note on its legacy hidden_act
    configs = load_configs(args.configs)
    names = args.names or list(configs)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}\n")
    print(
        "| model | transformers class | transformers count | our count | rel. error "
        "| embedding | non-embedding | active |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    mismatches = []
    started = time.perf_counter()
    for name in names:
        raw = configs[name]
        real = reference_count(raw)
        ours = count_parameters(architecture_from_hf_config(raw))
        error = (ours.total - real.total) / real.total
        worst = max(worst, abs(error))
        shown = "exact" if ours.total == real.total else f"{error:+.4%}"
        label = f"{real.cls} ({real.note})" if real.note else real.cls
        columns = []
        for what, mine, theirs in (
            ("embedding", ours.embedding, real.embedding),
            ("non-embedding", ours.non_embedding, real.total - real.embedding),
            ("active", ours.active, real.active),
        ):
            columns.append(f"{mine:,}" + ("" if mine == theirs else f" (transformers {theirs:,})"))
            if mine != theirs:
                mismatches.append(f"{name}: {what}")
        cells = [name, label, f"{real.total:,}", f"{ours.total:,}", shown, *columns]
        print(f"| {' | '.join(cells)} |")
    elapsed = time.perf_counter() - started
    print(f"\n{len(names)} models in {elapsed:.1f} s; worst total error {worst:.4%}")
    print("component mismatches: " + (", ".join(mismatches) if mismatches else "none"))
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
