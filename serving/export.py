"""Export task models as TensorFlow Serving SavedModels: raw text in, labels and scores out.

`export(model, preprocessor, export_dir)` writes `export_dir/<version>/`, the
layout TensorFlow Serving polls. The SavedModel holds the preprocessor (so the
WordPiece tokenizer that trained the model is the one that serves it) and the
model's own label names (so the labels the server returns are the ones the
model was trained with). Signatures:

`TextClassifier`:
- `serving_default` (predict): `text` string `[batch]` -> `labels` string
  `[batch]` (multi-label: `[batch, num_labels]`, `""` where a label is off) and
  `scores` float `[batch, num_labels]`.
- `classify` (method `tensorflow/serving/classify`, what TensorFlow Serving's
  Classify API calls): serialized `tf.Example`s named `inputs` with a bytes
  feature `text` -> `classes` `[batch, num_labels]` and `scores`.
- `predict_token_ids`: `token_ids`, `segment_ids`, `padding_mask` -> `scores`,
  for clients that tokenize themselves.

`TextTwoTowerRetrieval` and `SequentialRetrieval` (recommendation; `k` and
`item_texts` are required):
- `recommend`: `user_id` string `[batch]`, `history` string `[batch, None]`
  (recent item ids, most recent first, `""`-padded) and `exclude_item_ids`
  string `[batch, None]` (items never to return besides the history's, e.g.
  everything the user already rated; `""`-padded) -> the top `k` `item_ids`,
  their `titles` (the `item_texts` given) and `scores`, by exact scoring
  against an item-embedding index stored in the SavedModel. Unknown users
  fall back to their history, no usable query to popularity (see
  `keras_simpletf.models.recommendation`).
- `serving_default`: the same without `exclude_item_ids` (only the
  history's items are left out).
- `rank`: `user_id`, `history` and `candidate_texts` string `[batch, C]` ->
  `scores` `[batch, C]`: the query's score of each candidate's text vector,
  so candidates need not be in the catalogue.
- `embed_items`: `text` `[batch]` -> `embeddings` `[batch, dim]`, to build an
  external approximate-nearest-neighbour index for very large catalogues
  (a `SequentialRetrieval` item's last entry is its bias, matched by a
  query's last entry, 1).

`TokenClassifier`:
- `serving_default`: `text` string `[batch]` -> `words`, `tags` (string),
  `starts`, `ends` (character offsets of each word in its text) and
  `num_words`; fixed shape `[batch, sequence_length - 2]` padded with `""`
  and `-1`. Words beyond that many, or whose first piece fell past the
  sequence length, are not returned or are tagged `"O"`. Tags are each
  text's best IOB2-valid sequence, decoded as `TokenClassifier.predict_word_tags`
  decodes them (`keras_simpletf.models.tag_decoding`).
- `predict_token_ids`: the features -> per-piece tag `scores`.

`Seq2SeqTransformer` (translation, summarization; the preprocessor is the
`Seq2SeqPreprocessor` with the SentencePiece model it trained with):
- `serving_default`: `text` string `[batch]` -> `outputs` string `[batch]`,
  the beam search's best output (width 4, length penalty 0.6), and `scores`
  float `[batch]`, its length-penalised log-probability.
- `generate_greedy`: the same by greedy search; `scores` are
  log-probabilities.
Both decode at most the preprocessor's `target_sequence_length` tokens.

`SpanQuestionAnswerer` (extractive question answering):
- `serving_default`: `question` and `context` strings `[batch]` -> `answer`
  (string, a span of the context; `""` for no answer), `start` and `end`
  (int32 character offsets into the context, `-1` for no answer) and `score`
  (the span's start + end logit). The context is cut into the
  preprocessor's windows and the best span across them is chosen in the
  graph (`keras_simpletf.models.answer_spans`), with the model's
  `max_answer_length` and `null_score_threshold`.
"""

import functools
import os
import uuid

