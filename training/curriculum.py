"""The eight curriculum models, registered once. Every fact about a model lives in its entry here."""

from __future__ import annotations

from training.models import char_rnn, cnn, gan, tabular, transfer
from training.models import dqn as dqn_model
from training.recipes import dqn as dqn_recipes
from training.recipes import gan as gan_recipes
from training.recipes import language, vision
from training.recipes import tabular as tabular_recipes
from training.recipes import transfer as transfer_recipes
from training.registry import Floor, Kind, ModelCard, ModelSpec, TensorSpec, register

FEATURES = TensorSpec("features", "float32", (-1, "n_features"))
PROBABILITIES = TensorSpec("probabilities", "float32", (-1, "n_classes"))
PIXELS = TensorSpec("image", "float32", (-1, "channels", "height", "width"))
# TorchServe's batching is off: the gateway coalesces the requests that queue for a model into one envelope,
# with no delay, and the handler answers it in one forward pass. Measured (docs/benchmarks.md, the sweep): with
# TorchServe batching on, the envelopes wait its maxBatchDelay for batches that never fill.
# One torch thread per worker: scale with workers, never with threads that contend for the same cores.
CHAR_STATE = TensorSpec("state", "float32", (-1, "layers", "hidden"))
SERVING = {"batch_size": 1, "max_batch_delay_ms": 0, "torch_threads": 1}

register(ModelSpec(
    name="linear_regression",
    default_runtime="onnx",  # explained by its torch.export program: docs/runtimes.md, "Defaults"
    kind=Kind.REGRESSION,
    dataset="diabetes",
    summary="Predicts disease progression one year on from ten baseline measurements.",
    chapter="Part 2.1 — linear regression (线性回归示例)",
    build=tabular.linear,
    recipe=tabular_recipes.regression,
    skeleton=tabular_recipes.regression_skeleton,
    inputs=(FEATURES,),
    outputs=(TensorSpec("prediction", "float32", (-1,)),),
    floor=Floor("r2_gap", 0.03, higher_is_better=False,
                description="test R² within 0.03 of scikit-learn's closed-form LinearRegression"),
    hparams={"epochs": 100, "batch_size": 64, "lr": 0.1, "weight_decay": 0.0},
    hparams_source="python -m training tune linear_regression --trials 6 (docs/tuning/linear_regression.md)",
    serving=SERVING,
    search_space={"lr": (0.01, 0.05, 0.1), "epochs": (100, 200)},
    card=ModelCard(
        intended_use="Teaching: a linear model trained by gradient descent, checked against the closed form.",
        limitations="442 patients; a linear fit explains about half the variance. Not a clinical tool.",
        ethics="Medical data: predictions must never drive care decisions; the cohort is small and not "
               "representative of any population.",
    ),
))

register(ModelSpec(
    name="logistic_regression",
    default_runtime="onnx",  # explained by its torch.export program: docs/runtimes.md, "Defaults"
    kind=Kind.TABULAR_CLASSIFICATION,
    dataset="breast_cancer",
    summary="Classifies a breast mass as malignant or benign from 30 features of a digitized image.",
    chapter="Part 2.2 — logistic regression (分类问题示例：逻辑回归)",
    build=tabular.linear,
    recipe=tabular_recipes.classification,
    skeleton=tabular_recipes.classification_skeleton,
    inputs=(FEATURES,),
    outputs=(PROBABILITIES,),
    floor=Floor("accuracy", 0.95, higher_is_better=True, description="held-out accuracy ≥ 0.95"),
    hparams={"epochs": 60, "batch_size": 32, "lr": 0.01, "weight_decay": 1e-3, "loss": "bce"},
    hparams_source="python -m training tune logistic_regression --trials 6 (docs/tuning/logistic_regression.md)",
    serving=SERVING,
    search_space={"lr": (0.003, 0.01, 0.03), "weight_decay": (0.0, 1e-3)},
    card=ModelCard(
        intended_use="Teaching: binary classification with BCE on logits.",
        limitations="569 samples from one institution; probabilities are not calibrated for other sites.",
        ethics="A false negative on a malignant mass is far costlier than a false positive; a deployed "
               "screening model would need clinical validation, a chosen operating point and human review.",
    ),
))

