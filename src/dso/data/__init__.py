"""The labelled sample store: SQLite index (WAL) + safetensors shards + meshes, and its samplers.

See docs of `store.py` for the layout; `generate_dataset` and `label_dataset` fill a store
resumably; `BatchSource` draws training batches per objective.
"""

from dso.data.generate import generate_dataset
from dso.data.label import label_dataset
from dso.data.prompts import Prompt, load_image, prompts_from_images, prompts_from_world
from dso.data.sampling import BatchSource
from dso.data.stats import dataset_stats, format_stats
from dso.data.store import DatasetError, Row, SampleStore, Summary

__all__ = [
    "BatchSource", "DatasetError", "Prompt", "Row", "SampleStore", "Summary", "dataset_stats",
    "format_stats", "generate_dataset", "label_dataset", "load_image", "prompts_from_images",
    "prompts_from_world",
]
