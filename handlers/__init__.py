"""TorchServe handlers: one module per model kind, each defining exactly one handler class (TorchServe's
loader requires that). They import only each other, torch, PIL, TorchServe and (for model.onnx only)
onnxruntime, so a .mar that bundles this folder runs in a stock TorchServe where this project is not installed;
explanations also need Captum, imported only when one is asked for (handlers/explaining.py)."""

# The handler (module, class) that serves each kind named in signature.json: the one place that says it. The
# archiver packs it; the gateway's ModelKind objects (serving/gateway/core/kinds/) read it, and refuse to start
# unless they and this table name the same kinds.
HANDLERS = {
    "regression": ("regression", "RegressionHandler"),
    "tabular-classification": ("classification", "ClassificationHandler"),
    "image-classification": ("image_classification", "ImageClassificationHandler"),
    "text-generation": ("text_generation", "TextGenerationHandler"),
    "image-generation": ("image_generation", "ImageGenerationHandler"),
    "policy": ("policy", "PolicyHandler"),
}
# The kinds whose handler explains its predictions (Integrated Gradients, handlers/explaining.py). Training exports
# an explanation program for their models (model.explain.pt2), so that they explain on any runtime; the gateway's
# ModelKind objects route /explain to these kinds and refuse to start unless they name the same ones.
EXPLAINED_KINDS = frozenset({"regression", "tabular-classification", "image-classification"})