import keras
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_simpletf.models import (
    Seq2SeqTransformer,
    SequentialRetrieval,
    SpanQuestionAnswerer,
    TextClassifier,
    TextTwoTowerRetrieval,
    TokenClassifier,
)
from keras_simpletf.models.tag_decoding import decode_word_tags
from keras_simpletf.models.question_answering import WINDOW_KEYS
from keras_simpletf.text import split_words

CLASSIFY_METHOD = "tensorflow/serving/classify"
_TOKEN_ID_SPECS = [
    tf.TensorSpec([None, None], tf.int32, name="token_ids"),
    tf.TensorSpec([None, None], tf.int32, name="segment_ids"),
    tf.TensorSpec([None, None], tf.bool, name="padding_mask"),
]
_TEXT_SPEC = [tf.TensorSpec([None], tf.string, name="text")]
_RETRIEVAL_MODELS = (TextTwoTowerRetrieval, SequentialRetrieval)


def next_version(export_dir):
    """1 more than the largest integer version directory in `export_dir` (1 if none)."""
    if not tf.io.gfile.isdir(export_dir):
        return 1
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(export_dir)]
    versions = [int(name) for name in names if name.isdigit()]
    return max(versions, default=0) + 1


def export(model, preprocessor, export_dir, version=None, k=None, item_texts=None):
    """Writes `model` with `preprocessor` as version `version` of `export_dir`.

    The version is written under a temporary name and renamed into place, so
    a server polling `export_dir` never loads a half-written version; an
    export that fails removes what it wrote and raises its error.

    Args:
        model: a `keras_simpletf.models.TextClassifier`, `TokenClassifier`,
            `Seq2SeqTransformer`, `SpanQuestionAnswerer`, `TextTwoTowerRetrieval`
            or `SequentialRetrieval`.
        preprocessor: the `ClassificationPreprocessor`,
            `TokenClassificationPreprocessor`, `Seq2SeqPreprocessor` or
            `QuestionAnsweringPreprocessor` the model was trained with.
        export_dir: the model's base path (local or `gs://`).
        version: int, or `None` for `next_version(export_dir)`.
        k: int, for recommenders: how many items `recommend` returns (at
            most the catalogue size).
        item_texts: list of str, for recommenders: the text (title) of each
            catalogue item, in the order of `model.item_ids`.

    Returns:
        The path of the written version directory.

    Example:

    ```python
    path = export(classifier, preprocessor, "/tmp/models/sentiment")   # .../sentiment/1
    ```
    """
    version = next_version(export_dir) if version is None else int(version)
    path = os.path.join(export_dir, str(version))
    if tf.io.gfile.exists(path):
        raise FileExistsError(f"Version {version} already exists at {path}.")
    if isinstance(model, TextClassifier):
        add_endpoints = _add_classifier_endpoints
    elif isinstance(model, TokenClassifier):
        add_endpoints = _add_token_classifier_endpoints
    elif isinstance(model, Seq2SeqTransformer):
        add_endpoints = _add_seq2seq_endpoints
    elif isinstance(model, SpanQuestionAnswerer):
        add_endpoints = _add_question_answerer_endpoints
    elif isinstance(model, _RETRIEVAL_MODELS):
        _check_retrieval_arguments(model, k, item_texts)
        add_endpoints = functools.partial(
            _add_retrieval_endpoints, k=k, item_texts=list(item_texts)
        )
    else:
        raise TypeError(
            "`model` must be a Seq2SeqTransformer, TextClassifier, TokenClassifier, "
            "SpanQuestionAnswerer, TextTwoTowerRetrieval or SequentialRetrieval, "
            f"got {type(model).__name__}."
        )
    archive = keras.export.ExportArchive()
    archive.track(model)
    add_endpoints(archive, model, preprocessor)
    tf.io.gfile.makedirs(export_dir)
    staging = os.path.join(export_dir, f".staging-{version}-{uuid.uuid4().hex}")
    try:
        archive.write_out(staging, verbose=False)
        if isinstance(model, TextClassifier):
            _set_method_name(staging, "classify", CLASSIFY_METHOD)
        tf.io.gfile.rename(staging, path)
    except BaseException as error:
        _remove_staging(staging, error)
        raise
    return path


