"""A restricted reader for official StyleGAN network pickles that runs no code from the file.

The official training code pickles each network as a call of
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` holds the Python source of the
network's module (which the official loader executes) and the object's `__dict__`. This reader resolves only an
allow-list of globals:

- functions that rebuild tensors, numpy arrays and ordered dicts, reimplemented here or harmless;
- the persistence hook, which becomes a `PersistentObject` record; the embedded source is dropped unread;
- classes from the namespaces that occur in GAN snapshots (torch.nn modules, timm, the official packages),
  which become inert `InertObject` records that only remember their arguments and state.

Any other global (os.system, builtins.eval, subprocess, ...) stops the reading with a StyleGANError.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from stylegan.errors import StyleGANError

PERSISTENCE_VERSION = 6  # the only version of torch_utils.persistence ever released
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first record of a legacy (non-zip) torch.save stream
LEGACY_PROTOCOL = 1001


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


@dataclass
class PersistentObject:
    """A network object of the official code: its class name and its `__dict__` (constructor kwargs in
    `_init_kwargs`, tensors in `_parameters` / `_buffers`, children in `_modules`, plain attributes)."""

    class_name: str
    state: dict
    source_length: int = 0  # characters of embedded source, kept for diagnostics; the source is discarded


class InertObject:
    """Stand-in for an instance of a class we do not import: records what the pickle gave it, runs nothing."""

    qualname = "?"

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args = args
        obj.state = None
        obj.items = {}
        obj.list_items = []
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __call__(self, *args, **kwargs):
        """dill calls what it rebuilt (getattr(...)(...)): answer with another record, run nothing."""
        return _inert_class(f"{self.qualname}(...)")(*args)

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.list_items.append(value)

    def extend(self, values):
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.qualname}>"


class _PickledDict(dict):
    """dnnlib.EasyDict and similar dict subclasses, read as plain dicts."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}

# Classes from these namespaces occur in discriminators, feature networks and training state; they are
# replaced by inert records and never imported.
_INERT_PREFIXES = (
    "torch.nn.",  # modules, parametrizations, spectral-norm hooks, functional activations kept as attributes
    "torch.ao.nn.",  # quantisation stubs inside timm models
    "dill.",  # StyleGAN-XL writes snapshots with dill, which serialises the feature networks' hook closures
    "timm.",
    "pg_modules.",
    "feature_networks.",
    "training.",
    "torch_utils.",
    "dnnlib.",
    "metrics.",
    "torchvision.",
)
# dill rebuilds those closures with getattr / setattr / MethodType; as inert records they call nothing.
_INERT_NAMES = {
    ("functools", "partial"),
    ("torch", "Tensor"),
    ("torch._tensor", "Tensor"),
    ("builtins", "getattr"),
    ("builtins", "setattr"),
    ("types", "MethodType"),
}
_inert_classes: dict[str, type] = {}


def _inert_class(qualname: str) -> type:
    if qualname not in _inert_classes:
        _inert_classes[qualname] = type(f"Inert[{qualname}]", (InertObject,), {"qualname": qualname})
    return _inert_classes[qualname]


def _tensor_from_storage(storage, offset, size, stride, *unused) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise pickle.UnpicklingError("tensor data without a storage")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(offset)
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise pickle.UnpicklingError("malformed tensor layout")
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1 if all(size) else 0
    if extent > storage.numel():
        raise pickle.UnpicklingError("tensor reaches past the end of its storage")
    return storage.as_strided(size, stride, offset).clone()


def _parameter(data, *unused) -> torch.Tensor:
    return data


def _rebuild_from_type(func, new_type, args, state) -> torch.Tensor:
    if func not in (_tensor_from_storage, _parameter):
        raise pickle.UnpicklingError("unsupported tensor subclass reconstruction")
    return func(*args)


def _reconstructor(cls, base, state):
    """Protocol 0/1 object creation, allowed only for the inert stand-ins."""
    if not (isinstance(cls, type) and issubclass(cls, InertObject | _PickledDict)):
        raise pickle.UnpicklingError("object reconstruction of a non-inert class")
    return cls.__new__(cls)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """How pickle protocol 2 spells a bytes object."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("only latin-1 encoded bytes are allowed")
    return text.encode("latin1")


def _numpy_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("numpy arrays of Python objects are not allowed")
    return dtype


def _numpy_frombuffer(buffer, dtype, shape, order="C") -> np.ndarray:
    """How numpy pickles arrays with protocol 5."""
    dtype = _numpy_dtype(dtype)
    return np.frombuffer(bytearray(buffer), dtype=dtype).reshape(shape, order=order)


class _NdarrayMarker:
    """Stands for numpy.ndarray in a pickle, so the class itself can never be called with a chosen dtype."""


def _numpy_reconstruct(subtype, shape, dtype_code) -> np.ndarray:
    """numpy's array reconstruction, for plain ndarrays only; the dtype is checked when the state arrives."""
    if not isinstance(subtype, _NdarrayMarker):
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return _NUMPY_RECONSTRUCT(np.ndarray, shape, dtype_code)


def _dill_array(reconstruct, args, state, npdict=None) -> np.ndarray:
    """How dill pickles numpy arrays: numpy's own reconstruction, then the array state."""
    if reconstruct is not _numpy_reconstruct or not isinstance(state, tuple) or len(state) < 3:
        raise pickle.UnpicklingError("unsupported dill array")
    if not isinstance(state[2], np.dtype) or state[2].hasobject:
        raise pickle.UnpicklingError("numpy arrays of Python objects are not allowed")
    array = reconstruct(*args)
    array.__setstate__(state)
    return array


