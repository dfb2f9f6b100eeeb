"""MovieLens 100K files: `u.item` (movies, Latin-1, `|`-separated), `u.data` and its splits (ratings).

The layout is GroupLens's `ml-100k` directory (see its README):

- `u.data`: `user id <TAB> item id <TAB> rating <TAB> timestamp`, no header,
  ratings 1-5, timestamps in Unix seconds;
- the standard splits of `u.data`, in the same format: `ua.base`/`ua.test`
  and `ub.base`/`ub.test` (exactly 10 ratings of each user in the test
  part, `ua.test` and `ub.test` disjoint), `u1.base`/`u1.test` to
  `u5.base`/`u5.test` (80%/20%, five disjoint test parts for
  cross-validation);
- `u.item`: `movie id | title | release date | video release date | IMDb URL |`
  then 19 genre flags (0/1) in the order of `MOVIELENS_GENRES`, encoded
  Latin-1 (titles such as "Lumière" are not UTF-8).

Each movie's text is its title and the names of its genres, e.g.
`"Toy Story (1995). Animation, Children's, Comedy"`; the `unknown` genre flag
adds no name.
"""

import collections
import logging
import os

import tensorflow as tf

from keras_simpletf.data.errors import DataError
from keras_simpletf.data.interactions import ItemCatalogue, load_interactions
from keras_simpletf.layers.validation import check_choice

MOVIELENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

MOVIELENS_SPLITS = ("ua", "ub", "u1", "u2", "u3", "u4", "u5")

_ITEM_FIELDS = 5 + len(MOVIELENS_GENRES)

MovieLensRatings = collections.namedtuple("MovieLensRatings", ["base", "test", "reports"])
MovieLensRatings.__doc__ = """What `load_movielens_100k` read: `base` (an `InteractionLog`: all of
`u.data`, or a split's `.base` part), `test` (the split's `.test` part over
the same catalogue, or `None`: no split asked, or its file is absent) and
`reports` (the `UnknownItemReport` of each file read, in that order)."""


def load_movielens_items(path):
    """Reads MovieLens 100K's `u.item` into an `ItemCatalogue` of movie texts.

    Args:
        path: str or path-like, the `u.item` file (Latin-1; any file system
            `tf.io.gfile` reads).

    Returns:
        An `ItemCatalogue`: movie ids as str, texts `"title. Genre, Genre"`.

    Raises:
        DataError: for a line without 24 `|`-separated fields, an empty id,
            a genre flag other than 0/1, or a movie id defined twice.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "u.item")
    genre_flags = "|".join("0001100000000000000")  # Animation, Children's
    with open(path, "w", encoding="latin-1") as file:
        file.write(f"1|Toy Story (1995)|01-Jan-1995||http://x|{genre_flags}\\n")
    load_movielens_items(path).texts  # ["Toy Story (1995). Animation, Children's"]
    ```
    """
    path = os.fspath(path)
    item_ids, texts, first_line_of = [], [], {}
    with tf.io.gfile.GFile(path, "rb") as file:
        for line_number, raw_line in enumerate(file, start=1):
            line = raw_line.decode("latin-1").rstrip("\r\n")
            if not line.strip():
                continue
            item_id, text = _movie(path, line_number, line)
            if item_id in first_line_of:
                raise DataError(
                    path, line_number,
                    f"movie id {item_id!r} was already defined on line "
                    f"{first_line_of[item_id]}; expected each movie once",
                )
            first_line_of[item_id] = line_number
            item_ids.append(item_id)
            texts.append(text)
    return ItemCatalogue(item_ids, texts)


def load_movielens_ratings(path, catalogue, on_unknown_items="report"):
    """Reads MovieLens 100K's `u.data` ratings into an `InteractionLog`.

    Args:
        path: str or path-like, the `u.data` file.
        catalogue: the `ItemCatalogue` from `load_movielens_items`.
        on_unknown_items: `"report"` or `"error"`, as in
            `keras_simpletf.data.load_interactions`.

    Returns:
        `(log, report)`: labels are the ratings (1.0-5.0), timestamps Unix
        seconds; `report` is the `UnknownItemReport` of movies not in `u.item`.

    Raises:
        DataError: for a line without 4 tab-separated fields, or a rating or
            timestamp that is not a number.

    Example:

    ```python
    import os, tempfile
    directory = tempfile.mkdtemp()
    with open(os.path.join(directory, "u.data"), "w") as file:
        file.write("196\\t1\\t3\\t881250949\\n186\\t1\\t4\\t891717742\\n")
    catalogue = ItemCatalogue(["1"], ["Toy Story (1995). Animation"])
    log, report = load_movielens_ratings(os.path.join(directory, "u.data"), catalogue)
    log.labels  # array([3., 4.], dtype=float32)
    ```
    """
    return load_interactions(
        path, catalogue, user_column=0, item_column=1, label_column=2, timestamp_column=3,
        file_format="tsv", header=False, on_unknown_items=on_unknown_items,
    )


