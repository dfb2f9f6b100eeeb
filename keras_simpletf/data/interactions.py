"""Interaction logs (who interacted with which item, when) and item catalogues (item id -> text).

Two kinds of file feed a recommender:

- interactions, TSV/CSV/JSONL: a user id, an item id, optionally a label
  (a rating, a click 0/1, a purchase count) and a timestamp, columns by name
  or index;
- items, TSV/CSV/JSONL: an item id and text fields (title, description,
  tags, ...), joined into one text per item.

`iter_interactions`/`read_interactions` and `iter_items`/`read_items` stream
them (Python iterators and `tf.data`), a malformed line raising a `DataError`
naming the file and line. `load_catalogue` and `load_interactions` read them
into memory as an `ItemCatalogue` and an `InteractionLog`, the containers that
`keras_simpletf.data.splits`, the recommender models and the ranking metrics
take. Interactions whose item is not in the catalogue are never dropped
silently: `load_interactions` returns an `UnknownItemReport` (count and
examples) with the log, or raises with `on_unknown_items="error"`.
"""

import collections
import functools
import logging
import math
import os

import numpy as np
import tensorflow as tf

from keras_simpletf.data.errors import DataError
from keras_simpletf.data.tables import iter_rows
from keras_simpletf.layers.validation import check_choice, check_positive_int

UNKNOWN_ITEM_POLICIES = ("report", "error")

# Padding of item-id histories: an empty id is never a catalogue item.
NO_ITEM = ""

_EXAMPLES_IN_REPORT = 5

Interaction = collections.namedtuple("Interaction", ["user_id", "item_id", "label", "timestamp"])
Interaction.__doc__ = """One interaction: `user_id` and `item_id` (str), `label` (float; 1.0 when
the file has no label column) and `timestamp` (float, or None when the file
has no timestamp column)."""


class ItemCatalogue:
    """The items a recommender may recommend: unique ids, each with one text.

    Args:
        item_ids: sequence of str, unique, non-empty ids.
        texts: sequence of str, the text of each item (may be empty).

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2"], ["A space saga. Sci-Fi", "A cookbook. Food"])
    catalogue.indices(["i2", "i1"])  # array([1, 0])
    catalogue.texts_of(["i2"])  # ['A cookbook. Food']
    ```
    """

    def __init__(self, item_ids, texts):
        self.item_ids = np.asarray([str(item_id) for item_id in item_ids], dtype=str)
        self.texts = [str(text) for text in texts]
        if len(self.item_ids) != len(self.texts):
            raise ValueError(
                f"Got {len(self.item_ids)} item ids but {len(self.texts)} texts; "
                "expected one text per item."
            )
        self._index = {item_id: index for index, item_id in enumerate(self.item_ids)}
        self._sorted_positions = np.argsort(self.item_ids, kind="stable")
        self._sorted_ids = self.item_ids[self._sorted_positions]
        if len(self._index) != len(self.item_ids):
            counts = collections.Counter(self.item_ids.tolist())
            repeated = sorted(item_id for item_id, count in counts.items() if count > 1)
            raise ValueError(f"Item ids must be unique; repeated: {repeated[:10]}.")
        if NO_ITEM in self._index:
            raise ValueError("Item ids must not be empty strings.")

    def __len__(self):
        return len(self.item_ids)

    def __contains__(self, item_id):
        return str(item_id) in self._index

    def indices(self, item_ids):
        """The catalogue positions of `item_ids` (an int64 array).

        Raises:
            KeyError: naming the ids that are not in the catalogue.
        """
        item_ids = np.asarray(item_ids).astype(str).reshape(-1)
        found = np.minimum(np.searchsorted(self._sorted_ids, item_ids), max(len(self) - 1, 0))
        known = self._sorted_ids[found] == item_ids if len(self) else np.zeros(len(item_ids), bool)
        if not known.all():
            unknown = sorted(set(item_ids[~known].tolist()))
            raise KeyError(
                f"{len(unknown)} item ids are not in the catalogue of {len(self)} items: "
                f"{unknown[:10]}"
            )
        return self._sorted_positions[found].astype(np.int64)

    def texts_of(self, item_ids):
        """The texts of `item_ids` (a list of str); unknown ids raise a `KeyError`."""
        return [self.texts[index] for index in self.indices(item_ids)]


