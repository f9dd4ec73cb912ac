"""`.h5`/`.hdf5` data: every dataset's shape and dtype, never reading the data itself.

External links, soft links, external raw storage and virtual datasets can make libhdf5 read
other files on the host (shared/research/security.md §1.5), and a dataset can declare
petabytes while storing nothing: such files are refused (`safeio.hdf5_refusals`) before any
dataset is opened for its values.
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
        # libhdf5 allocates what damaged metadata claims before kerasfix can look at it.
        with safeio.address_space_cap(), h5py.File(path, "r", locking=False) as f:
            refs: list[ArrayRef] = []
            problems = safeio.hdf5_refusals(f)
            if problems:
                raise DataReadError("; ".join(problems))

            def visit(name: str, obj: Any) -> None:
                if not isinstance(obj, h5py.Dataset) or obj.shape is None:
                    return  # a group, or a null dataspace holding no array
                if len(refs) >= MAX_DATASETS:
                    problems.append(f"more than {MAX_DATASETS} datasets")
                    return
                dtype = obj.dtype
                if h5py.check_ref_dtype(dtype) is not None:
                    problems.append(f"dataset {name!r} holds HDF5 object references, not numbers")
                    return
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

            f.visititems(visit)
    except DataReadError:
        raise
    # SystemError: h5py's answer to a libhdf5 error inside a link-visit callback (a damaged
    # local heap, found by `make fuzz`).
    except (OSError, RuntimeError, KeyError, ValueError, SystemError) as exc:
        cause: BaseException = exc
        if isinstance(exc, SystemError) and exc.__cause__ is not None:
            cause = exc.__cause__  # libhdf5's own words, not h5py's lock wrapper
        text = str(cause).strip()
        reason = text.splitlines()[0] if text else type(cause).__name__
        raise DataReadError(f"not a readable HDF5 file ({reason})") from None
    if problems:
        raise DataReadError("; ".join(problems))
    return sorted(refs, key=lambda r: r.key or "")