def load_movielens_100k(directory, split=None, on_unknown_items="report"):
    """Reads an `ml-100k` directory: `u.item`, and `u.data` or one of its standard splits.

    Every log shares one catalogue, `u.item`'s, so a base part and its test
    part go straight into `keras_simpletf.metrics.retrieval_report`. A
    split's test file may be absent (test parts are often held out for a
    final evaluation): the result's `test` is then `None`, and a warning
    names the missing file.

    Args:
        directory: str or path-like, holding `u.item` and the ratings files.
        split: `None` (read `u.data`, every rating) or one of
            `MOVIELENS_SPLITS` (`"ua"`, `"ub"`, `"u1"` ... `"u5"`): read
            `<split>.base` and, if present, `<split>.test`.
        on_unknown_items: `"report"` or `"error"`, for ratings of movies that
            are not in `u.item`.

    Returns:
        A `MovieLensRatings(base, test, reports)`: the logs as
        `load_movielens_ratings` returns them (labels the ratings,
        timestamps Unix seconds) and one `UnknownItemReport` per file read.

    Raises:
        FileNotFoundError: if `u.item` or the base file is absent.
        DataError: for a malformed line (naming file and line).

    Example:

    ```python
    import os, tempfile
    directory = tempfile.mkdtemp()
    genre_flags = "|".join("0001100000000000000")
    with open(os.path.join(directory, "u.item"), "w", encoding="latin-1") as file:
        file.write(f"1|Toy Story (1995)|01-Jan-1995||http://x|{genre_flags}\\n")
    with open(os.path.join(directory, "ua.base"), "w") as file:
        file.write("196\\t1\\t3\\t881250949\\n")
    ratings = load_movielens_100k(directory, split="ua")  # warns: ua.test is absent
    len(ratings.base), ratings.test  # (1, None)
    ```
    """
    directory = os.fspath(directory)
    if split is not None:
        check_choice("split", split, MOVIELENS_SPLITS)
    base_name, test_name = ("u.data", None) if split is None else (f"{split}.base", f"{split}.test")
    for name in ("u.item", base_name):
        if not tf.io.gfile.exists(os.path.join(directory, name)):
            raise FileNotFoundError(f"{os.path.join(directory, name)} does not exist.")
    catalogue = load_movielens_items(os.path.join(directory, "u.item"))
    base, base_report = load_movielens_ratings(
        os.path.join(directory, base_name), catalogue, on_unknown_items)
    if test_name is None:
        return MovieLensRatings(base, None, [base_report])
    test_path = os.path.join(directory, test_name)
    if not tf.io.gfile.exists(test_path):
        logging.getLogger(__name__).warning(
            "%s is absent: read %s only (the test part is None).", test_path, base_name)
        return MovieLensRatings(base, None, [base_report])
    test, test_report = load_movielens_ratings(test_path, catalogue, on_unknown_items)
    return MovieLensRatings(base, test, [base_report, test_report])


def _movie(path, line_number, line):
    """`(movie id, text)` of one `u.item` line."""
    fields = line.split("|")
    if len(fields) != _ITEM_FIELDS:
        raise DataError(
            path, line_number,
            f"expected {_ITEM_FIELDS} '|'-separated fields (id, title, release date, video "
            f"release date, URL, {len(MOVIELENS_GENRES)} genre flags), got {len(fields)}",
        )
    item_id, title = fields[0].strip(), fields[1].strip()
    if not item_id:
        raise DataError(path, line_number, "the movie id is empty; expected an id")
    flags = [flag.strip() for flag in fields[5:]]
    bad = [(genre, flag) for genre, flag in zip(MOVIELENS_GENRES, flags) if flag not in ("0", "1")]
    if bad:
        genre, flag = bad[0]
        raise DataError(
            path, line_number, f"genre flag {genre!r} is {flag!r}; expected 0 or 1"
        )
    genres = [
        genre for genre, flag in zip(MOVIELENS_GENRES, flags)
        if flag == "1" and genre != "unknown"
    ]
    return item_id, ". ".join(part for part in (title, ", ".join(genres)) if part)