class InteractionLog:
    """Interactions in memory, as numpy arrays, over an `ItemCatalogue`.

    Every item id must be in the catalogue (`load_interactions` reports and
    leaves out those that are not); the catalogue may hold items that no
    interaction names (new, cold-start items).

    Args:
        user_ids: sequence of str user ids.
        item_ids: sequence of str item ids, one per interaction.
        catalogue: the `ItemCatalogue`.
        labels: float per interaction (rating, click 0/1, ...); `None` means
            1.0 for every interaction (all positives).
        timestamps: number per interaction; `None` means the order given is
            the time order (timestamps 0, 1, 2, ...).

    Raises:
        ValueError: if the arrays differ in length or an item id is not in
            the catalogue.

    Example:

    ```python
    catalogue = ItemCatalogue(["i1", "i2", "i3"], ["space saga", "cookbook", "moon walk"])
    log = InteractionLog(["u1", "u1", "u2"], ["i1", "i3", "i2"], catalogue,
                         timestamps=[10, 20, 15])
    log.item_counts()  # array([1, 1, 1])
    log.recent_items(["u1", "u9"], history_length=2)  # [['i3', 'i1'], ['', '']]
    ```
    """

    def __init__(self, user_ids, item_ids, catalogue, labels=None, timestamps=None):
        self.user_ids = np.asarray(user_ids).astype(str).reshape(-1)
        self.item_ids = np.asarray(item_ids).astype(str).reshape(-1)
        self.catalogue = catalogue
        count = len(self.user_ids)
        self.labels = np.ones(count, np.float32) if labels is None else np.asarray(
            labels, np.float32)
        self.timestamps = np.arange(count, dtype=np.float64) if timestamps is None else (
            np.asarray(timestamps, np.float64))
        lengths = {len(self.item_ids), len(self.labels), len(self.timestamps)}
        if lengths != {count}:
            raise ValueError(
                f"user_ids, item_ids, labels and timestamps must have one entry per "
                f"interaction; got lengths {count}, {len(self.item_ids)}, "
                f"{len(self.labels)}, {len(self.timestamps)}."
            )
        try:
            self.item_indices = catalogue.indices(self.item_ids)
        except KeyError as error:
            raise ValueError(
                f"Interactions name items that are not in the catalogue: {error.args[0]}"
            ) from None

    def __len__(self):
        return len(self.user_ids)

    def select(self, selection):
        """The interactions picked by a bool mask or index array, same catalogue.

        Example: `log.select(log.labels > 0)` keeps the positives.
        """
        return InteractionLog(
            self.user_ids[selection], self.item_ids[selection], self.catalogue,
            self.labels[selection], self.timestamps[selection],
        )

    def users(self):
        """The distinct user ids, sorted."""
        return np.unique(self.user_ids)

    def item_counts(self):
        """Interactions per catalogue item, an int64 array aligned with the catalogue."""
        return np.bincount(self.item_indices, minlength=len(self.catalogue)).astype(np.int64)

    def _time_order(self):
        """Positions sorted by user, then timestamp, then position in the log."""
        return np.lexsort((np.arange(len(self)), self.timestamps, self.user_ids))

    def histories(self, history_length):
        """For each interaction, the items its user interacted with just before.

        Earlier means an earlier timestamp, or the same timestamp earlier in
        the log.

        Args:
            history_length: int, how many earlier items to keep.

        Returns:
            A str array `(len(log), history_length)`: most recent item first,
            padded with `""` (`NO_ITEM`) when the user has fewer earlier items.
        """
        check_positive_int("history_length", history_length)
        order = self._time_order()
        users, items = self.user_ids[order], self.item_ids[order]
        ordered_histories = np.full((len(self), history_length), NO_ITEM, dtype=object)
        for lag in range(1, min(history_length, len(self) - 1) + 1):
            same_user = users[lag:] == users[:-lag]
            ordered_histories[lag:, lag - 1] = np.where(same_user, items[:-lag], NO_ITEM)
        histories = np.empty_like(ordered_histories)
        histories[order] = ordered_histories
        return histories.astype(str)

    def sequence_examples(self, history_length, stride=None):
        """Training windows for next-item models: every `stride`-th interaction with its history.

        For each user, the latest interaction and every `stride`-th one
        before it (counting back) becomes an example: that item, and the
        `history_length` items just before it (as `histories` gives them).
        A model that predicts each history item from the ones before it
        (`SequentialRetrieval`) then sees every interaction but each user's
        first as a target once per window covering it: at least once when
        `stride <= history_length`.

        Args:
            history_length: int.
            stride: int, default `history_length`.

        Returns:
            A dict of numpy str arrays: `"user_id"` `(n,)`, `"history"`
            `(n, history_length)` (most recent first, `""`-padded) and
            `"item_id"` `(n,)`, ordered by user then time.

        Example:

        ```python
        catalogue = ItemCatalogue(["i1", "i2", "i3"], ["a", "b", "c"])
        log = InteractionLog(["u1"] * 3, ["i1", "i2", "i3"], catalogue)
        log.sequence_examples(history_length=2, stride=2)["item_id"]  # ['i1', 'i3']
        ```
        """
        check_positive_int("history_length", history_length)
        stride = check_positive_int("stride", history_length if stride is None else stride)
        order = self._time_order()
        users = self.user_ids[order]
        later = np.searchsorted(users, users, side="right") - 1 - np.arange(len(self))
        chosen = order[later % stride == 0]
        return {
            "user_id": self.user_ids[chosen],
            "history": self.histories(history_length)[chosen],
            "item_id": self.item_ids[chosen],
        }

    def recent_items(self, user_ids, history_length):
        """Each user's latest `history_length` items in this log.

        Args:
            user_ids: sequence of str; users absent from the log get an
                empty history.
            history_length: int.

        Returns:
            A str array `(len(user_ids), history_length)`: most recent first,
            padded with `""` (`NO_ITEM`).
        """
        check_positive_int("history_length", history_length)
        order = self._time_order()
        users, items = self.user_ids[order], self.item_ids[order]
        user_ids = np.asarray(user_ids).astype(str).reshape(-1)
        starts = np.searchsorted(users, user_ids, side="left")
        ends = np.searchsorted(users, user_ids, side="right")
        recent = np.full((len(user_ids), history_length), NO_ITEM, dtype=object)
        for lag in range(history_length):
            positions = ends - 1 - lag
            present = positions >= starts
            recent[present, lag] = items[positions[present]]
        return recent.astype(str)


