"""A restricted reader for official StyleGAN network pickles that runs no code from the file.

The official training code pickles each network as a call of
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` holds the Python source of the
network's module (which the official loader executes) and the object's `__dict__`. This reader resolves
only an allow-list of globals:

- functions that rebuild tensors, numpy arrays and dicts, reimplemented here (see `torch_storage`) or harmless;
- the persistence hook, which becomes a `PersistentObject` record; the embedded source is dropped unread;
- classes from the namespaces that occur in GAN snapshots (torch.nn modules, timm, the official packages,
  dill's helpers for the hook closures of StyleGAN-XL discriminators), which become `InertObject` records
  that remember their arguments and state and run nothing.

Any other global (os.system, builtins.eval, subprocess, ...) stops the reading with a StyleGANError.

The state step of unpickling (BUILD) is restricted too: plain pickle hands it to the target's
`__setstate__`, and numpy's dtype `__setstate__` accepts field offsets outside the item, so a crafted file
could make arrays that read and write memory out of bounds. Here only records, dicts and checked numpy
states receive one.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.torch_storage import (
    LEGACY_MAGIC,
    TENSOR_GLOBALS,
    ForbiddenGlobal,
    GuardedUnpickler,
    RefusedContent,
    UnsupportedContent,
    python3_name,
)

PERSISTENCE_VERSION = 6  # the only version of torch_utils.persistence in any released StyleGAN code


@dataclass
class PersistentObject:
    """A network object of the official code.

    `state` is the object's `__dict__`: constructor arguments in `_init_args` / `_init_kwargs`, tensors in
    `_parameters` / `_buffers`, children in `_modules`, plus plain attributes. The pickle does not record the
    module the class came from, so `module_name` is None; of the embedded source only its length is kept.
    """

    class_name: str
    module_name: str | None
    state: dict
    source_length: int


class InertObject:
    """Stand-in for an instance of a class that is never imported: it records what the pickle gives it.

    `args` / `kwargs`: constructor arguments; `state`: what the pickle set as the object's state (for a
    torch module its `__dict__`); `items` / `list_items`: entries added as to a dict / a list.
    """

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        record = super().__new__(cls)
        record.args, record.kwargs = args, kwargs
        record.state = None
        record.items = {}
        record.list_items = []
        return record

    def __init__(self, *args, **kwargs):
        pass  # __new__ already recorded the arguments

    def __call__(self, *args, **kwargs) -> InertObject:
        """dill rebuilds closures by calling what it rebuilt before; answer with another record."""
        record = InertObject(*args, **kwargs)
        record.qualname = f"{self.qualname}(...)"
        return record

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.list_items.append(value)

    def extend(self, values):
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.qualname}>"


_inert_classes: dict[str, type[InertObject]] = {}


def _inert_class(qualname: str) -> type[InertObject]:
    """One placeholder class per pickled global, so records of the same class share a type."""
    if qualname not in _inert_classes:
        _inert_classes[qualname] = type(f"Inert[{qualname}]", (InertObject,), {"qualname": qualname})
    return _inert_classes[qualname]


def _persistent_object(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("malformed persistent object")
    version = meta.get("version")
    if version != PERSISTENCE_VERSION:
        raise UnsupportedContent(
            f"torch_utils.persistence version {version!r} (only version {PERSISTENCE_VERSION} is known)"
        )
    class_name, state, source = meta.get("class_name"), meta.get("state"), meta.get("module_src")
    if not (isinstance(class_name, str) and isinstance(state, dict) and isinstance(source, str)):
        raise pickle.UnpicklingError("malformed persistent object")
    return PersistentObject(class_name, None, state, len(source))


# numpy ------------------------------------------------------------------------------------------------------

_NUMPY_KINDS = "biufcSU"  # numbers, booleans and strings; never objects, records or datetimes


def _checked_dtype(dtype: Any) -> np.dtype:
    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("numpy data without a dtype")
    if dtype.hasobject:
        raise RefusedContent(
            "it holds numpy data of Python objects, which is not allowed in a network pickle"
        )
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsupportedContent(f"numpy data of dtype {dtype}")
    if dtype.byteorder == ">":
        raise UnsupportedContent("big-endian numpy data")
    return dtype


def _numpy_dtype(descr: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """numpy.dtype(descr, align, copy) for simple dtypes. The result may be numpy's shared instance, which is
    safe because the state step only checks dtypes and never calls their `__setstate__`."""
    if not isinstance(descr, str):
        raise pickle.UnpicklingError("malformed numpy dtype")
    return _checked_dtype(np.dtype(descr))


def _check_dtype_state(dtype: np.dtype, state: Any) -> None:
    """The pickled state of a simple dtype repeats what its descriptor said; anything more is refused."""
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise pickle.UnpicklingError("malformed numpy dtype state")
    endian, subarray, names, fields, elsize = state[1:6]
    if subarray is not None or names is not None or fields is not None:
        raise UnsupportedContent("structured numpy dtypes")
    if endian == ">":
        raise UnsupportedContent("big-endian numpy data")
    if endian not in ("<", "|", "=") or elsize not in (-1, dtype.itemsize):
        raise pickle.UnpicklingError("numpy dtype state does not match its descriptor")


def _shape(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise pickle.UnpicklingError("malformed numpy shape")
    return shape


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    count = 1
    for n in shape:
        count *= n
    return count * dtype.itemsize


def _set_array_state(array: np.ndarray, state: Any) -> None:
    if not isinstance(state, tuple) or len(state) != 5:
        raise pickle.UnpicklingError("malformed numpy array state")
    _, shape, dtype, fortran_order, data = state
    shape, dtype = _shape(shape), _checked_dtype(dtype)
    if not isinstance(data, bytes | bytearray) or len(data) != _nbytes(shape, dtype):
        raise pickle.UnpicklingError("numpy array data does not match its shape")
    array.__setstate__((1, shape, dtype, bool(fortran_order), bytes(data)))


class _NdarrayMarker:
    """What numpy.ndarray resolves to: accepted by the reconstruct function, but not a class one can call."""


_NDARRAY = _NdarrayMarker()


def _numpy_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """numpy's array reconstruction: an empty array whose shape, dtype and data come with the state step."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return np.empty(0, dtype=np.uint8)


