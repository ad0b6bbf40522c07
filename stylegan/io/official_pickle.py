"""A restricted reader for official StyleGAN network pickles that runs no code from the file.

The official training code pickles each network as a call of
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` holds the Python source of the
network's module (which the official loader executes) and the object's `__dict__`. This reader resolves
only an allow-list of globals:

- functions that rebuild tensors, numpy arrays and dicts, reimplemented here (see `torch_storage`) or harmless;
- the persistence hook, which becomes a `PersistentObject` record; the embedded source is dropped unread;
- classes from the namespaces that occur in GAN snapshots (torch.nn modules, timm, the official packages,
  dill's helpers for the hook closures of StyleGAN-XL discriminators), which become `InertClass` records
  whose calls make `InertObject` records that remember their arguments and state and run nothing.

Any other global (os.system, builtins.eval, subprocess, ...) stops the reading with a StyleGANError.

The state step of unpickling (BUILD) is restricted too: plain pickle hands it to the target's
`__setstate__`, and numpy's dtype `__setstate__` accepts field offsets outside the item, so a crafted file
could make arrays that read and write memory out of bounds. Here only records, dicts and checked numpy
states receive one.

Everything the file makes the reader build is bounded by the file (see `GuardedUnpickler` and `ByteBudget`),
and nothing from one file outlives its reading: no cache in this module holds names or records.
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
    MAX_GLOBAL_NAME,
    ForbiddenGlobal,
    GuardedUnpickler,
    RefusedContent,
    TensorRebuilder,
    UnsupportedContent,
    python3_name,
)
from stylegan.io.untrusted import (
    MAX_NDIM,
    ByteBudget,
    ContentError,
    describe,
    escape,
    excerpt,
)

PERSISTENCE_VERSION = 6  # the only version of torch_utils.persistence in any released StyleGAN code


@dataclass(eq=False, repr=False)
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

    def __repr__(self) -> str:  # the state may be a shared-reference DAG: never show it whole
        return f"<network object {escape(self.class_name, 200)}>"


def _called(qualname: str) -> str:
    return qualname if qualname.endswith("(...)") else f"{qualname}(...)"


class InertObject:
    """Stand-in for an instance of a class that is never imported: it records what the pickle gives it.

    `qualname`: the pickled class; `args` / `kwargs`: constructor arguments; `state`: what the pickle set as the
    object's state (for a torch module its `__dict__`); `items` / `list_items`: entries added as to a dict / a
    list.
    """

    def __init__(self, qualname: str, args: tuple = (), kwargs: dict | None = None):
        self.qualname = qualname
        self.args, self.kwargs = args, kwargs or {}
        self.state = None
        self.items: dict = {}
        self.list_items: list = []

    def __call__(self, *args, **kwargs) -> InertObject:
        """dill rebuilds closures by calling what it rebuilt before; answer with another record."""
        return InertObject(_called(self.qualname), args, kwargs)

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.list_items.append(value)

    def extend(self, values):
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<inert {escape(self.qualname, 200)}>"


class InertClass:
    """What an allowed but never imported global resolves to: its name. Calling it makes an `InertObject`.

    A plain object rather than a class made per name, so that nothing about a file stays in the process
    once its records are gone (a file naming 200,000 globals used to leave 677 MB of classes behind).
    """

    def __init__(self, qualname: str):
        self.qualname = qualname

    def __call__(self, *args, **kwargs) -> InertObject:
        return InertObject(self.qualname, args, kwargs)

    def __repr__(self) -> str:
        return f"<inert class {escape(self.qualname, 200)}>"


@describe.register
def _(value: PersistentObject, limit: int = 80) -> str:
    return f"<network object {escape(value.class_name, 60)}>"


@describe.register
def _(value: InertObject, limit: int = 80) -> str:
    return f"<{escape(value.qualname, 60)} record>"


@describe.register
def _(value: InertClass, limit: int = 80) -> str:
    return f"<the global {escape(value.qualname, 60)}>"


def _persistent_object(meta: Any) -> PersistentObject:
    if type(meta) is not dict or meta.get("type") != "class":
        raise pickle.UnpicklingError("malformed persistent object")
    version = meta.get("version")
    if type(version) is not int or version != PERSISTENCE_VERSION:
        raise UnsupportedContent(
            f"torch_utils.persistence version {excerpt(version)} (only version {PERSISTENCE_VERSION} is known)"
        )
    class_name, state, source = meta.get("class_name"), meta.get("state"), meta.get("module_src")
    if not (type(class_name) is str and type(state) is dict and type(source) is str):
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
        raise UnsupportedContent(f"numpy data of dtype {describe(dtype)}")
    if dtype.byteorder == ">":
        raise UnsupportedContent("big-endian numpy data")
    return dtype


def _numpy_dtype(descr: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """numpy.dtype(descr, align, copy) for simple dtypes. The result may be numpy's shared instance, which is
    safe because the state step only checks dtypes and never calls their `__setstate__`."""
    if type(descr) is not str or len(descr) > 16:
        raise pickle.UnpicklingError("malformed numpy dtype")
    return _checked_dtype(np.dtype(descr))


def _check_dtype_state(dtype: np.dtype, state: Any) -> None:
    """The pickled state of a simple dtype repeats what its descriptor said; anything more is refused."""
    if type(state) is not tuple or len(state) not in (8, 9):
        raise pickle.UnpicklingError("malformed numpy dtype state")
    endian, subarray, names, fields, elsize = state[1:6]
    if subarray is not None or names is not None or fields is not None:
        raise UnsupportedContent("structured numpy dtypes")
    if endian == ">":
        raise UnsupportedContent("big-endian numpy data")
    if endian not in ("<", "|", "=") or type(elsize) is not int or elsize not in (-1, dtype.itemsize):
        raise pickle.UnpicklingError("numpy dtype state does not match its descriptor")


class _NdarrayMarker:
    """What numpy.ndarray resolves to: accepted by the reconstruct function, but not a class one can call."""


_NDARRAY = _NdarrayMarker()


def _numpy_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """numpy's array reconstruction: an empty array whose shape, dtype and data come with the state step."""
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return np.empty(0, dtype=np.uint8)


