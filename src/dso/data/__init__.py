"""The labelled sample store: SQLite index (WAL) + safetensors shards + meshes, and its samplers.

See docs of `store.py` for the layout; `generate_dataset` and `label_dataset` fill a store
resumably; `BatchSource` draws training batches per objective. Names are imported on first
use: importing the package loads none of its modules.
"""

from __future__ import annotations

from dso._lazy import lazy_exports

_EXPORTS = {
    "generate_dataset": "dso.data.generate",
    "label_dataset": "dso.data.label",
    "Prompt": "dso.data.prompts",
    "load_image": "dso.data.prompts",
    "prompts_from_images": "dso.data.prompts",
    "prompts_from_world": "dso.data.prompts",
    "BatchSource": "dso.data.sampling",
    "dataset_stats": "dso.data.stats",
    "format_stats": "dso.data.stats",
    "DatasetError": "dso.data.store",
    "Row": "dso.data.store",
    "SampleStore": "dso.data.store",
    "Summary": "dso.data.store",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