def _numpy_scalar(dtype: Any, data: Any = None) -> np.generic:
    dtype = _checked_dtype(dtype)
    if not isinstance(data, bytes | bytearray) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("malformed numpy scalar")
    return np.frombuffer(bytes(data), dtype=dtype)[0]


def _numpy_frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """How numpy pickles contiguous arrays with protocol 5."""
    dtype, shape = _checked_dtype(dtype), _shape(shape)
    if order not in ("C", "F") or not isinstance(buffer, bytes | bytearray):
        raise pickle.UnpicklingError("malformed numpy array")
    if len(buffer) != _nbytes(shape, dtype):
        raise pickle.UnpicklingError("numpy array data does not match its shape")
    return np.frombuffer(bytearray(buffer), dtype=dtype).reshape(shape, order=order)


def _dill_array(reconstruct: Any, args: Any, state: Any, npdict: Any = None) -> np.ndarray:
    """How dill pickles numpy arrays: numpy's reconstruction call and the array state in one call."""
    if reconstruct is not _numpy_reconstruct or not isinstance(args, tuple) or npdict:
        raise pickle.UnpicklingError("unsupported dill array")
    array = _numpy_reconstruct(*args)
    _set_array_state(array, state)
    return array


# the allow-list ---------------------------------------------------------------------------------------------


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """How pickle protocols 0-2 spell a bytes object."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 encoded bytes are allowed")
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    """How pickle protocols 0-2 spell b''; bytes(n) would allocate n bytes, so no argument is accepted."""
    return b""


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor (object creation with protocols 0 and 1) for dicts and inert records only."""
    if cls is dict and base is dict:
        return dict(state or {})
    if isinstance(cls, type) and issubclass(cls, InertObject):
        return cls() if state is None else cls(state)
    raise pickle.UnpicklingError("object reconstruction of a class that is not inert")