class UnknownItemReport:
    """Interactions left out because their item is not in the catalogue.

    Args:
        path: str, the interactions file.
        interactions: int, how many interactions were left out.
        item_ids: sorted list of the distinct unknown item ids.
        examples: list of `(line_number, item_id)`, the first few.

    Example:

    ```python
    report = UnknownItemReport("ratings.csv", 3, ["i8", "i9"], [(4, "i9"), (7, "i8")])
    print(report)  # ratings.csv: left out 3 interactions whose item is not in the ...
    ```
    """

    def __init__(self, path, interactions, item_ids, examples):
        self.path = path
        self.interactions = interactions
        self.item_ids = item_ids
        self.examples = examples

    @property
    def problem(self):
        """The report without the path: what was left out, with examples."""
        if not self.interactions:
            return "every interaction names an item of the catalogue"
        examples = ", ".join(f"line {line}: {item!r}" for line, item in self.examples)
        return (
            f"left out {_counted(self.interactions, 'interaction')} whose item is not in the "
            f"item catalogue ({_counted(len(self.item_ids), 'distinct item')}), e.g. {examples}"
        )

    def __str__(self):
        return f"{self.path}: {self.problem}"


def iter_interactions(
    path,
    user_column="user_id",
    item_column="item_id",
    label_column=None,
    timestamp_column=None,
    file_format=None,
    header=None,
    encoding_errors="strict",
):
    """Streams `Interaction(user_id, item_id, label, timestamp)` records from a file.

    TSV/CSV rows must all have the header's number of fields (CSV fields may
    be quoted as in RFC 4180); JSONL lines are objects. The header rule is
    that of `keras_simpletf.data.iter_classification`: with `header=None`
    there is a header row exactly when a column is chosen by name.

    Args:
        path: str or path-like; any file system `tf.io.gfile` reads.
        user_column: str name or int index of the user id.
        item_column: str name or int index of the item id.
        label_column: str name or int index of a numeric label (rating, click
            0/1, count), or `None`: every interaction is a positive, label 1.0.
        timestamp_column: str name or int index of a numeric timestamp (e.g.
            Unix seconds), or `None` (timestamps are then `None`).
        file_format: `"tsv"`, `"csv"` or `"jsonl"`; `None` infers it from the
            extension (`.tsv`/`.txt`, `.csv`, `.jsonl`/`.ndjson`).
        header: True, False or None, as in `iter_classification`; TSV/CSV only.
        encoding_errors: `"strict"` (bytes that are not UTF-8 are a
            `DataError`) or `"replace"` (read as U+FFFD).

    Returns:
        A generator of `Interaction` tuples.

    Raises:
        ValueError: at once, for arguments that cannot work together.
        DataError: while iterating, for the first malformed line: a missing
            field, an empty id, a label or timestamp that is not a number.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "ratings.csv")
    with open(path, "w") as file:
        file.write("user,item,rating,time\\nu1,i1,5,1000\\nu2,i1,3,1010\\n")
    records = list(iter_interactions(path, "user", "item", "rating", "time"))
    records[0]  # Interaction(user_id='u1', item_id='i1', label=5.0, timestamp=1000.0)
    ```
    """
    return (record for _, record in _numbered_interactions(
        path, user_column, item_column, label_column, timestamp_column, file_format,
        header, encoding_errors))


