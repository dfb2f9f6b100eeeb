"""The encoder the job trains: ours from the model flags, or a pretrained BERT.

`--backbone=ours` builds a `keras_simpletf.layers.TransformerEncoder` from the
model flags, over a WordPiece vocabulary learned from the training texts, cased
or not as `--lowercase` (or the task) says. `--backbone=minilm`, or the path of
a local BERT preset directory, loads pretrained weights with
`keras_simpletf.models.load_bert_backbone`; such a backbone brings its own
vocabulary and casing, read with `bert_vocabulary`, because it can only read
text the way it was trained to.
"""

from keras_simpletf import layers, models, text
from trainers.config import SettingsError

OURS = "ours"
MINILM = "minilm"


def pretrained_preset(backbone):
    """The preset directory `--backbone` names: `None` for ours.

    Args:
        backbone: str, the `--backbone` value: `"ours"`, `"minilm"` or a path.

    Returns:
        `None`, the installed MiniLM's directory, or `backbone` itself.

    Raises:
        SettingsError: `minilm` without its package, naming how to install it.

    Example:

    ```python
    pretrained_preset("ours")   # None
    pretrained_preset("/models/bert")   # '/models/bert'
    ```
    """
    if backbone == OURS:
        return None
    if backbone != MINILM:
        return backbone
    try:
        return models.minilm_preset()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise SettingsError(f"--backbone={backbone}: {error}") from None


def block_options(settings):
    """Our encoder's block settings from the model flags (`--num_heads`, `--layout`, ...)."""
    return {
        "num_heads": settings.num_heads,
        "num_kv_heads": settings.num_kv_heads,
        "intermediate_dim": settings.intermediate_dim,
        "layout": settings.layout,
        "norm": settings.norm,
        "residual": settings.residual,
        "value_free": settings.value_free,
        "relative_position_range": settings.relative_positions or None,
    }


class JobBackbone:
    """The job's encoder: its vocabulary, its casing, and how to build it.

    Args:
        settings: the job's settings (`backbone`, `lowercase`, the model flags,
            `vocabulary_size`, `sequence_length`, `dropout`).
        default_lowercase: bool, the task's casing for our encoder when
            `--lowercase` is unset.

    Attributes:
        preset: the pretrained preset directory, or `None` for ours.
        lowercase: bool, whether the tokenizer lower-cases (and strips accents).

    Raises:
        SettingsError: a preset that is missing or no BERT, or a `--lowercase`
            that contradicts the pretrained tokenizer's casing.

    Example:

    ```python
    from trainers.config import parse_settings

    backbone = JobBackbone(parse_settings(["--vocabulary_size=60"]), default_lowercase=True)
    vocabulary = backbone.vocabulary(lambda: ["a great film", "a dull plot"] * 20)
    encoder = backbone.build(len(vocabulary))   # a TransformerEncoder, width 64
    ```
    """

    def __init__(self, settings, default_lowercase):
        self.settings = settings
        self.preset = pretrained_preset(settings.backbone)
        self._vocabulary_path = None
        if self.preset is None:
            self.lowercase = default_lowercase if settings.lowercase is None else settings.lowercase
            return
        try:
            self._vocabulary_path, self.lowercase = models.bert_vocabulary(self.preset)
        except (FileNotFoundError, ValueError) as error:
            raise SettingsError(f"--backbone={settings.backbone}: {error}") from None
        if settings.lowercase not in (None, self.lowercase):
            casing = "lower-cases its input" if self.lowercase else "keeps case"
            raise SettingsError(
                f"--lowercase={settings.lowercase} contradicts --backbone={settings.backbone}, "
                f"whose tokenizer {casing}: a pretrained backbone reads text as it was trained "
                "to. Drop --lowercase."
            )

    def describe(self, vocabulary):
        """One line on the encoder and the `vocabulary` it reads."""
        casing = "lower-cased" if self.lowercase else "cased"
        if self.preset is None:
            origin = (
                f"learned from the training texts (--vocabulary_size="
                f"{self.settings.vocabulary_size})"
            )
            encoder = "our TransformerEncoder, trained from scratch"
        else:
            origin = "the pretrained tokenizer's"
            encoder = f"the pretrained BERT in {self.preset}"
        return (
            f"Backbone: {encoder}; {len(vocabulary)} WordPiece tokens, {origin}, {casing}; "
            f"--sequence_length={self.settings.sequence_length}."
        )

    def vocabulary(self, texts):
        """The token list: learned from `texts()` for ours, the preset's otherwise.

        Args:
            texts: a function returning the training texts (called for ours only).

        Raises:
            SettingsError: the texts cannot give a vocabulary of `--vocabulary_size`.
        """
        if self.preset is None:
            size = self.settings.vocabulary_size
            try:
                return text.learn_vocabulary(
                    texts(), size, lowercase=self.lowercase, allow_smaller=True
                )
            except ValueError as error:
                raise SettingsError(f"--vocabulary_size={size}: {error}") from None
        return text.read_vocabulary(self._vocabulary_path)

    def build(self, vocabulary_size):
        """The encoder: our `TransformerEncoder`, or the pretrained keras-hub BERT.

        Args:
            vocabulary_size: int, the size of `vocabulary()` (ours only).

        Raises:
            SettingsError: the preset cannot be loaded, or is shorter than
                `--sequence_length`.
        """
        settings = self.settings
        if self.preset is None:
            return layers.TransformerEncoder(
                vocabulary_size=vocabulary_size,
                num_layers=settings.num_layers,
                hidden_dim=settings.hidden_dim,
                max_length=settings.sequence_length,
                dropout=settings.dropout,
                **block_options(settings),
            )
        try:
            encoder = models.load_bert_backbone(self.preset)
        except (FileNotFoundError, ValueError, ImportError) as error:
            raise SettingsError(f"--backbone={settings.backbone}: {error}") from None
        if settings.sequence_length > encoder.max_sequence_length:
            raise SettingsError(
                f"--sequence_length={settings.sequence_length} is longer than the "
                f"{encoder.max_sequence_length} positions --backbone={settings.backbone} "
                "was trained on."
            )
        return encoder