@dataclass(frozen=True)
class _ModuleName:
    """What dill's _import_module gives back here: only a name. Nothing is imported; `_dill_get_attr` looks
    attributes up through the same table as any other global."""

    name: str


def _dill_import_module(name: Any, safe: Any = False) -> _ModuleName:
    if not isinstance(name, str):
        raise pickle.UnpicklingError("malformed dill module reference")
    return _ModuleName(name)


def _dill_get_attr(owner: Any, name: Any) -> Any:
    """dill pickles some functions (numpy's scalar, in StyleGAN-XL snapshots) as getattr(module, name).

    A module attribute resolves like a global: allowed ones are real, the rest stay inert records (as do
    attributes of records), so nothing is looked up in a real module.
    """
    if isinstance(owner, _ModuleName) and isinstance(name, str):
        try:
            return _resolve_global(owner.name, name)
        except ForbiddenGlobal:
            pass
    return _inert_class("dill._dill._get_attr")(owner, name)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    **TENSOR_GLOBALS,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("builtins", "object"): object,
    ("builtins", "bytes"): _empty_bytes,
    ("_codecs", "encode"): _latin1_bytes,
    ("copyreg", "_reconstructor"): _reconstructor,
    # dnnlib's attribute-style dict: its attributes are its items, so a plain dict holds all of it.
    ("dnnlib", "EasyDict"): dict,
    ("dnnlib.util", "EasyDict"): dict,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _numpy_dtype,
    ("dill._dill", "_create_array"): _dill_array,
    ("dill._dill", "_import_module"): _dill_import_module,
    ("dill._dill", "_get_attr"): _dill_get_attr,
}
for _package in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spell its internals differently
    for _module in ("multiarray", "_multiarray_umath"):  # dill names the module a function lives in
        _ALLOWED[(f"{_package}.{_module}", "_reconstruct")] = _numpy_reconstruct
        _ALLOWED[(f"{_package}.{_module}", "scalar")] = _numpy_scalar
    _ALLOWED[(f"{_package}.numeric", "_frombuffer")] = _numpy_frombuffer

_TORCH_DTYPES = {name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)}

# Classes and functions from these packages occur in discriminators, feature networks, augmentation pipes and
# training state; they become inert records and are never imported.
_INERT_PACKAGES = (
    "torch.nn",  # modules, parameters, spectral-norm hooks, activation functions kept as attributes
    "torch.ao.nn",  # quantisation stubs inside timm models
    "dill",  # StyleGAN-XL writes snapshots with dill, which pickles the feature networks' hook closures
    "timm",
    "pg_modules",
    "feature_networks",
    "training",
    "torch_utils",
    "dnnlib",
    "metrics",
    "torchvision",
)
# Bound methods pickle as getattr(obj, name) and dill finishes rebuilt classes with setattr; as records
# they look up and set nothing.
_INERT_NAMES = {
    ("functools", "partial"),
    ("torch", "Tensor"),  # the type argument of torch._tensor._rebuild_from_type_v2
    ("torch._tensor", "Tensor"),
    ("builtins", "getattr"),
    ("builtins", "setattr"),
}


def _resolve_global(module: str, name: str) -> Any:
    module, name = python3_name(module, name)
    if (module, name) in _ALLOWED:
        return _ALLOWED[(module, name)]
    if module == "torch" and name in _TORCH_DTYPES:
        return _TORCH_DTYPES[name]
    if (module, name) in _INERT_NAMES or any(
        module == package or module.startswith(package + ".") for package in _INERT_PACKAGES
    ):
        return _inert_class(f"{module}.{name}")
    raise ForbiddenGlobal(module, name)


