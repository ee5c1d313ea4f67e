"""Recipe for the character language model: truncated backpropagation through time on pydoc's text."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from tqdm import tqdm

from training.data import text
from training.recipes.base import RecipeContext, TrainResult


def char_language_model(ctx: RecipeContext) -> TrainResult:
    """Train on random windows of the corpus; report validation cross-entropy against the unigram entropy."""
    hp = ctx.hparams
    corpus = text.load_corpus(holdout=ctx.holdout)
    vocab = len(corpus.vocab)
    dims = {"vocab_size": vocab, "layers": int(hp["layers"]), "hidden": int(hp["hidden"])}
    model = ctx.spec.build(dims, hp).to(ctx.device)
    steps, seq, batch = int(hp["steps"]), int(hp["seq_len"]), int(hp["batch_size"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=float(hp["lr"]), total_steps=steps)
    generator = torch.Generator().manual_seed(ctx.seed)
    train = corpus.train.to(ctx.device)
    history: dict[str, list[float]] = {"loss": [], "validation_ce": []}
    eval_every = max(1, steps // 10)
    bar = tqdm(range(steps), desc=ctx.spec.name, disable=not ctx.progress, leave=False)
    for step in bar:
        model.train()
        starts = torch.randint(0, len(train) - seq - 1, (batch,), generator=generator).to(ctx.device)
        window = torch.stack([train[s : s + seq + 1] for s in starts.tolist()])
        state = torch.zeros(batch, dims["layers"], dims["hidden"], device=ctx.device)
        logits, _ = model(window[:, :-1], state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            history["loss"].append(loss.item())
            history["validation_ce"].append(validation_ce(model, corpus.validation, dims, ctx.device))
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val=f"{history['validation_ce'][-1]:.3f}")
    model = model.cpu().eval()
    ce = history["validation_ce"][-1]
    entropy = text.unigram_entropy(corpus.train, vocab)
    metrics = {"validation_ce": ce, "unigram_entropy": entropy, "ce_ratio": ce / entropy,
               "bits_per_char": ce / math.log(2)}
    example = (corpus.validation[: 4 * 16].reshape(4, 16), torch.zeros(4, dims["layers"], dims["hidden"]))
    prompt = "".join(corpus.vocab[i] for i in corpus.validation[:40].tolist())
    extra = {"vocab": corpus.vocab, "max_new_tokens": int(hp["max_new_tokens"]),
             "default_temperature": 0.8, "default_top_k": 0, "example": {"prompt": prompt}}
    return TrainResult(model, example, metrics, history, dims, extra)


@torch.inference_mode()
def validation_ce(model: nn.Module, ids: torch.Tensor, dims: dict[str, int], device: torch.device,
                  chunk: int = 256, rows: int = 32) -> float:
    """Mean next-character cross-entropy (nats) over the validation text, read as `rows` parallel streams
    with the state carried across chunks, as generation would see it."""
    model.eval()
    usable = (len(ids) - 1) // rows * rows
    x = ids[:usable].reshape(rows, -1).to(device)
    y = ids[1 : usable + 1].reshape(rows, -1).to(device)
    state = torch.zeros(rows, dims["layers"], dims["hidden"], device=device)
    total, count = 0.0, 0
    for start in range(0, x.shape[1], chunk):
        logits, state = model(x[:, start : start + chunk], state)
        target = y[:, start : start + chunk]
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum"))
        count += target.numel()
    return total / count
