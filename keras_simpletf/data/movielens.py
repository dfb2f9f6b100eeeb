"""MovieLens 100K files: `u.item` (movies, Latin-1, `|`-separated) and `u.data` (ratings).

The layout is GroupLens's `ml-100k` directory (see its README):

- `u.data`: `user id <TAB> item id <TAB> rating <TAB> timestamp`, no header,
  ratings 1-5, timestamps in Unix seconds;
- `u.item`: `movie id | title | release date | video release date | IMDb URL |`
  then 19 genre flags (0/1) in the order of `MOVIELENS_GENRES`, encoded
  Latin-1 (titles such as "Lumière" are not UTF-8).

Each movie's text is its title and the names of its genres, e.g.
`"Toy Story (1995). Animation, Children's, Comedy"`; the `unknown` genre flag
adds no name.
"""

import os

import tensorflow as tf

from keras_simpletf.data.errors import DataError
from keras_simpletf.data.interactions import ItemCatalogue, load_interactions

MOVIELENS_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

_ITEM_FIELDS = 5 + len(MOVIELENS_GENRES)


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


def load_movielens_100k(directory, on_unknown_items="report"):
    """Reads an `ml-100k` directory: `u.item` and `u.data`.

    Args:
        directory: str or path-like, holding `u.item` and `u.data`.
        on_unknown_items: `"report"` or `"error"`, for ratings of movies that
            are not in `u.item`.

    Returns:
        `(log, report)` as `load_movielens_ratings` returns them; the log's
        catalogue is `u.item`'s.

    Example:

    ```python
    import os, tempfile
    directory = tempfile.mkdtemp()
    genre_flags = "|".join("0001100000000000000")
    with open(os.path.join(directory, "u.item"), "w", encoding="latin-1") as file:
        file.write(f"1|Toy Story (1995)|01-Jan-1995||http://x|{genre_flags}\\n")
    with open(os.path.join(directory, "u.data"), "w") as file:
        file.write("196\\t1\\t3\\t881250949\\n")
    log, report = load_movielens_100k(directory)
    ```
    """
    directory = os.fspath(directory)
    catalogue = load_movielens_items(os.path.join(directory, "u.item"))
    return load_movielens_ratings(
        os.path.join(directory, "u.data"), catalogue, on_unknown_items)


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
