"""Tests for trainers/distill.py on NER: the custom loop distils under a two-replica MirroredStrategy.

The distilling job runs in its own process, as users run it: a two-replica
MirroredStrategy in a process where other tests already ran collectives can
disagree on collective instance keys.
"""

import re

import keras
import pytest

from keras_simpletf.data import NER_TAGS
from tests.trainers.jobs import TINY, run_job
from trainers.config import SettingsError, parse_settings
from trainers.tasks import create_task
from trainers.train import train

SMALL = [
    "--task=ner", "--train_examples=256", "--eval_examples=64", "--batch_size=16",
    "--sequence_length=24", "--epochs=2",
]

# A student of a teacher of TINY's --sequence_length=16, on DEMO data.
STUDENT = [*TINY[:3], "--task=ner", "--sequence_length=16"]


def test_the_custom_loop_distils_a_tagger_across_two_replicas_and_exports_it(tmp_path):
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train(parse_settings([
        *SMALL, "--hidden_dim=32", "--num_layers=1", "--vocabulary_size=200",
        f"--export_dir={teacher_dir}",
    ]))
    job = run_job(
        *SMALL, f"--teacher={teacher_dir}", "--student=tiny", "--loop=custom",
        "--strategy=mirrored", "--cpu_replicas=2", f"--export_dir={student_dir}",
    )
    assert job.returncode == 0, job.stderr[-3000:]
    # Seeds fixed: 0.91.
    entity_f1 = float(re.search(r"NER entity F1 on 64 held-out sentences: ([0-9.]+)", job.stdout)[1])
    assert entity_f1 >= 0.85
    assert (student_dir / "vocabulary.txt").read_text() == (teacher_dir / "vocabulary.txt").read_text()
    exported = keras.saving.load_model(student_dir / "model.keras")
    assert exported.backbone.num_layers == 2 and exported.backbone.hidden_dim == 128
    assert not hasattr(exported, "teacher")
    assert (student_dir / "1" / "saved_model.pb").is_file()


def test_a_student_reads_text_cased_as_its_teacher_did_whatever_the_tasks_default(tmp_path):
    # NER keeps case by default; a teacher that read lower-cased text (as one fine-tuned from
    # the uncased MiniLM did) has a vocabulary without upper-case tokens, and its student must
    # lower-case too, or every capitalised word becomes [UNK] for both of them.
    teacher_dir = tmp_path / "teacher"
    train(parse_settings([*TINY, "--task=ner", "--lowercase=true", "--train_steps=2",
                          f"--export_dir={teacher_dir}"]))
    task = create_task(parse_settings([*STUDENT, f"--teacher={teacher_dir}"]))
    assert task.teacher.lowercase and task.preprocessor.lowercase
    with pytest.raises(SettingsError, match=re.escape(
        f"--lowercase=False contradicts --teacher={teacher_dir}: its vocabulary has no "
        "upper-case token, so the teacher read text lower-cased."
    )):
        create_task(parse_settings([*STUDENT, f"--teacher={teacher_dir}", "--lowercase=false"]))
    cased_dir = tmp_path / "cased"
    train(parse_settings([*TINY, "--task=ner", "--train_steps=2", f"--export_dir={cased_dir}"]))
    task = create_task(parse_settings([*STUDENT, f"--teacher={cased_dir}"]))
    assert not task.teacher.lowercase and not task.preprocessor.lowercase


def test_a_tagger_student_learns_in_its_teachers_tag_ids_and_a_tag_it_lacks_is_named(tmp_path):
    teacher_dir = tmp_path / "teacher"
    train(parse_settings([*TINY, "--task=ner", "--train_steps=2", f"--export_dir={teacher_dir}"]))
    people = tmp_path / "people.conll"
    people.write_text("Anna B-PER\nSchmidt I-PER\nsings O\n")
    flags = ["--batch_size=16", "--sequence_length=16", "--task=ner", f"--teacher={teacher_dir}"]
    # The file's tags are a few of the teacher's; the student's ids are the teacher's.
    task = create_task(parse_settings([*flags, f"--train_data={people}"]))
    assert task.labels == list(NER_TAGS)
    misc = tmp_path / "misc.conll"
    misc.write_text("Paris B-MISC\nsings O\n")
    with pytest.raises(SettingsError, match=re.escape(
        f"--eval_data={misc}: labels ['B-MISC'] do not occur in --teacher={teacher_dir}, whose "
        f"labels are {list(NER_TAGS)}."
    )):
        create_task(parse_settings([*flags, f"--train_data={people}", f"--eval_data={misc}"]))
