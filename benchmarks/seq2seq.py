"""Our encoder-decoder against keras-hub's, and decoding with the key/value cache against without.

Questions answered, each in one run so the ratios compare like with like:

1. Training throughput: `Seq2SeqTransformer` (our blocks, pre-norm, untied
   embeddings) against a model of keras-hub's `TransformerEncoder` /
   `TransformerDecoder` of the same width, depth, heads and feed-forward
   size, both trained with Adam on the same random batches and the same
   cross-entropy, `train_on_batch` after warm-up. Tokens/s counts source and
   target tokens.
2. The time per decoded token at 16, 64 and 256 output tokens, batch 1, a
   20-token source: our greedy search over the fixed-size key/value cache
   against the same search re-running the decoder over the whole prefix at
   every step (`use_cache=False`), and beam 4 over the cache; and
   keras-hub's `GreedySampler` and `BeamSampler(num_beams=4)` driving the
   same cached step function (the searches compared, the decoder shared).
   The end token is never matched, so every run decodes exactly that many
   tokens. Then the exported SavedModel (text in, text out; untrained, up
   to 32 output pieces) answering one 20-word request: loaded in process,
   and through our model server over gRPC.
3. With `--data_dir` (`../shared/data`): the job's defaults trained on
   Multi30k English->German `train` for `--translation_steps` (12,000: 53
   minutes on 2 cores) and DialogSum `train` for `--summarization_steps`
   (2,400: 36 minutes; its 512-piece sources make a step 3x slower), scored on
   `val` / `dev` with beam 4: sacreBLEU on the raw text, and on the
   lowercased tokenized `tok/` references (hypotheses lowercased and split by
   sacreBLEU's 13a tokenizer, close to the Moses tokenizer `tok/` used); and
   ROUGE-1/2/L against the lead-2 baseline (the dialogue's first two turns).

Usage (from the repository root):

    python -m benchmarks.seq2seq                 # questions 1 and 2
    python -m benchmarks.seq2seq --quick         # a tiny smoke test
    python -m benchmarks.seq2seq --data_dir=../shared/data
"""

import argparse
import json
import os
import re
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import sacrebleu  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import describe_machine, median_ms, seconds_per_step  # noqa: E402
from keras_simpletf import data, generation, metrics, models, text  # noqa: E402
from serving.client import ServingClient  # noqa: E402
from serving.export import export  # noqa: E402

_NEVER = -1  # an end id no token has: decoding runs to max_length
# keras-hub's embedding passes its mask to layers that drop it, by design; one warning each.
warnings.filterwarnings("ignore", message=".*does not support masking")
_SOURCE_LENGTH = 20


def keras_hub_seq2seq(vocabulary_size, num_layers, hidden_dim, intermediate_dim, num_heads,
                      max_length):
    """keras-hub's encoder and decoder layers, pre-norm, as one functional model."""
    source = keras.Input((None,), dtype="int32", name="source_ids")
    target = keras.Input((None,), dtype="int32", name="target_in_ids")
    encoded = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size, max_length, hidden_dim, mask_zero=True)(source)
    decoded = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size, max_length, hidden_dim, mask_zero=True)(target)
    for _ in range(num_layers):
        encoded = keras_hub.layers.TransformerEncoder(
            intermediate_dim, num_heads, dropout=0.1, normalize_first=True)(encoded)
    for _ in range(num_layers):
        decoded = keras_hub.layers.TransformerDecoder(
            intermediate_dim, num_heads, dropout=0.1, normalize_first=True)(decoded, encoded)
    logits = keras.layers.Dense(vocabulary_size, dtype="float32")(decoded)
    return keras.Model({"source_ids": source, "target_in_ids": target}, logits)


def ours(vocabulary_size, num_layers, hidden_dim, intermediate_dim, num_heads, max_length):
    return models.Seq2SeqTransformer(
        vocabulary_size, target_vocabulary_size=vocabulary_size, num_layers=num_layers,
        hidden_dim=hidden_dim, intermediate_dim=intermediate_dim, num_heads=num_heads,
        norm="pre", tie_embeddings=False, max_length=max_length)