register(ModelSpec(
    name="mlp_classifier",
    default_runtime="onnx",  # explained by its torch.export program: docs/runtimes.md, "Defaults"
    kind=Kind.TABULAR_CLASSIFICATION,
    dataset="wine",
    summary="Names the cultivar of a wine from 13 chemical measurements.",
    chapter="Part 2.2 — multi-class classification and cross-entropy; Part 5.1 — custom layers and losses; "
            "Part 3.4 — BatchNorm",
    build=tabular.mlp,
    recipe=tabular_recipes.classification,
    skeleton=tabular_recipes.classification_skeleton,
    inputs=(FEATURES,),
    outputs=(PROBABILITIES,),
    floor=Floor("accuracy", 0.95, higher_is_better=True, description="held-out accuracy ≥ 0.95"),
    hparams={"epochs": 60, "batch_size": 16, "lr": 0.01, "weight_decay": 1e-4, "hidden": 16,
             "dropout": 0.2, "loss": "label_smoothing", "smoothing": 0.1},
    hparams_source="python -m training tune mlp_classifier --trials 8 (docs/tuning/mlp_classifier.md)",
    serving=SERVING,
    search_space={"hidden": (16, 32, 64), "dropout": (0.1, 0.2), "lr": (0.003, 0.01)},
    card=ModelCard(
        intended_use="Teaching: a multi-class MLP with BatchNorm, dropout, a custom gated layer and a "
                     "label-smoothing loss.",
        limitations="178 wines of three cultivars from one Italian region; anything else is out of scope.",
        ethics="Low stakes; the lesson is that a confident softmax on out-of-distribution input means "
               "nothing, so clients should not read probabilities as certainty.",
    ),
))

register(ModelSpec(
    name="cnn_digits",
    default_runtime="onnx",  # explained by its torch.export program: docs/runtimes.md, "Defaults"
    kind=Kind.IMAGE_CLASSIFICATION,
    dataset="digits",
    summary="Reads a handwritten digit from an 8x8 grayscale image.",
    chapter="Part 3.1 — convolutional networks; Part 4.1 — image classification project",
    build=cnn.digit_cnn,
    recipe=vision.image_classification,
    skeleton=vision.image_classification_skeleton,
    inputs=(PIXELS,),
    outputs=(PROBABILITIES,),
    floor=Floor("accuracy", 0.97, higher_is_better=True, description="held-out accuracy ≥ 0.97"),
    hparams={"epochs": 25, "batch_size": 64, "lr": 0.003, "weight_decay": 1e-4, "width": 32, "dropout": 0.2},
    full_profile={"epochs": 60},
    hparams_source="python -m training tune cnn_digits --trials 8 (docs/tuning/cnn_digits.md)",
    serving=SERVING,
    search_space={"width": (16, 32), "lr": (0.001, 0.003), "epochs": (15, 25)},
    card=ModelCard(
        intended_use="Teaching: convolution, pooling and BatchNorm on a small image task; the judge for the GAN.",
        limitations="8x8 digits written by 43 people; other scripts, sizes or styles degrade it.",
        ethics="Handwriting identifies people; train and serve only on data collected with consent.",
    ),
))