# the allow-list ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModuleName:
    """What dill's _import_module gives back here: only a name. Nothing is imported; `_dill_get_attr` looks
    attributes up through the same table as any other global."""

    name: str


def _dill_import_module(name: Any, safe: Any = False) -> _ModuleName:
    if type(name) is not str or len(name) > MAX_GLOBAL_NAME:
        raise pickle.UnpicklingError("malformed dill module reference")
    return _ModuleName(name)


def _empty_bytes() -> bytes:
    """How pickle protocols 0-2 spell b''; bytes(n) would allocate n bytes, so no argument is accepted."""
    return b""


_STATIC_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "dict"): dict,
    ("builtins", "object"): object,
    ("builtins", "bytes"): _empty_bytes,
    # dnnlib's attribute-style dict: its attributes are its items, so a plain dict holds all of it.
    ("dnnlib", "EasyDict"): dict,
    ("dnnlib.util", "EasyDict"): dict,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _numpy_dtype,
    ("dill._dill", "_import_module"): _dill_import_module,
}
for _package in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spell its internals differently
    for _module in ("multiarray", "_multiarray_umath"):  # dill names the module a function lives in
        _STATIC_ALLOWED[(f"{_package}.{_module}", "_reconstruct")] = _numpy_reconstruct

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
_CONTAINER_CLASSES = (dict, collections.OrderedDict, set, frozenset, torch.Size)
_SEQUENCES = (list, tuple, dict, collections.OrderedDict, set, frozenset)