def _remove_staging(staging, error):
    """Deletes what a failed export wrote to `staging`; a failure to do so is noted on `error`."""
    try:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    except Exception as cleanup_error:  # the export's own error is the one to raise
        error.add_note(f"The staging folder {staging} could not be removed: {cleanup_error!r}")


def _scores(model, features):
    logits = model(features, training=False)
    if getattr(model, "multi_label", False):
        return tf.sigmoid(logits)
    return tf.nn.softmax(logits, axis=-1)


def _add_classifier_endpoints(archive, model, preprocessor):
    labels = tf.constant(model.labels)

    def serve(text):
        scores = _scores(model, preprocessor(text))
        if model.multi_label:
            chosen = tf.where(scores >= 0.5, labels, "")
        else:
            chosen = tf.gather(labels, tf.argmax(scores, axis=-1))
        return {"labels": chosen, "scores": scores}

    def classify(inputs):
        examples = tf.io.parse_example(inputs, {"text": tf.io.FixedLenFeature([], tf.string)})
        scores = _scores(model, preprocessor(examples["text"]))
        return {"classes": tf.broadcast_to(labels, tf.shape(scores)), "scores": scores}

    def predict_token_ids(token_ids, segment_ids, padding_mask):
        features = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        return {"scores": _scores(model, features)}

    archive.add_endpoint("serving_default", serve, _TEXT_SPEC)
    archive.add_endpoint("classify", classify, [tf.TensorSpec([None], tf.string, name="inputs")])
    archive.add_endpoint("predict_token_ids", predict_token_ids, _TOKEN_ID_SPECS)


def _add_token_classifier_endpoints(archive, model, preprocessor):
    labels = tf.constant(model.labels)
    max_words = preprocessor.sequence_length - 2

    def serve(text):
        words, byte_starts, byte_ends = split_words(text)
        features = preprocessor(words)
        word_index = features.pop("word_index")
        batch = tf.shape(text)[0]
        num_words = tf.minimum(tf.cast(words.row_lengths(), tf.int32), max_words)
        word_tag_ids = decode_word_tags(
            model(features, training=False), word_index, num_words, max_words, model.labels
        )
        is_word = tf.range(max_words)[None, :] < num_words[:, None]
        padded = lambda values, fill: values.to_tensor(fill, shape=[None, max_words])  # noqa: E731
        # Offsets are counted over the batch's longest sentence, then padded: every column
        # counted copies its text.
        longest = tf.maximum(tf.reduce_max(num_words), 0)
        texts = tf.broadcast_to(text[:, None], [batch, longest])

        def characters_before(byte_offsets):
            lengths = byte_offsets.to_tensor(0, shape=[batch, longest])
            prefix = tf.strings.substr(texts, tf.zeros_like(lengths), lengths)
            characters = tf.pad(
                tf.strings.length(prefix, unit="UTF8_CHAR"), [[0, 0], [0, max_words - longest]]
            )
            return tf.where(is_word, characters, -1)

        return {
            "words": padded(words, ""),
            "tags": tf.where(is_word, tf.gather(labels, word_tag_ids), ""),
            "starts": characters_before(tf.cast(byte_starts, tf.int32)),
            "ends": characters_before(tf.cast(byte_ends, tf.int32)),
            "num_words": num_words,
        }

    def predict_token_ids(token_ids, segment_ids, padding_mask):
        features = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        return {"scores": tf.nn.softmax(model(features, training=False), axis=-1)}

    archive.add_endpoint("serving_default", serve, _TEXT_SPEC)
    archive.add_endpoint("predict_token_ids", predict_token_ids, _TOKEN_ID_SPECS)