def read_interactions(
    path,
    user_column="user_id",
    item_column="item_id",
    label_column=None,
    timestamp_column=None,
    file_format=None,
    header=None,
    encoding_errors="strict",
):
    """`iter_interactions` as a streaming `tf.data.Dataset` of dicts.

    A malformed line fails the iteration that reaches it with a TensorFlow
    error whose message holds the `path:line_number: ...` of the `DataError`.

    Args:
        path, user_column, item_column, label_column, timestamp_column,
        file_format, header, encoding_errors: as in `iter_interactions`.

    Returns:
        A `tf.data.Dataset` of `{"user_id": tf.string, "item_id": tf.string,
        "label": tf.float32}` scalars, plus `"timestamp"` (tf.float64) when
        `timestamp_column` is given.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "clicks.tsv")
    with open(path, "w") as file:
        file.write("user_id\\titem_id\\nu1\\ti1\\nu2\\ti2\\n")
    batch = next(iter(read_interactions(path).batch(2)))  # batch["label"]: [1.0, 1.0]
    ```
    """
    records = functools.partial(
        iter_interactions, path, user_column, item_column, label_column,
        timestamp_column, file_format, header, encoding_errors,
    )
    records()  # Checks the arguments now rather than at the first element.
    signature = {
        "user_id": tf.TensorSpec((), tf.string),
        "item_id": tf.TensorSpec((), tf.string),
        "label": tf.TensorSpec((), tf.float32),
    }
    if timestamp_column is not None:
        signature["timestamp"] = tf.TensorSpec((), tf.float64)
    return tf.data.Dataset.from_generator(
        lambda: ({key: getattr(record, key) for key in signature} for record in records()),
        output_signature=signature,
    )