class _NetworkUnpickler(GuardedUnpickler):
    """The reader of one network pickle: the allow-list, bound to this file's byte budget."""

    record_types = (InertObject, InertClass, PersistentObject)
    key_types = (InertObject, InertClass, _ModuleName)

    def __init__(self, file: BinaryIO, budget: ByteBudget, size: int | None = None):
        super().__init__(file, budget, size)
        tensors = TensorRebuilder(budget)
        self.allowed = {
            **_STATIC_ALLOWED,
            **tensors.globals,
            ("_codecs", "encode"): self._latin1_bytes,
            ("copyreg", "_reconstructor"): self._reconstructor,
            ("dill._dill", "_create_array"): self._dill_array,
            ("dill._dill", "_get_attr"): self._dill_get_attr,
        }
        for package in ("numpy.core", "numpy._core"):
            for module in ("multiarray", "_multiarray_umath"):
                self.allowed[(f"{package}.{module}", "scalar")] = self._numpy_scalar
            self.allowed[(f"{package}.numeric", "_frombuffer")] = self._numpy_frombuffer
        # What `call` may call directly: the functions above, which check their own arguments.
        self._functions = {
            id(value): value
            for value in self.allowed.values()
            if callable(value) and not isinstance(value, type)
        }
        self._fresh_arrays: dict[
            int, np.ndarray
        ] = {}  # made by numpy's reconstruct, still waiting for their state

    def find_class(self, module: str, name: str) -> Any:
        return self._resolve(module, name)

    def _resolve(self, module: str, name: str) -> Any:
        if len(module) > MAX_GLOBAL_NAME or len(name) > MAX_GLOBAL_NAME:
            raise RefusedContent(f"it names a global of {len(module) + len(name):,} characters")
        module, name = python3_name(module, name)
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        if (module, name) in _INERT_NAMES or any(
            module == package or module.startswith(package + ".") for package in _INERT_PACKAGES
        ):
            return InertClass(f"{module}.{name}")
        raise ForbiddenGlobal(module, name)

    # calls ------------------------------------------------------------------------------------------------

    def call(self, func: Any, args: tuple) -> Any:
        if isinstance(func, (InertClass, InertObject)):
            self.count(len(args))
            return func(*args)
        if self._functions.get(id(func)) is func:
            result = func(*args)
            if func is _numpy_reconstruct:
                self._fresh_arrays[id(result)] = result
            return result
        if any(func is cls for cls in _CONTAINER_CLASSES):
            return self._container(func, args)
        if func is object:
            if args:
                raise pickle.UnpicklingError("object() takes no arguments")
            return object()
        if func is torch.device:
            if not (1 <= len(args) <= 2 and type(args[0]) is str and len(args[0]) <= 32):
                raise pickle.UnpicklingError("malformed torch.device")
            if len(args) == 2 and (type(args[1]) is not int or not 0 <= args[1] < 1024):
                raise pickle.UnpicklingError("malformed torch.device")
            return torch.device(*args)
        raise pickle.UnpicklingError(f"it calls {describe(func)}, which is not callable")

    def new_object(self, cls: Any, args: tuple, kwargs: dict) -> Any:
        if isinstance(cls, (InertClass, InertObject)):
            self.count(len(args) + len(kwargs))
            return cls(*args, **kwargs)
        if kwargs:
            raise pickle.UnpicklingError(f"keyword arguments for {describe(cls)}")
        if any(cls is kind for kind in (dict, collections.OrderedDict, set, object)) and not args:
            return cls()
        if cls is frozenset or cls is torch.Size:
            return self._container(cls, args)
        raise pickle.UnpicklingError(f"it creates an object of {describe(cls)}, which is not allowed")

    def _container(self, cls: type, args: tuple) -> Any:
        """dict(x), OrderedDict(x), set(x), frozenset(x), torch.Size(x) of an existing container x: each
        entry is charged and each key checked, since memo references let a file copy one big list many times."""
        if len(args) > 1 or (args and type(args[0]) not in _SEQUENCES):
            raise pickle.UnpicklingError(f"{cls.__name__}() of {describe(args[0]) if args else 'nothing'}")
        source = args[0] if args else ()
        self.count(len(source))
        if cls is set or cls is frozenset:
            self.check_keys(source)
        elif cls is torch.Size:
            if len(source) > MAX_NDIM or not all(type(n) is int and 0 <= n < 2**62 for n in source):
                raise pickle.UnpicklingError("malformed torch.Size")
        elif type(source) in (list, tuple):
            if not all(type(pair) in (list, tuple) and len(pair) == 2 for pair in source):
                raise pickle.UnpicklingError(f"{cls.__name__}() of something other than pairs")
            self.check_keys(pair[0] for pair in source)
        elif type(source) in (set, frozenset):
            raise pickle.UnpicklingError(f"{cls.__name__}() of a set")
        return cls(source)

    def _reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        """copyreg._reconstructor (object creation with protocols 0 and 1) for dicts and inert records only."""
        if cls is dict and base is dict:
            return self._container(dict, () if state is None else (state,))
        if isinstance(cls, InertClass):
            return cls() if state is None else cls(state)
        raise pickle.UnpicklingError("object reconstruction of a class that is not inert")

    def _dill_get_attr(self, owner: Any, name: Any) -> Any:
        """dill pickles some functions (numpy's scalar, in StyleGAN-XL snapshots) as getattr(module, name).

        A module attribute resolves like a global: allowed ones are real, the rest stay inert records (as do
        attributes of records), so nothing is looked up in a real module.
        """
        if isinstance(owner, _ModuleName) and type(name) is str:
            try:
                return self._resolve(owner.name, name)
            except ForbiddenGlobal:
                pass
        return InertObject("dill._dill._get_attr", (owner, name))

    # state ------------------------------------------------------------------------------------------------

    def apply_state(self, target: Any, state: Any) -> None:
        """The state step, for the few kinds of objects that legitimately receive one."""
        if isinstance(target, InertObject):
            target.state = state
        elif type(target) is dict and type(state) in (dict, collections.OrderedDict):
            self.count(len(state))
            target.update(state)  # an EasyDict's attributes
        elif isinstance(target, np.ndarray) and self._fresh_arrays.pop(id(target), None) is target:
            self._set_array_state(target, state)
        elif isinstance(target, np.dtype):
            _check_dtype_state(target, state)
        elif not (type(state) is dict and not state):  # an empty state sets nothing
            super().apply_state(target, state)

    def add_to_record(self, target: Any, items: list, how: str) -> None:
        if not isinstance(target, InertObject) or how == "add":
            super().add_to_record(target, items, how)
        elif how == "append":
            target.extend(items)
        else:
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]

    # numpy and bytes, charged to the budget ---------------------------------------------------------------

    def _shape(self, shape: Any, dtype: np.dtype) -> tuple[int, ...]:
        if (
            type(shape) is not tuple
            or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise pickle.UnpicklingError("malformed numpy shape")
        claimed = dtype.itemsize
        for n in shape:
            claimed *= max(n, 1)
            if claimed > self.budget.limit:
                raise ContentError(
                    f"a numpy array of shape {excerpt(list(shape))} is larger than the whole file"
                )
        return shape

    def _nbytes(self, shape: tuple[int, ...], dtype: np.dtype) -> int:
        count = 1
        for n in shape:
            count *= n
        return count * dtype.itemsize

    def _set_array_state(self, array: np.ndarray, state: Any) -> None:
        if type(state) is not tuple or len(state) != 5:
            raise pickle.UnpicklingError("malformed numpy array state")
        _, shape, dtype, fortran_order, data = state
        dtype = _checked_dtype(dtype)
        shape = self._shape(shape, dtype)
        if type(fortran_order) is not bool:
            raise pickle.UnpicklingError("malformed numpy array state")
        nbytes = self._nbytes(shape, dtype)
        if type(data) not in (bytes, bytearray) or len(data) != nbytes:
            raise pickle.UnpicklingError("numpy array data does not match its shape")
        self.budget.charge_once(data, "a numpy array")
        array.__setstate__((1, shape, dtype, fortran_order, bytes(data)))

    def _numpy_scalar(self, dtype: Any, data: Any = None) -> np.generic:
        dtype = _checked_dtype(dtype)
        if type(data) not in (bytes, bytearray) or len(data) != dtype.itemsize:
            raise pickle.UnpicklingError("malformed numpy scalar")
        self.budget.charge(dtype.itemsize, "a numpy scalar")
        return np.frombuffer(bytes(data), dtype=dtype)[0]

    def _numpy_frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        """How numpy pickles contiguous arrays with protocol 5."""
        dtype = _checked_dtype(dtype)
        shape = self._shape(shape, dtype)
        if type(order) is not str or order not in ("C", "F") or type(buffer) not in (bytes, bytearray):
            raise pickle.UnpicklingError("malformed numpy array")
        if len(buffer) != self._nbytes(shape, dtype):
            raise pickle.UnpicklingError("numpy array data does not match its shape")
        self.budget.charge_once(buffer, "a numpy array")
        return np.frombuffer(bytearray(buffer), dtype=dtype).reshape(shape, order=order)

    def _dill_array(self, reconstruct: Any, args: Any, state: Any, npdict: Any = None) -> np.ndarray:
        """How dill pickles numpy arrays: numpy's reconstruction call and the array state in one call."""
        if reconstruct is not _numpy_reconstruct or type(args) is not tuple or npdict:
            raise pickle.UnpicklingError("unsupported dill array")
        array = _numpy_reconstruct(*args)
        self._set_array_state(array, state)
        return array

    def _latin1_bytes(self, text: Any, encoding: Any = "latin1") -> bytes:
        """How pickle protocols 0-2 spell a bytes object."""
        if type(text) is not str or encoding not in ("latin1", "latin-1"):
            raise pickle.UnpicklingError("only latin-1 encoded bytes are allowed")
        data = text.encode("latin1")
        self.budget.charge(len(data), "a bytes object", prepaid=data)
        return data


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
        except (
            zipfile.BadZipFile,
            OSError,
            ValueError,
            EOFError,
            struct.error,
            NotImplementedError,
            OverflowError,
        ):
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


def _detail(error: BaseException) -> str:
    """What went wrong, for a message: bounded and escaped. A KeyError's text would be the key from the file."""
    if isinstance(error, KeyError):
        return "an entry is missing"
    return escape(str(error) or type(error).__name__, 200)


def _unpickle(file: BinaryIO, name: str, head: bytes, size: int) -> tuple[Any, str | None]:
    """The pickled object, or a message. Errors are turned into messages here, inside the frame that holds the
    reader, so that an exception a caller keeps does not keep the half-built records alive."""
    try:
        return _NetworkUnpickler(file, ByteBudget.for_file(size), size).load(), None
    except (RefusedContent, ContentError) as error:
        return None, f"refusing to load {name}: {error} (nothing from the file was run)"
    except UnsupportedContent as error:
        return None, f"{name}: unsupported network pickle: it contains {error}"
    except _CORRUPT as error:
        if not head.startswith(b"\x80"):
            return None, f"{name}: not a network pickle ({_detail(error)})"
        return (
            None,
            f"{name}: the network pickle is truncated or corrupt ({_detail(error)}); try downloading it again",
        )


def read_network_pickle_from(file: BinaryIO, name: str) -> dict:
    """Read an official network pickle from a binary file object; `name` identifies it in error messages.

    Returns the pickled snapshot dict (typically G, D, G_ema, augment_pipe, training_set_kwargs, progress)
    with networks as `PersistentObject` records, other modules as `InertObject` records, tensors as CPU
    tensors and numpy values as numpy values. A file holding a single network object is returned as {"G": it}.
    """
    name = escape(name, 300)
    if not file.seekable():
        file = io.BytesIO(file.read())
    start = file.tell()
    size = file.seek(0, io.SEEK_END) - start
    file.seek(start)
    head = file.read(16)
    problem = _describe_non_pickle(head, file)
    if problem:
        raise StyleGANError(f"{name}: {problem}")
    file.seek(start)
    obj, problem = _unpickle(file, name, head, size)
    if problem:
        raise StyleGANError(problem)
    if isinstance(obj, PersistentObject):
        return {"G": obj}
    if type(obj) is int and obj == LEGACY_MAGIC:
        raise StyleGANError(f"{name}: it is a torch.save file (legacy format), not a network pickle")
    if type(obj) is not dict:
        kind = type(obj).__name__ if type(obj) in (list, tuple, str, int, float, set) else describe(obj)
        raise StyleGANError(f"{name}: the pickle holds a {kind}, not a network snapshot (a dict of networks)")
    return obj


def read_network_pickle(path: str | Path) -> dict:
    """Read an official network pickle file; see `read_network_pickle_from`. Problems raise StyleGANError."""
    path = Path(path)
    shown = escape(str(path), 300)
    if not path.exists():
        raise StyleGANError(f"{shown}: no such file")
    if path.is_dir():
        raise StyleGANError(f"{shown}: is a directory, not a network pickle")
    try:
        with path.open("rb") as f:
            return read_network_pickle_from(f, str(path))
    except OSError as error:
        raise StyleGANError(f"{shown}: cannot be read ({escape(error.strerror or str(error))})") from None
