"""Data loaders, one module per format. Each reads shapes and dtypes from headers only and
returns `ArrayRef`s; the arrays themselves are opened lazily (memory-mapped where possible)."""

from kerasfix.loaders.base import ArrayRef, DataFile
from kerasfix.loaders.discover import FORMATS, discover, read_data_file

__all__ = ["FORMATS", "ArrayRef", "DataFile", "discover", "read_data_file"]