def _add_seq2seq_endpoints(archive, model, preprocessor):
    archive.track(preprocessor)

    def decoder(method):
        def serve(text):
            outputs = model.generate(
                preprocessor.source_ids(text),
                method=method,
                max_length=preprocessor.target_sequence_length,
            )
            return {"outputs": preprocessor.detokenize(outputs["token_ids"]),
                    "scores": outputs["scores"]}

        return serve

    archive.add_endpoint("serving_default", decoder("beam"), _TEXT_SPEC)
    archive.add_endpoint("generate_greedy", decoder("greedy"), _TEXT_SPEC)


def _add_question_answerer_endpoints(archive, model, preprocessor):
    def serve(question, context):
        features = preprocessor(question, context)
        windows = {key: features.pop(key) for key in WINDOW_KEYS}
        return model.select_answers(context, windows, model(features, training=False))

    archive.add_endpoint(
        "serving_default",
        serve,
        [
            tf.TensorSpec([None], tf.string, name="question"),
            tf.TensorSpec([None], tf.string, name="context"),
        ],
    )


def _check_retrieval_arguments(model, k, item_texts):
    """Checks the recommender-only arguments before anything is written."""
    if k is None or not 1 <= k <= model.num_items:
        raise ValueError(
            f"`k` must be an int in [1, {model.num_items}] (the catalogue size), got {k!r}."
        )
    if item_texts is None or len(item_texts) != model.num_items:
        raise ValueError(
            f"`item_texts` must hold one text per catalogue item ({model.num_items}), "
            f"got {None if item_texts is None else len(item_texts)}."
        )


def _add_retrieval_endpoints(archive, model, preprocessor, k, item_texts):
    index = model.catalogue_embeddings()
    titles = tf.constant(item_texts)
    query_specs = [
        tf.TensorSpec([None], tf.string, name="user_id"),
        tf.TensorSpec([None, None], tf.string, name="history"),
    ]

    def top_items(query):
        top = model.recommend(query, k, index)
        positions = model.catalogue_positions(top["item_ids"])
        return {**top, "titles": tf.gather(titles, positions)}

    def recommend(user_id, history, exclude_item_ids):
        return top_items(
            {"user_id": user_id, "history": history, "exclude_item_ids": exclude_item_ids}
        )

    def recommend_default(user_id, history):
        return top_items({"user_id": user_id, "history": history})

    def rank(user_id, history, candidate_texts):
        queries = model.encode_queries({"user_id": user_id, "history": history})
        flat = model.encode_items(preprocessor(tf.reshape(candidate_texts, [-1])))
        candidates = tf.reshape(flat, tf.concat([tf.shape(candidate_texts), [-1]], axis=0))
        return {"scores": tf.einsum("bd,bcd->bc", queries, tf.cast(candidates, queries.dtype))}

    def embed_items(text):
        return {"embeddings": model.encode_items(preprocessor(text))}

    archive.add_endpoint(
        "recommend",
        recommend,
        [*query_specs, tf.TensorSpec([None, None], tf.string, name="exclude_item_ids")],
    )
    archive.add_endpoint("serving_default", recommend_default, query_specs)
    archive.add_endpoint(
        "rank", rank, [*query_specs, tf.TensorSpec([None, None], tf.string, name="candidate_texts")]
    )
    archive.add_endpoint("embed_items", embed_items, _TEXT_SPEC)


def _set_method_name(saved_model_dir, signature_name, method_name):
    """Marks a signature for TensorFlow Serving's Classify/Regress APIs.

    `tf.saved_model.save` writes every signature as a predict signature, and
    TensorFlow Serving's Classify API only accepts a classify method name.
    """
    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as file:
        saved_model.ParseFromString(file.read())
    saved_model.meta_graphs[0].signature_def[signature_name].method_name = method_name
    with tf.io.gfile.GFile(path, "wb") as file:
        file.write(saved_model.SerializeToString())
