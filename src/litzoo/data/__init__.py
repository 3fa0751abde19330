"""LightningDataModules, one file per data source."""
from litzoo.data.base import CorruptFileError, DatasetNotFoundError

__all__ = ["CorruptFileError", "DatasetNotFoundError"]
