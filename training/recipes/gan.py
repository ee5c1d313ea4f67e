"""Recipe for the conditional GAN: adversarial training on the digits, judged by the exported cnn_digits."""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812
from tqdm import tqdm

from training.data import images
from training.export import torchscript_deprecation_silenced
from training.recipes.base import RecipeContext, TrainResult

JUDGE = "cnn_digits"
JUDGED_PER_DIGIT = 100


def conditional_gan(ctx: RecipeContext) -> TrainResult:
    """AC-GAN training; the floor counts generated samples that cnn_digits reads as the requested digit."""
    hp = ctx.hparams
    digits = images.digits()
    n_classes = len(digits.labels)
    dims = {"latent_dim": int(hp["latent_dim"]), "n_classes": n_classes}
    generator, discriminator = ctx.spec.build(dims, hp)
    generator, discriminator = generator.to(ctx.device), discriminator.to(ctx.device)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=float(hp["lr"]), betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=float(hp["lr"]), betas=betas)
    rng = torch.Generator().manual_seed(ctx.seed)
    x_all, y_all = digits.x_train.to(ctx.device), digits.y_train.to(ctx.device)
    batch = int(hp["batch_size"])
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    for step in tqdm(range(int(hp["steps"])), desc=ctx.spec.name, disable=not ctx.progress, leave=False):
        idx = torch.randint(0, len(x_all), (batch,), generator=rng).to(ctx.device)
        real, labels = x_all[idx], y_all[idx]
        noise = torch.randn(batch, dims["latent_dim"], generator=rng).to(ctx.device)
        wanted = torch.randint(0, n_classes, (batch,), generator=rng).to(ctx.device)
        fake = generator(wanted, noise)

        real_logit, real_cls = discriminator(real)
        fake_logit, fake_cls = discriminator(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.full_like(real_logit, 0.9))  # smoothed
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
                  + F.cross_entropy(real_cls, labels) + F.cross_entropy(fake_cls, wanted))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        fake_logit, fake_cls = discriminator(fake)
        g_loss = (F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
                  + F.cross_entropy(fake_cls, wanted))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % 50 == 0:
            history["d_loss"].append(d_loss.item())
            history["g_loss"].append(g_loss.item())

    generator = generator.cpu().eval()
    digit = torch.arange(n_classes).repeat_interleave(JUDGED_PER_DIGIT)
    noise = torch.randn(len(digit), dims["latent_dim"], generator=torch.Generator().manual_seed(ctx.seed + 1))
    with torch.inference_mode():
        samples = generator(digit, noise)
    metrics = {"judge_accuracy": judge(ctx, generator, digit, noise),
               "diversity_ratio": spread(samples, digit) / spread(digits.x_train, digits.y_train)}
    extra = {"labels": digits.labels, "image_size": [8, 8], "judge": JUDGE}
    return TrainResult(generator, (digit[::JUDGED_PER_DIGIT // 2][:16], noise[:16]), metrics, history, dims, extra)


def spread(images_: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean per-pixel standard deviation among images of the same digit: near 0 when a generator collapses
    to one image per class, about 1 × the real data's when it draws as varied digits as people do."""
    return float(torch.stack([images_[labels == c].std(dim=0).mean() for c in labels.unique()]).mean())


@torch.inference_mode()
def judge(ctx: RecipeContext, generator: torch.nn.Module, digit: torch.Tensor, noise: torch.Tensor) -> float:
    """Share of generated images that the exported cnn_digits classifies as the requested digit."""
    path = ctx.artifacts_dir / JUDGE / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{ctx.spec.name} is judged by {JUDGE}: train it first ({path} is missing)")
    with torchscript_deprecation_silenced():
        classifier = torch.jit.load(str(path), map_location="cpu")
    return float((classifier(generator(digit, noise)).argmax(dim=1) == digit).float().mean())
