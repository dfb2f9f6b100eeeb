"""Scores of generated text from the field's libraries: sacreBLEU's BLEU and chrF, rouge-score's ROUGE.

Wrappers only: each function checks its arguments, calls the library and
returns floats on the 0-100 scale papers report (sacreBLEU's own scale;
ROUGE F1 times 100).
"""

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _checked(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses and {len(references)} references; each hypothesis "
            "needs its reference."
        )
    if not hypotheses:
        raise ValueError("No hypotheses to score.")
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"{name}[{index}] is {type(text).__name__} {text!r}; expected str.")
    return hypotheses, references


def corpus_bleu(hypotheses, references, lowercase=False, tokenize="13a"):
    """sacreBLEU's corpus BLEU of `hypotheses` against one reference each.

    Args:
        hypotheses: list of str, the decoded texts.
        references: list of str, a reference for each.
        lowercase: bool, compare lower-cased text.
        tokenize: sacreBLEU's tokenizer: `"13a"` (WMT's default, for raw
            text), `"none"` (text already tokenized, as in Multi30k's
            published scores), `"zh"`, `"intl"`, ...

    Returns:
        float, BLEU in [0, 100].

    Example:

    ```python
    corpus_bleu(["zwei Männer stehen ."], ["zwei Männer stehen ."])   # 100.0 (to rounding)
    ```

    References:
        - [Papineni et al., 2002](https://aclanthology.org/P02-1040/)
        - [Post, 2018](https://aclanthology.org/W18-6319/) (sacreBLEU)
    """
    hypotheses, references = _checked(hypotheses, references)
    return sacrebleu.corpus_bleu(
        hypotheses, [references], lowercase=lowercase, tokenize=tokenize
    ).score


def corpus_chrf(hypotheses, references):
    """sacreBLEU's corpus chrF (character 6-grams, beta 2) of `hypotheses`; in [0, 100].

    Args:
        hypotheses: list of str.
        references: list of str, a reference for each.

    Example:

    ```python
    corpus_chrf(["Häuser"], ["Häuser"])   # 100.0
    ```

    References:
        - [Popović, 2015](https://aclanthology.org/W15-3049/)
    """
    hypotheses, references = _checked(hypotheses, references)
    return sacrebleu.corpus_chrf(hypotheses, [references]).score


def rouge(hypotheses, references, use_stemmer=True):
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F1 of `hypotheses` (rouge-score, Porter stemming).

    Args:
        hypotheses: list of str, the generated summaries.
        references: list of str, a reference summary for each.
        use_stemmer: bool, stem words before matching (as the published
            DialogSum and CNN/DailyMail scores do).

    Returns:
        dict of `ROUGE_TYPES` to floats in [0, 100].

    Example:

    ```python
    rouge(["the cats run home"], ["the cat runs home"])["rouge1"]   # 100.0 with stemming, 50.0 without
    ```

    References:
        - [Lin, 2004](https://aclanthology.org/W04-1013/)
    """
    hypotheses, references = _checked(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    scores = [scorer.score(reference, hypothesis)
              for hypothesis, reference in zip(hypotheses, references)]
    return {name: 100 * float(np.mean([score[name].fmeasure for score in scores]))
            for name in ROUGE_TYPES}


def corpus_exact_match(hypotheses, references):
    """The share of `hypotheses` equal to their reference, in [0, 100].

    Example:

    ```python
    corpus_exact_match(["a b", "c"], ["a b", "d"])   # 50.0
    ```
    """
    hypotheses, references = _checked(hypotheses, references)
    return 100 * float(np.mean([h == r for h, r in zip(hypotheses, references)]))
