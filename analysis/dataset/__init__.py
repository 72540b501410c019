"""The trajectory dataset: the contract between recording (envs, marl) and analysis.

A dataset is a directory: ``manifest.json`` + Parquet shards under ``shards/``, one row per
(episode, step, agent) — see ``analysis.dataset.format`` for the schema and row semantics.
Write with ``DatasetWriter`` (atomic, resumable), read with ``open_dataset`` / ``load`` (validated;
``DatasetError`` names what is wrong), analyse ``Episodes`` or their ``Windows``. Readable without
this package by pandas, polars, DuckDB and Ray Data (``DIR/shards/*.parquet``). Tables recorded
elsewhere enter through ``analysis.dataset.importer`` (``ethogram data import``; it imports pandas,
so it is not loaded here).
"""

from analysis.dataset.episodes import Episodes, Windows
from analysis.dataset.format import (
    DEFAULT_FIELDS,
    FIELDS,
    ConditionInfo,
    DatasetError,
    Manifest,
    PolicyInfo,
)
from analysis.dataset.reader import Dataset, load, open_dataset
from analysis.dataset.writer import DatasetWriter, EpisodeBatch

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "ConditionInfo",
    "Dataset",
    "DatasetError",
    "DatasetWriter",
    "EpisodeBatch",
    "Episodes",
    "Manifest",
    "PolicyInfo",
    "Windows",
    "load",
    "open_dataset",
]