def iter_items(
    path,
    item_column="item_id",
    text_columns=("title",),
    separator=". ",
    file_format=None,
    header=None,
    encoding_errors="strict",
):
    """Streams `(item_id, text)` from an items file, the text fields joined into one.

    Empty text fields are skipped when joining; a JSONL field may also be a
    list of strings (e.g. tags), joined with spaces, or `null` (empty).

    Args:
        path: str or path-like; any file system `tf.io.gfile` reads.
        item_column: str name or int index of the item id.
        text_columns: sequence of str names or int indices of the text fields,
            in the order they are joined.
        separator: str put between the non-empty text fields.
        file_format: `"tsv"`, `"csv"` or `"jsonl"`, or `None` (from the extension).
        header: True, False or None, as in `iter_classification`; TSV/CSV only.
        encoding_errors: `"strict"` or `"replace"`, as in `iter_interactions`.

    Returns:
        A generator of `(item_id, text)` str pairs.

    Raises:
        ValueError: at once, for arguments that cannot work together.
        DataError: while iterating, for the first malformed line.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "items.jsonl")
    with open(path, "w") as file:
        file.write('{"id": "i1", "title": "Moon walk", "tags": ["space", "travel"]}\\n')
    list(iter_items(path, "id", ["title", "tags"]))  # [('i1', 'Moon walk. space travel')]
    ```
    """
    return (record for _, record in _numbered_items(
        path, item_column, text_columns, separator, file_format, header, encoding_errors))


def read_items(
    path,
    item_column="item_id",
    text_columns=("title",),
    separator=". ",
    file_format=None,
    header=None,
    encoding_errors="strict",
):
    """`iter_items` as a streaming `tf.data.Dataset` of `{"item_id", "text"}` strings.

    Args:
        path, item_column, text_columns, separator, file_format, header,
        encoding_errors: as in `iter_items`.

    Returns:
        A `tf.data.Dataset` of `{"item_id": tf.string, "text": tf.string}` scalars.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "items.csv")
    with open(path, "w") as file:
        file.write("item_id,title,description\\ni1,Moon walk,A trip to space\\n")
    item = next(iter(read_items(path, text_columns=["title", "description"])))
    ```
    """
    records = functools.partial(
        iter_items, path, item_column, text_columns, separator, file_format, header,
        encoding_errors,
    )
    records()  # Checks the arguments now rather than at the first element.
    signature = {"item_id": tf.TensorSpec((), tf.string), "text": tf.TensorSpec((), tf.string)}
    return tf.data.Dataset.from_generator(
        lambda: ({"item_id": item_id, "text": text} for item_id, text in records()),
        output_signature=signature,
    )


def load_catalogue(
    path,
    item_column="item_id",
    text_columns=("title",),
    separator=". ",
    file_format=None,
    header=None,
    encoding_errors="strict",
):
    """Reads an items file (see `iter_items`) into an `ItemCatalogue`.

    Args:
        path, item_column, text_columns, separator, file_format, header,
        encoding_errors: as in `iter_items`.

    Returns:
        An `ItemCatalogue`, items in file order.

    Raises:
        DataError: for a malformed line, or an item id seen on an earlier line.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "items.tsv")
    with open(path, "w") as file:
        file.write("item_id\\ttitle\\ni1\\tMoon walk\\ni2\\tCookbook\\n")
    len(load_catalogue(path))  # 2
    ```
    """
    first_line_of = {}
    texts = []
    for line_number, (item_id, text) in _numbered_items(
            path, item_column, text_columns, separator, file_format, header, encoding_errors):
        if item_id in first_line_of:
            raise DataError(
                os.fspath(path), line_number,
                f"item id {item_id!r} was already defined on line {first_line_of[item_id]}; "
                "expected each item once",
            )
        first_line_of[item_id] = line_number
        texts.append(text)
    return ItemCatalogue(list(first_line_of), texts)


