"""Metrics and reports: entity-level P/R/F1 (seqeval's), classification and ranking reports, BLEU/chrF/ROUGE, SQuAD EM/F1."""

from keras_simpletf.metrics.classification import (
    ClassificationReport,
    classification_report,
)
from keras_simpletf.metrics.entities import EntityReport, entity_report, extract_entities
from keras_simpletf.metrics.entity_f1 import EntityF1
from keras_simpletf.metrics.generation import (
    ROUGE_TYPES,
    corpus_bleu,
    corpus_chrf,
    corpus_exact_match,
    rouge,
)
from keras_simpletf.metrics.squad import exact_match, normalize_answer, squad_scores, token_f1
from keras_simpletf.metrics.ranking import (
    RetrievalReport,
    log_loss,
    ranking_metrics,
    retrieval_report,
    roc_auc,
)

__all__ = [
    "ClassificationReport",
    "EntityF1",
    "EntityReport",
    "ROUGE_TYPES",
    "RetrievalReport",
    "classification_report",
    "corpus_bleu",
    "corpus_chrf",
    "corpus_exact_match",
    "entity_report",
    "exact_match",
    "extract_entities",
    "log_loss",
    "normalize_answer",
    "ranking_metrics",
    "retrieval_report",
    "roc_auc",
    "rouge",
    "squad_scores",
    "token_f1",
]