class _NetworkUnpickler(GuardedUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        return _resolve_global(module, name)

    def apply_state(self, target: Any, state: Any) -> None:
        """The state step, for the few kinds of objects that legitimately receive one."""
        if isinstance(target, InertObject):
            target.state = state
        elif type(target) is dict and isinstance(state, dict):
            target.update(state)  # an EasyDict's attributes
        elif isinstance(target, np.ndarray):
            _set_array_state(target, state)
        elif isinstance(target, np.dtype):
            _check_dtype_state(target, state)
        elif not (isinstance(state, dict) and not state):  # an empty state sets nothing
            super().apply_state(target, state)


# reading ----------------------------------------------------------------------------------------------------

_CORRUPT = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    OverflowError,
    MemoryError,
    RuntimeError,  # torch's own checks on shapes and storages
)


def _describe_non_pickle(head: bytes, file: BinaryIO) -> str | None:
    """Say what a file is when it is evidently not a pickle."""
    if not head:
        return "the file is empty"
    if head.startswith(b"\x80"):  # how pickles of protocol 2 and later start
        return None
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(file).namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            names = []
        if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            return (
                "it is a torch.save checkpoint (a zip archive), not a network pickle; "
                "official networks are .pkl files written by the StyleGAN training code"
            )
        return "it is a zip archive, not a network pickle"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image, not a network pickle"
    if head.startswith(b"\xff\xd8\xff"):
        return "it is a JPEG image, not a network pickle"
    if head.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed; decompress it first"
    if len(head) >= 9 and head[8:9] == b"{":
        return "it is a .safetensors file, not a network pickle"
    if head.lstrip().startswith(b"<"):
        return "it is an HTML or XML page (a failed download?), not a network pickle"
    return None


def read_network_pickle_from(file: BinaryIO, name: str) -> dict:
    """Read an official network pickle from a binary file object; `name` identifies it in error messages.

    Returns the pickled snapshot dict (typically G, D, G_ema, augment_pipe, training_set_kwargs, progress)
    with networks as `PersistentObject` records, other modules as `InertObject` records, tensors as CPU
    tensors and numpy values as numpy values. A file holding a single network object is returned as {"G": it}.
    """
    if not file.seekable():
        file = io.BytesIO(file.read())
    start = file.tell()
    head = file.read(16)
    problem = _describe_non_pickle(head, file)
    if problem:
        raise StyleGANError(f"{name}: {problem}")
    file.seek(start)
    try:
        obj = _NetworkUnpickler(file).load()
    except RefusedContent as error:
        raise StyleGANError(f"refusing to load {name}: {error} (nothing from the file was run)") from None
    except UnsupportedContent as error:
        raise StyleGANError(f"{name}: unsupported network pickle: it contains {error}") from None
    except _CORRUPT as error:
        detail = str(error) or type(error).__name__
        if not head.startswith(b"\x80"):
            raise StyleGANError(f"{name}: not a network pickle ({detail})") from None
        raise StyleGANError(
            f"{name}: the network pickle is truncated or corrupt ({detail}); try downloading it again"
        ) from None
    if isinstance(obj, PersistentObject):
        return {"G": obj}
    if isinstance(obj, int) and obj == LEGACY_MAGIC:
        raise StyleGANError(f"{name}: it is a torch.save file (legacy format), not a network pickle")
    if not isinstance(obj, dict):
        raise StyleGANError(
            f"{name}: the pickle holds a {type(obj).__name__}, not a network snapshot (a dict of networks)"
        )
    return obj


def read_network_pickle(path: str | Path) -> dict:
    """Read an official network pickle file; see `read_network_pickle_from`. Problems raise StyleGANError."""
    path = Path(path)
    if not path.exists():
        raise StyleGANError(f"{path}: no such file")
    if path.is_dir():
        raise StyleGANError(f"{path}: is a directory, not a network pickle")
    try:
        with path.open("rb") as f:
            return read_network_pickle_from(f, str(path))
    except OSError as error:
        raise StyleGANError(f"{path}: cannot be read ({error.strerror or error})") from None