def _persistent_object(meta) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("malformed persistent object")
    if meta.get("version") != PERSISTENCE_VERSION:
        raise pickle.UnpicklingError(
            f"persistence version {meta.get('version')!r} is not supported (expected {PERSISTENCE_VERSION})"
        )
    state = meta.get("state")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent object without a state dict")
    source = meta.get("module_src")
    return PersistentObject(
        str(meta.get("class_name")), dict(state), len(source) if isinstance(source, str) else 0
    )


_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]
_NUMPY_SCALAR = np.float64(0).__reduce__()[0]

_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor_from_storage,
    ("torch._utils", "_rebuild_tensor"): _tensor_from_storage,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("dnnlib", "EasyDict"): _PickledDict,
    ("dnnlib.util", "EasyDict"): _PickledDict,
    ("_codecs", "encode"): _latin1_bytes,
    ("dill._dill", "_create_array"): _dill_array,
    ("numpy", "ndarray"): _NdarrayMarker(),
    ("numpy", "dtype"): _numpy_dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _numpy_reconstruct
    _ALLOWED[(_module, "scalar")] = _NUMPY_SCALAR
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _numpy_frombuffer
for _prefix in ("torch", "torch.cuda"):
    for _name, _dtype in _STORAGE_DTYPES.items():
        _ALLOWED[(_prefix, _name)] = _StorageType(_dtype)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) in _INERT_NAMES or f"{module}.".startswith(_INERT_PREFIXES):
            return _inert_class(f"{module}.{name}")
        raise ForbiddenGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("unexpected persistent id in a network pickle")


class _LegacyStorageUnpickler(_RestrictedUnpickler):
    """The object record of a legacy torch.save stream: storages are persistent ids, filled in afterwards."""

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self.storages: dict[str, tuple[torch.dtype, int]] = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError("malformed storage reference")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType) or numel < 0:
            raise pickle.UnpicklingError("malformed storage reference")
        view = pid[5] if len(pid) == 6 else None
        self.storages.setdefault(key, (storage_type.dtype, numel))
        return _StorageRef(key, view)


@dataclass
class _StorageRef:
    key: str
    view: Any = None  # (view_key, offset, size) in pre-1.0 files


def _load_legacy_storage(data: bytes) -> torch.Tensor:
    """The storage inside `torch.storage._load_from_bytes(data)`, as a 1-D tensor."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError("storage bytes expected")
    stream = io.BytesIO(data)
    if _RestrictedUnpickler(stream).load() != LEGACY_MAGIC:
        raise pickle.UnpicklingError("storage bytes are not a torch.save stream")
    if _RestrictedUnpickler(stream).load() != LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("unsupported torch.save protocol in storage bytes")
    sys_info = _RestrictedUnpickler(stream).load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("big-endian tensor data is not supported")
    unpickler = _LegacyStorageUnpickler(stream)
    ref = unpickler.load()
    keys = _RestrictedUnpickler(stream).load()
    if not isinstance(ref, _StorageRef) or not isinstance(keys, list):
        raise pickle.UnpicklingError("storage bytes hold no storage")
    tensors = {}
    for key in keys:
        if str(key) not in unpickler.storages:
            raise pickle.UnpicklingError("storage bytes list an unknown storage")
        dtype, numel = unpickler.storages[str(key)]
        header = stream.read(8)
        if len(header) != 8:
            raise pickle.UnpicklingError("storage bytes are truncated")
        (count,) = struct.unpack("<q", header)
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if count != numel or count * itemsize > len(data):
            raise pickle.UnpicklingError("storage size does not match its data")
        raw = stream.read(count * itemsize)
        if len(raw) != count * itemsize:
            raise pickle.UnpicklingError("storage bytes are truncated")
        tensors[str(key)] = (
            torch.frombuffer(bytearray(raw), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        )
    if ref.key not in tensors:
        raise pickle.UnpicklingError("storage data missing")
    storage = tensors[ref.key]
    if ref.view is not None:
        _, offset, size = ref.view
        storage = storage[int(offset) : int(offset) + int(size)]
    return storage


_ALLOWED[("torch.storage", "_load_from_bytes")] = _load_legacy_storage


def _describe_non_pickle(head: bytes) -> str | None:
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04"):
        return "it is a zip archive (a torch.save checkpoint?), not a network pickle"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image, not a network pickle"
    if head.startswith(b"\xff\xd8\xff"):
        return "it is a JPEG image, not a network pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "it looks like a .safetensors file, not a pickle"
    return None


def read_network_pickle_from(file: BinaryIO, name: str) -> dict:
    """Read an official network pickle from a binary file object; `name` is used in error messages."""
    head = file.read(16)
    problem = _describe_non_pickle(head)
    if problem:
        raise StyleGANError(f"{name}: {problem}")
    file.seek(0)
    try:
        obj = _RestrictedUnpickler(file).load()
    except ForbiddenGlobal as error:
        raise StyleGANError(
            f"refusing to load {name}: it names the global {error}, which is not allowed in a network pickle "
            "(nothing from the file was run)"
        ) from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, struct.error, IndexError,
            AttributeError, KeyError, RuntimeError, MemoryError, OverflowError) as error:  # fmt: skip
        detail = str(error) or type(error).__name__
        raise StyleGANError(
            f"{name}: not a readable network pickle (truncated or corrupt: {detail})"
        ) from None
    if isinstance(obj, PersistentObject):
        return {"G": obj}
    if not isinstance(obj, dict):
        raise StyleGANError(f"{name}: the pickle holds a {type(obj).__name__}, not a network snapshot dict")
    return obj


def read_network_pickle(path: str | Path) -> dict:
    """Read an official network pickle file into records; raises StyleGANError naming the file on any problem."""
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
