"""Distillation: a teacher task model trains a smaller student task model."""

from keras_simpletf.distillation.augment import augment, augment_questions
from keras_simpletf.distillation.cache import cache_teacher_logits
from keras_simpletf.distillation.distiller import TEACHER_LOGITS, TaskDistiller
from keras_simpletf.distillation.losses import (
    AttentionRelationDistillation,
    HiddenStateDistillation,
    SoftTargetDistillation,
)
from keras_simpletf.distillation.students import STUDENT_SIZES, make_student