register(ModelSpec(
    name="char_rnn",
    default_runtime="torchscript",  # docs/runtimes.md: its step loop ran fastest on it
    kind=Kind.TEXT_GENERATION,
    dataset="pydoc_topics",
    summary="Continues a prompt one character at a time in the style of Python's documentation.",
    chapter="Part 3.2 — recurrent networks and language modelling; Part 4.2 — sequence generation project",
    build=char_rnn.char_gru,
    recipe=language.char_language_model,
    inputs=(TensorSpec("tokens", "int64", (-1, -1)), CHAR_STATE),
    outputs=(TensorSpec("logits", "float32", (-1, -1, "vocab_size")),
             TensorSpec("next_state", "float32", (-1, "layers", "hidden"))),
    floor=Floor("ce_ratio", 0.5, higher_is_better=False,
                description="validation cross-entropy ≤ 0.5 × the unigram character entropy of the text"),
    hparams={"steps": 400, "seq_len": 128, "batch_size": 64, "lr": 0.003, "weight_decay": 0.0,
             "embedding": 64, "hidden": 256, "layers": 1, "dropout": 0.0, "max_new_tokens": 256},
    full_profile={"steps": 4000, "layers": 2, "hidden": 384, "dropout": 0.1},
    portable_inputs=(TensorSpec("tokens", "int64", (-1, 1)), CHAR_STATE),
    export_note="model.pt2 and model.onnx hold one GRU step (one token per row in, logits and the next state "
                "out): torch.export unrolls the GRU over time, so it fixes the sequence length it traces. The "
                "handler feeds the prompt one token at a time and keeps the sampling loop (temperature, top-k, "
                "a seeded generator per request, stop at max_new_tokens), which has data-dependent control flow "
                "and per-request randomness that an exported graph cannot carry.",
    hparams_source="python -m training tune char_rnn --trials 4 (docs/tuning/char_rnn.md)",
    serving=SERVING,
    search_space={"hidden": (128, 256), "lr": (0.002, 0.003, 0.005)},
    card=ModelCard(
        intended_use="Teaching: an RNN language model and sampling with temperature and top-k.",
        limitations="Learns spelling and layout of one manual; the text it writes is fluent-looking nonsense "
                    "and must never be presented as documentation or fact.",
        ethics="Generated text can be mistaken for authoritative; label it as machine-generated wherever "
               "it is shown.",
    ),
))

register(ModelSpec(
    name="transfer_cnn",
    default_runtime="onnx",  # explained by its torch.export program: docs/runtimes.md, "Defaults"
    kind=Kind.IMAGE_CLASSIFICATION,
    dataset="digits",
    summary="Reads a digit after learning from only 200 labels, by reusing a ResNet pretrained on shapes.",
    chapter="Part 3.3 — pretrained models and transfer learning; Part 4.3 — transfer learning project",
    build=transfer.transfer_resnet,
    recipe=transfer_recipes.transfer_learning,
    skeleton=transfer_recipes.transfer_skeleton,
    inputs=(PIXELS,),
    outputs=(PROBABILITIES,),
    floor=Floor("gain_points", 5.0, higher_is_better=True,
                description="beats the same network trained from scratch on the same labels by ≥ 5 points"),
    hparams={"blocks": "1,1,1,1", "input_size": 32, "labels_per_class": 3, "pretrain_images": 8000,
             "pretrain_classes": 64,
             "pretrain_epochs": 4, "head_epochs": 5, "finetune_epochs": 15, "scratch_epochs": 25,
             "batch_size": 32, "lr": 0.003,
             "finetune_lr": 0.0005, "weight_decay": 1e-4, "pretrained_weights": ""},
    full_profile={"pretrain_images": 20000, "pretrain_epochs": 8},
    hparams_source="python -m training tune transfer_cnn --trials 4 (docs/tuning/transfer_cnn.md)",
    serving=SERVING,
    search_space={"finetune_lr": (0.0002, 0.0005, 0.001), "head_epochs": (5, 10)},
    # Rank trials by the transferred network's own accuracy: ranking by the gain would reward settings
    # that merely weaken the from-scratch baseline.
    tune_metric="accuracy",
    card=ModelCard(
        intended_use="Teaching: reuse a backbone when labels are scarce; frozen head first, then fine-tuning.",
        limitations="Fine-tuned on 200 labelled 8x8 digits; its accuracy is below cnn_digits', which saw "
                    "all 1437 training labels.",
        ethics="Pretrained weights carry the biases of their data; audit them before reuse on people.",
    ),
))

