"""The dataset layout (writer and reader), one module per output format, contact sheets."""

from groundforge.export.layout import DatasetInfo, DatasetWriter, relative_paths, shot_name
from groundforge.export.preview import contact_sheet
from groundforge.export.reader import DatasetReader

__all__ = [
    "DatasetInfo",
    "DatasetReader",
    "DatasetWriter",
    "contact_sheet",
    "relative_paths",
    "shot_name",
]
