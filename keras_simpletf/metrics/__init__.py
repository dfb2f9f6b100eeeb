"""Metrics and reports: entity-level P/R/F1 (seqeval's), classification reports."""

from keras_simpletf.metrics.classification import (
    ClassificationReport,
    classification_report,
)
from keras_simpletf.metrics.entities import EntityReport, entity_report, extract_entities
from keras_simpletf.metrics.entity_f1 import EntityF1

__all__ = [
    "ClassificationReport",
    "EntityF1",
    "EntityReport",
    "classification_report",
    "entity_report",
    "extract_entities",
]
