"""A small NeXus/HDF5 writer: groups with ``NX_class``, growing tables, NXdata with axes.

Reusable by any record (alignment runs in :mod:`beamloop.controller.run.record`, 4D-STEM
explore records ...): it knows NeXus conventions, not what is being recorded.

* :func:`check_output_location` - refuse (typed error) a place a record cannot be written,
  *before* an instrument is touched.
* :class:`NexusFile` - open a file with the NeXus root attributes, make ``NX*`` groups,
  growing datasets (``column``/``stack``) that are appended to row by row, and
  :meth:`NexusFile.nxdata` plots (``signal``, ``axes``, ``AXIS_indices``, ``units``,
  ``long_name``) that NeXus readers (h5web, RosettaSciIO/HyperSpy, nexusformat) open as data.
* Every append can be followed by :meth:`NexusFile.flush` (HDF5 ``H5Fflush``): a process
  killed with SIGKILL leaves a file that opens with everything up to the last flush
  (tested in ``tests/controller/test_record.py``). SWMR is not used: it forbids new groups,
  datasets and attributes once enabled, and a record's events and results arrive late.

Units: whatever the caller states in ``units`` (NeXus spelling: ``m``, ``rad``, ``mrad``,
``eV``, ``s``, ``counts``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

STR = h5py.string_dtype("utf-8")
MIN_FREE_BYTES = 50 * 2**20  # refuse to start a record with less than 50 MiB free


class OutputLocationError(OSError):
    """The record cannot be written where asked (not a directory, not writable, full, exists)."""


def to_json(obj: Any) -> str:
    """JSON text of ``obj``; numpy scalars/arrays and dataclass-like objects are converted."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "__dict__"):
            return o.__dict__
        return repr(o)

    return json.dumps(obj, default=default)


def check_output_location(path: str | Path, *, min_free_bytes: int = MIN_FREE_BYTES, must_not_exist: bool = True) -> Path:
    """Check that a record can be written at ``path`` (a file) or inside ``path`` (a directory).

    Creates missing parent directories, then checks write permission (by creating and removing a
    probe file), free space (``min_free_bytes``) and, if ``must_not_exist``, that the file is
    new. Raises :class:`OutputLocationError` naming the path and the reason. Returns the
    directory that was checked.
    """
    p = Path(path)
    d = p if (p.is_dir() or not p.suffix) else p.parent
    if d.exists() and not d.is_dir():
        raise OutputLocationError(f"output location {d}: exists and is not a directory")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputLocationError(f"output location {d}: cannot create the directory ({exc.strerror or exc})") from None
    probe = d / f".beamloop-write-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise OutputLocationError(f"output location {d}: not writable ({exc.strerror or exc})") from None
    free = shutil.disk_usage(d).free
    if free < min_free_bytes:
        raise OutputLocationError(f"output location {d}: only {free / 2**20:.0f} MiB free "
                                  f"(need {min_free_bytes / 2**20:.0f} MiB)")
    if must_not_exist and p != d and p.exists():
        raise OutputLocationError(f"output location {p}: a file of that name exists; not overwriting it")
    return d


class NexusFile:
    """One NeXus file being written. ``creator``: program name (root attribute)."""

    def __init__(self, path: str | Path, creator: str = "beamloop", **root_attrs: Any):
        self.path = Path(path)
        check_output_location(self.path)
        self.f = h5py.File(self.path, "w")  # default libver: no "open for write" flag left by a crash
        self.f.attrs.update({"NX_class": "NXroot", "creator": creator, "HDF5_Version": h5py.version.hdf5_version,
                             "h5py_version": h5py.version.version, "file_name": self.path.name,
                             "file_time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self.f.attrs.update({k: v for k, v in root_attrs.items()})

    # -- structure ---------------------------------------------------------------------------
    def group(self, path: str, nx_class: str, **attrs: Any) -> h5py.Group:
        """``require_group(path)`` with ``NX_class = nx_class`` (and any other attributes)."""
        g = self.f.require_group(path)
        g.attrs["NX_class"] = nx_class
        for k, v in attrs.items():
            g.attrs[k] = v
        return g

    @staticmethod
    def field(group: h5py.Group, name: str, value: Any, units: str | None = None, **attrs: Any) -> h5py.Dataset:
        """A fixed dataset (scalar, string or array) with optional ``units``."""
        if name in group:
            del group[name]
        if isinstance(value, str):
            ds = group.create_dataset(name, data=value, dtype=STR)
        else:
            ds = group.create_dataset(name, data=value)
        if units:
            ds.attrs["units"] = units
        for k, v in attrs.items():
            ds.attrs[k] = v
        return ds

    @staticmethod
    def column(group: h5py.Group, name: str, dtype: Any, width: Sequence[int] = (), units: str | None = None,
               chunk_rows: int = 64, compress: bool = False, **attrs: Any) -> h5py.Dataset:
        """An empty dataset of rows of shape ``width`` that grows along axis 0 (:meth:`append`)."""
        width = tuple(int(w) for w in width)
        kw = {"compression": "gzip", "compression_opts": 1} if compress else {}
        ds = group.create_dataset(name, (0, *width), dtype, maxshape=(None, *width),
                                  chunks=(chunk_rows, *[max(w, 1) for w in width]), **kw)
        if units:
            ds.attrs["units"] = units
        for k, v in attrs.items():
            ds.attrs[k] = v
        return ds

    @staticmethod
    def append(ds: h5py.Dataset, row: Any) -> int:
        """Append one row; returns its index."""
        n = ds.shape[0]
        ds.resize(n + 1, axis=0)
        ds[n] = row
        return n

    def nxdata(self, path: str, signal: str, axes: Sequence[str], *, title: str | None = None,
               aux: Iterable[str] = ()) -> h5py.Group:
        """Make ``path`` an NXdata: ``signal`` names the plotted dataset, ``axes`` one name per
        dimension (``"."`` for none); each named axis gets ``<axis>_indices``. The datasets
        themselves are created by the caller (fields/columns inside the group)."""
        g = self.group(path, "NXdata", signal=signal, axes=np.array(list(axes), dtype=object).astype(STR))
        for i, a in enumerate(axes):
            if a != ".":
                g.attrs[f"{a}_indices"] = np.int64(i)
        if aux:
            g.attrs["auxiliary_signals"] = np.array(list(aux), dtype=object).astype(STR)
        if title:
            g.attrs["title"] = title
        return g

    def set_default(self, *path: str) -> None:
        """The NeXus ``default`` chain from the root: ``set_default("entry", "frames")``."""
        g = self.f
        for name in path:
            g.attrs["default"] = name
            g = g[name]

    # -- lifetime ----------------------------------------------------------------------------
    def flush(self) -> None:
        self.f.flush()

    @property
    def open(self) -> bool:
        return bool(self.f.id.valid)

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()