def training_throughput(args):
    """Prints params and train tokens/s of both models, and their ratio."""
    rng = np.random.default_rng(0)
    length = args.train_length
    batch = {name: rng.integers(4, args.vocabulary_size, (args.batch_size, length)).astype("int32")
             for name in ("source_ids", "target_in_ids")}
    labels = rng.integers(4, args.vocabulary_size, (args.batch_size, length)).astype("int32")
    sizes = (args.vocabulary_size, args.num_layers, args.hidden_dim, 4 * args.hidden_dim,
             args.num_heads, max(length, 512))
    rates = {}
    for name, build in (("keras-hub", keras_hub_seq2seq), ("ours", ours)):
        keras.utils.set_random_seed(0)
        model = build(*sizes)
        model.compile(keras.optimizers.Adam(1e-4),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        seconds = seconds_per_step(lambda: model.train_on_batch(batch, labels),
                                   args.warmup_steps, args.timed_steps)
        rates[name] = 2 * args.batch_size * length / seconds
        print(f"train  {name:9s} params {model.count_params():>10,d}  "
              f"{rates[name]:>10,.0f} tokens/s", flush=True)
    print(f"train  ours / keras-hub tokens/s: {rates['ours'] / rates['keras-hub']:.2f}", flush=True)


def decoding_times(args):
    """Prints ms per decoded token, batch 1, cached and uncached greedy and cached beam 4."""
    keras.utils.set_random_seed(0)
    longest = max(args.decode_lengths)
    model = ours(args.vocabulary_size, args.num_layers, args.hidden_dim, 4 * args.hidden_dim,
                 args.num_heads, max(longest + 1, _SOURCE_LENGTH))
    source_ids = tf.constant(
        np.random.default_rng(1).integers(4, args.vocabulary_size, (1, _SOURCE_LENGTH)), tf.int32)
    start_ids = tf.constant([model.start_id])

    def decoder(length, use_cache, beam, sampler=None):
        @tf.function
        def decode():
            step, cache = model.decoding_step(source_ids, length, use_cache, copies=beam)
            if sampler is not None:
                prompt = tf.concat([start_ids[:, None], tf.zeros([1, length], tf.int32)], 1)

                def next_logits(prompt, cache, index):
                    logits, cache = step(prompt, index - 1, cache)
                    return logits, None, cache

                return sampler(next_logits, prompt, cache=cache, index=1,
                               mask=tf.equal(tf.range(length + 1), 0)[None])
            if beam > 1:
                return generation.beam_search(step, cache, start_ids, _NEVER, length, beam)[0]
            return generation.greedy_search(step, cache, start_ids, _NEVER, length)[0]

        return decode

    first = {}
    for label, use_cache, beam, sampler in (
            ("greedy cached", True, 1, None),
            ("greedy uncached", False, 1, None),
            ("beam-4 cached", True, 4, None),
            ("keras-hub GreedySampler", True, 1, keras_hub.samplers.GreedySampler()),
            ("keras-hub BeamSampler-4", True, 4, keras_hub.samplers.BeamSampler(num_beams=4)),
    ):
        for length in args.decode_lengths:
            decode = decoder(length, use_cache, beam, sampler)
            per_token = median_ms(decode, 1, args.decode_calls) / length
            first.setdefault(label, per_token)
            print(f"decode {label:23s} {length:4d} tokens: {per_token:7.3f} ms/token "
                  f"({per_token / first[label]:.2f}x the {args.decode_lengths[0]}-token figure)",
                  flush=True)


def serving_latency(args):
    """Prints batch-1 latency of the exported SavedModel: in process, and through our server over gRPC."""
    from benchmarks.serving import HOST, MODEL_NAME, Server

    keras.utils.set_random_seed(0)
    sources, targets = data.demo_translation(500, min_words=20, max_words=20)
    tokenizer = text.SentencePieceTokenizer(text.learn_sentencepiece(
        sources + targets, 400, model_type="bpe", allow_smaller=True))
    preprocessor = text.Seq2SeqPreprocessor(
        tokenizer, sequence_length=_SOURCE_LENGTH + 1, target_sequence_length=args.serve_length)
    model = ours(tokenizer.vocabulary_size, args.num_layers, args.hidden_dim,
                 4 * args.hidden_dim, args.num_heads, max(_SOURCE_LENGTH + 1, args.serve_length))
    request = [sources[0]]
    with tempfile.TemporaryDirectory() as directory:
        base_path = os.path.join(directory, MODEL_NAME)
        version = export(model, preprocessor, base_path)
        loaded = tf.saved_model.load(version)
        with Server(directory, base_path) as server:
            for signature in ("serving_default", "generate_greedy"):
                served = loaded.signatures[signature]
                outputs = served(text=tf.constant(request))["outputs"].numpy()
                pieces = len(tokenizer.tokenize(outputs).to_list()[0])
                client = ServingClient(f"{HOST}:{server.port}", MODEL_NAME, signature=signature)
                in_process = median_ms(lambda: served(text=tf.constant(request)), 2,
                                       args.decode_calls)
                through_server = median_ms(lambda: client.predict(request), 2, args.decode_calls)
                print(f"serve  {signature:16s} 20-word input, {pieces} pieces out: "
                      f"SavedModel in process {in_process:.1f} ms, our server over gRPC "
                      f"{through_server:.1f} ms", flush=True)


def _lead_2(dialogue):
    return " ".join(re.split(r"(?=#Person\d#:)", dialogue.strip())[1:3]).strip()


def corpus_runs(args):
    """Trains the job's defaults on Multi30k and DialogSum; prints BLEU and ROUGE on val/dev."""
    from trainers.config import parse_settings
    from trainers.train import train

    multi30k = os.path.join(args.data_dir, "multi30k")
    def steps(count):
        return [f"--train_steps={count}", f"--eval_every_steps={count}"]

    start = time.perf_counter()
    result = train(parse_settings([
        "--task=translation", f"--train_data={multi30k}/train.en,{multi30k}/train.de",
        f"--eval_data={multi30k}/val.en,{multi30k}/val.de", "--sequence_length=64",
        "--target_sequence_length=64", *steps(args.translation_steps), *args.job_flags,
    ]))
    hypotheses = result.task.decode(result.model, result.task.eval_examples.sources)
    tokenize = sacrebleu.tokenizers.tokenizer_13a.Tokenizer13a()
    with open(f"{multi30k}/tok/val.lc.norm.tok.de", encoding="utf-8") as file:
        tokenized_references = [line.strip() for line in file]
    tokenized_bleu = metrics.corpus_bleu(
        [tokenize(hypothesis.lower()) for hypothesis in hypotheses], tokenized_references,
        tokenize="none")
    print(f"multi30k val ({len(hypotheses)} pairs, {args.translation_steps} steps, "
          f"{time.perf_counter() - start:.0f} s): BLEU raw {result.results['bleu']:.2f}, "
          f"BLEU lowercased tokenized {tokenized_bleu:.2f}, chrF {result.results['chrf']:.2f}",
          flush=True)

    dialogsum = os.path.join(args.data_dir, "dialogsum")
    start = time.perf_counter()
    result = train(parse_settings([
        "--task=summarization", f"--train_data={dialogsum}/train.jsonl",
        f"--eval_data={dialogsum}/dev.jsonl", "--pair_fields=dialogue,summary",
        "--sequence_length=512", "--target_sequence_length=64", *steps(args.summarization_steps),
        *args.job_flags,
    ]))
    evaluation = result.task.eval_examples
    lead_2 = metrics.rouge([_lead_2(dialogue) for dialogue in evaluation.sources],
                           evaluation.targets)
    scores = {name: result.results[name] for name in metrics.ROUGE_TYPES}
    print(f"dialogsum dev ({len(evaluation)} dialogues, {args.summarization_steps} steps, "
          f"{time.perf_counter() - start:.0f} s): ROUGE {json.dumps(scores)}; lead-2 "
          f"{json.dumps(lead_2)}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--data_dir", help="../shared/data: also train on Multi30k and DialogSum")
    parser.add_argument("--translation_steps", type=int, default=12000,
                        help="training steps on Multi30k (53 minutes on 2 cores)")
    parser.add_argument("--summarization_steps", type=int, default=2400,
                        help="training steps on DialogSum (36 minutes on 2 cores)")
    parser.add_argument("--job_flags", nargs="*", default=[],
                        help="further trainers.train flags for the corpus runs")
    args = parser.parse_args()
    sizes = dict(vocabulary_size=8000, num_layers=2, hidden_dim=128, num_heads=1, batch_size=32,
                 train_length=64, warmup_steps=3, timed_steps=20, decode_lengths=(16, 64, 256),
                 decode_calls=5, serve_length=32)
    if args.quick:
        sizes.update(vocabulary_size=200, hidden_dim=16, batch_size=4, train_length=8,
                     warmup_steps=1, timed_steps=2, decode_lengths=(4, 8), decode_calls=1,
                     serve_length=8)
    for name, value in sizes.items():
        setattr(args, name, value)
    print(describe_machine(tf, keras, keras_hub), flush=True)
    print(f"Models: {args.num_layers}+{args.num_layers} layers, width {args.hidden_dim}, "
          f"{args.num_heads} head(s), vocabulary {args.vocabulary_size}; train batch "
          f"{args.batch_size} x {args.train_length}+{args.train_length} tokens; float32, "
          f"no XLA.", flush=True)
    training_throughput(args)
    decoding_times(args)
    serving_latency(args)
    if args.data_dir:
        if args.quick:
            args.translation_steps = args.summarization_steps = 2
            args.job_flags = ["--hidden_dim=16", "--num_layers=1", "--batch_size=8",
                              "--vocabulary_size=400", *args.job_flags]
        corpus_runs(args)


if __name__ == "__main__":
    main()
