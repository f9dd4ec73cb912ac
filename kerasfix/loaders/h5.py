"""`.h5`/`.hdf5` data: every dataset's shape and dtype, never reading the data itself.

External links, soft links, external raw storage and virtual datasets can make libhdf5 read
other files on the host (shared/research/security.md §1.5): such datasets are refused.
"""

from __future__ import annotations

from typing import Any

from kerasfix import safeio
from kerasfix.errors import DataReadError
from kerasfix.loaders.base import ArrayRef

MAX_DATASETS = 10_000


def read_h5(path: str, allow_pickle: bool = False) -> list[ArrayRef]:
    import h5py

    if safeio.regular_file_size(path) == 0:
        raise DataReadError("an empty file")
    try:
        with h5py.File(path, "r", locking=False) as f:
            refs: list[ArrayRef] = []
            problems: list[str] = []

            def visit(name: str, link: Any) -> None:
                if isinstance(link, h5py.ExternalLink | h5py.SoftLink):
                    problems.append(f"{name!r} is a {type(link).__name__}, which kerasfix refuses")
                    return
                obj = f.get(name)
                if not isinstance(obj, h5py.Dataset):
                    return
                if obj.shape is None:
                    return  # a null dataspace holds no array
                if obj.external or obj.is_virtual:
                    problems.append(f"dataset {name!r} stores its data in other files")
                    return
                if len(refs) >= MAX_DATASETS:
                    problems.append(f"more than {MAX_DATASETS} datasets")
                    return
                dtype = obj.dtype
                base = h5py.check_vlen_dtype(dtype)
                ragged = base is not None and not h5py.check_string_dtype(dtype)
                element = base if ragged else dtype
                refs.append(
                    ArrayRef(
                        path=path,
                        key=name,
                        shape=tuple(int(d) for d in obj.shape or ()),
                        dtype=str(element),
                        kind=element.kind,
                        ragged=ragged,
                    )
                )

            f.visititems_links(visit)
    except DataReadError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataReadError(f"not a readable HDF5 file ({reason})") from None
    if problems:
        raise DataReadError("; ".join(problems))
    return sorted(refs, key=lambda r: r.key or "")