register(ModelSpec(
    name="dcgan_digits",
    default_runtime="onnx",  # docs/runtimes.md, "Defaults"
    kind=Kind.IMAGE_GENERATION,
    dataset="digits",
    summary="Draws an 8x8 image of the digit it is asked for.",
    chapter="Part 5.2 — image generation and GANs",
    build=gan.conditional_gan,
    recipe=gan_recipes.conditional_gan,
    inputs=(TensorSpec("digit", "int64", (-1,)), TensorSpec("noise", "float32", (-1, "latent_dim"))),
    outputs=(TensorSpec("image", "float32", (-1, 1, 8, 8)),),
    floor=Floor("judge_accuracy", 0.8, higher_is_better=True,
                description="cnn_digits classifies ≥ 80% of generated samples as the requested digit"),
    hparams={"steps": 4000, "batch_size": 64, "lr": 0.0004, "latent_dim": 32, "width": 64},
    full_profile={"steps": 12000},
    hparams_source="AC-GAN (Odena et al., 2017) scaled to 8x8; lr and width from docs/tuning/dcgan_digits.md",
    serving=SERVING,
    requires=("cnn_digits",),
    export_note="Only the generator is exported (digit and noise in, image out); the discriminator is for "
                "training only. The noise is drawn in the handler from a generator seeded per request, so the "
                "same seed gives the same image on every runtime, and the PNG is encoded there too.",
    search_space={"lr": (0.0002, 0.0004), "width": (32, 64)},
    card=ModelCard(
        intended_use="Teaching: adversarial training and class-conditional generation.",
        limitations="Draws only 8x8 digits in the style of one small dataset; samples can be ambiguous.",
        ethics="Generative models can fabricate convincing records (handwriting, signatures, faces); "
               "watermark or label generated media and do not train on data without consent.",
    ),
))

register(ModelSpec(
    name="dqn_cartpole",
    default_runtime="onnx",  # docs/runtimes.md, "Defaults"
    kind=Kind.POLICY,
    dataset="CartPole-v1",
    summary="Balances a pole on a cart: observation in, action and Q-values out.",
    chapter="Part 5.3 — reinforcement learning, Q-learning and DQN",
    build=dqn_model.q_network,
    recipe=dqn_recipes.dqn,
    inputs=(TensorSpec("observation", "float32", (-1, "observation_dim")),),
    outputs=(TensorSpec("q_values", "float32", (-1, "n_actions")),),
    floor=Floor("mean_return", 195.0, higher_is_better=True,
                description="mean return ≥ 195 over 20 seeded greedy episodes"),
    hparams={"steps": 30000, "warmup_steps": 1000, "buffer_size": 50000, "batch_size": 64, "lr": 0.0005,
             "gamma": 0.99, "epsilon_end": 0.02, "epsilon_decay_steps": 5000, "target_every": 250,
             "validate_every": 1000, "stop_at_return": 475.0, "hidden": 128},
    full_profile={"steps": 100000, "stop_at_return": 500.0},
    hparams_source="DQN defaults (Mnih et al., 2015; van Hasselt et al., 2016); lr, target_every and "
                   "epsilon_decay_steps from a sweep (docs/tuning/dqn_cartpole.md)",
    serving=SERVING,
    search_space={"lr": (0.0005, 0.001, 0.002), "target_every": (100, 250, 500)},
    card=ModelCard(
        intended_use="Teaching: value-based reinforcement learning with replay and a target network.",
        limitations="Trained in one simulator; it has never seen real dynamics, noise or delays.",
        ethics="A policy that looks perfect in simulation can fail unsafely in the world; never connect a "
               "learnt controller to hardware without safety limits and human oversight.",
    ),
))