def load_interactions(
    path,
    catalogue,
    user_column="user_id",
    item_column="item_id",
    label_column=None,
    timestamp_column=None,
    file_format=None,
    header=None,
    encoding_errors="strict",
    on_unknown_items="report",
):
    """Reads an interactions file (see `iter_interactions`) into an `InteractionLog`.

    Interactions whose item is not in `catalogue` cannot be scored by a model
    of that catalogue; they are left out of the log and reported, never
    dropped silently.

    Args:
        path: str or path-like, the interactions file.
        catalogue: the `ItemCatalogue` of the items.
        user_column, item_column, label_column, timestamp_column, file_format,
        header, encoding_errors: as in `iter_interactions`.
        on_unknown_items: `"report"`: leave such interactions out, log a
            warning and describe them in the returned report; `"error"`: raise
            a `DataError` at the first such line, with the same description.

    Returns:
        `(log, report)`: the `InteractionLog` of the known items, and an
        `UnknownItemReport` (`report.interactions == 0` when all are known).
        Without a timestamp column the file order is the time order.

    Raises:
        DataError: for a malformed line, or for unknown items with
            `on_unknown_items="error"`.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "clicks.csv")
    with open(path, "w") as file:
        file.write("user_id,item_id\\nu1,i1\\nu1,i9\\nu2,i2\\n")
    catalogue = ItemCatalogue(["i1", "i2"], ["Moon walk", "Cookbook"])
    log, report = load_interactions(path, catalogue)
    len(log), report.interactions  # (2, 1)
    ```
    """
    check_choice("on_unknown_items", on_unknown_items, UNKNOWN_ITEM_POLICIES)
    records = _numbered_interactions(
        path, user_column, item_column, label_column, timestamp_column, file_format,
        header, encoding_errors,
    )
    known, unknown = [], []
    for line_number, record in records:
        if record.item_id in catalogue:
            known.append(record)
        else:
            unknown.append((line_number, record.item_id))
    report = UnknownItemReport(
        os.fspath(path), len(unknown), sorted({item for _, item in unknown}),
        unknown[:_EXAMPLES_IN_REPORT],
    )
    if unknown and on_unknown_items == "error":
        raise DataError(report.path, unknown[0][0], report.problem)
    if unknown:
        logging.getLogger(__name__).warning("%s", report)
    has_timestamps = timestamp_column is not None
    log = InteractionLog(
        [record.user_id for record in known],
        [record.item_id for record in known],
        catalogue,
        labels=[record.label for record in known],
        timestamps=[record.timestamp for record in known] if has_timestamps else None,
    )
    return log, report


def _counted(count, noun):
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _identifier(path, line_number, column, value, what):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(
            path, line_number, f"{what} {column!r} is {value!r}; expected a string or an integer"
        )
    value = str(value).strip()
    if not value:
        raise DataError(path, line_number, f"{what} {column!r} is empty; expected an id")
    return value


def _number(path, line_number, column, value, what):
    if isinstance(value, bool):
        value = None  # JSON true/false are not numbers.
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise DataError(
            path, line_number, f"{what} {column!r} is {value!r}; expected a finite number"
        )
    return number


def _numbered_interactions(
    path, user_column, item_column, label_column, timestamp_column, file_format, header,
    encoding_errors,
):
    columns = [user_column, item_column] + [
        column for column in (label_column, timestamp_column) if column is not None]
    path = os.fspath(path)
    rows = iter_rows(path, columns, file_format, header, encoding_errors)

    def records():
        for line_number, values in rows:
            user_id = _identifier(path, line_number, user_column, values[0], "user id")
            item_id = _identifier(path, line_number, item_column, values[1], "item id")
            extra = iter(values[2:])
            label = 1.0 if label_column is None else _number(
                path, line_number, label_column, next(extra), "label")
            timestamp = None if timestamp_column is None else _number(
                path, line_number, timestamp_column, next(extra), "timestamp")
            yield line_number, Interaction(user_id, item_id, label, timestamp)

    return records()


def _text_field(path, line_number, column, value):
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return " ".join(part.strip() for part in value if part.strip())
    if isinstance(value, str):
        return value.strip()
    raise DataError(
        path, line_number,
        f"text field {column!r} is {value!r}; expected a string, a list of strings or null",
    )


def _numbered_items(
    path, item_column, text_columns, separator, file_format, header, encoding_errors
):
    if isinstance(text_columns, (str, int)):
        raise ValueError(
            f"`text_columns` must be a list of columns, got {text_columns!r}; "
            f"write [{text_columns!r}] for one column."
        )
    text_columns = list(text_columns)
    if not text_columns:
        raise ValueError("`text_columns` must name at least one column.")
    path = os.fspath(path)
    rows = iter_rows(path, [item_column, *text_columns], file_format, header, encoding_errors)

    def records():
        for line_number, (item_id, *fields) in rows:
            item_id = _identifier(path, line_number, item_column, item_id, "item id")
            parts = [
                _text_field(path, line_number, column, field)
                for column, field in zip(text_columns, fields)
            ]
            yield line_number, (item_id, separator.join(part for part in parts if part))

    return records()
