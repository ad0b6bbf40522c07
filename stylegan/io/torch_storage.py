"""The guarded unpickler that every pickle in a model file goes through, and tensors rebuilt without torch.load.

`GuardedUnpickler` runs nothing from the file (it resolves no global and calls nothing unless a subclass opens
that) and bounds what the file can make it build: nesting depth, the number of objects, the size of dict keys,
and the bytes every length field may ask for (see its docstring).

Pickling a tensor writes a call of a torch rebuild function whose first argument is the tensor's storage, and
the storage pickles as `torch.storage._load_from_bytes(b)`, where `b` is a complete legacy (non-zip)
`torch.save` stream of that one storage. torch turns those bytes back with `torch.load(weights_only=False)`,
which runs whatever the bytes name. `TensorRebuilder` parses the stream by hand: its pickled records may name
nothing but storage types, the raw data is bounded by the bytes actually present, and every byte it copies is
charged to the file's `ByteBudget`. Tensors always come back on the CPU, whatever device they were saved from.

The errors defined here are shared with the network-pickle reader, which turns them into messages.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

from stylegan.io.untrusted import (
    MAX_DEPTH,
    MAX_KEY_NODES,
    MAX_NDIM,
    MAX_OBJECTS,
    ByteBudget,
    LimitError,
    describe,
    escape,
    excerpt,
)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # first record of a legacy torch.save stream
LEGACY_PROTOCOL = 1001  # second record; the only version torch ever wrote
MAX_GLOBAL_NAME = 512  # characters of a pickled global's module or name (official ones: under 60)


def python3_name(module: str, name: str) -> tuple[str, str]:
    """The Python 3 name of a pickled global: protocols below 3 write Python 2 names (__builtin__, copy_reg)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RefusedContent(pickle.UnpicklingError):
    """The file asks for something a network pickle must never contain; the message says what."""


class ForbiddenGlobal(RefusedContent):
    def __init__(self, module: str, name: str):
        super().__init__(
            f"it names the global {escape(module, 100)}.{escape(name, 100)}, which is not allowed in a network pickle"
        )


class UnsupportedContent(pickle.UnpicklingError):
    """Well-formed, but a variant of the format this reader does not handle."""


class BoundedFile:
    """The next `size` bytes of `file`, read so that no length field can make a read ask for more than is left.

    The unpickler reads a length and then that many bytes (and allocates them first); a 9-byte record claiming
    2**40 bytes would otherwise allocate before anyone noticed the file is shorter."""

    def __init__(self, file: BinaryIO, size: int):
        self._file = file
        self.remaining = size

    def read(self, count: int = -1) -> bytes:
        if count is None or count < 0:
            count = self.remaining
        if count > self.remaining:
            raise pickle.UnpicklingError(f"a length of {count:,} bytes reaches past the end of the data")
        data = self._file.read(count)
        self.remaining -= len(data)
        return data

    def readline(self) -> bytes:
        line = self._file.readline(self.remaining)
        self.remaining -= len(line)
        return line


_CONTAINERS = (tuple, list, dict, set, frozenset)
_KEY_ATOMS = (str, bytes, float, bool, type(None), torch.dtype, torch.device)
P = pickle


class _Dispatch(dict):
    def __missing__(self, code: int):
        raise pickle.UnpicklingError(f"unknown opcode {code:#04x}")


class GuardedUnpickler(pickle._Unpickler):
    """An unpickler that resolves no global, takes no persistent id, calls nothing and refuses every state step,
    and that bounds what a file can build, whatever its opcodes:

    - depth: every tuple, container and record gets a depth one above its deepest part (tracked per object as
      it is built and filled), and nothing deeper than MAX_DEPTH is built. CPython hashes nested tuples by plain
      recursion, so without this a 400 KB file of nested tuples used as a dict key crashes the interpreter.
    - count: objects created plus entries added to containers stay under MAX_OBJECTS.
    - keys: dict keys and set members must be plain values (strings, numbers, small tuples of them), so no
      shared-reference DAG of 2**40 leaves is ever hashed.
    - lengths: the file is read through `BoundedFile`.

    It is the pure-Python unpickler, because that one lets single opcodes be replaced; every opcode that builds
    or fills an object is replaced here. Calls (REDUCE, NEWOBJ, OBJ, INST) go to `call` / `new_object`, the
    state step (BUILD) to `apply_state`, items added to anything but a list, dict or set to `add_to_record`:
    subclasses open them for the objects they expect. copyreg extension codes (looked up in a process-wide
    cache that find_class never sees) and out-of-band buffers, which no network pickle uses, are refused.
    """

    dispatch = _Dispatch()
    record_types: tuple[type, ...] = ()  # the subclass's record classes: tracked like containers
    key_types: tuple[type, ...] = ()  # objects hashed by identity that may be dict keys (cheap to hash)

    def __init__(self, file: BinaryIO, budget: ByteBudget, size: int | None = None):
        if size is None:
            start = file.tell()
            size = file.seek(0, io.SEEK_END) - start
            file.seek(start)
        super().__init__(BoundedFile(file, size))
        self.budget = budget
        self._depths: dict[int, int] = {}  # id -> depth of every tracked object
        self._held: list[Any] = []  # keeps each tracked object alive, so that its id stays its own
        self._created = 0
        self._tracked_types = _CONTAINERS + self.record_types

    # what subclasses open ---------------------------------------------------------------------------------

    def find_class(self, module: str, name: str) -> Any:
        raise ForbiddenGlobal(*python3_name(module, name))

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("unexpected persistent id")

    def call(self, func: Any, args: tuple) -> Any:
        raise pickle.UnpicklingError(f"it calls {describe(func)}, which is not callable here")

    def new_object(self, cls: Any, args: tuple, kwargs: dict) -> Any:
        raise pickle.UnpicklingError(f"it creates an object of {describe(cls)}, which is not allowed here")

    def apply_state(self, target: Any, state: Any) -> None:
        raise pickle.UnpicklingError(f"unexpected state for a {type(target).__name__}")

    def add_to_record(self, target: Any, items: list, how: str) -> None:
        raise pickle.UnpicklingError(f"it adds items to {describe(target)}")

    # limits ------------------------------------------------------------------------------------------------

    def count(self, objects: int) -> None:
        """Charge `objects` new objects or container entries to the file."""
        self._created += objects
        if self._created > MAX_OBJECTS:
            raise LimitError(f"it builds more than {MAX_OBJECTS:,} objects")

    def depth_of(self, value: Any) -> int:
        return self._depths.get(id(value), 0)

    def _admit(self, parts: Any) -> int:
        """The depth of an object made of `parts`, checked (and charged) before the object exists."""
        depths = self._depths
        deepest = 0
        for part in parts:
            depth = depths.get(id(part), 0)
            if depth > deepest:
                deepest = depth
        if deepest >= MAX_DEPTH:
            raise LimitError(f"it nests objects more than {MAX_DEPTH} levels deep")
        self.count(1 + len(parts))
        return deepest + 1

    def _track(self, value: Any, depth: int) -> None:
        if not isinstance(value, self._tracked_types):
            return
        key = id(value)
        known = self._depths.get(key)
        if known is None:
            self._held.append(value)
            self._depths[key] = depth
        elif depth > known:
            self._depths[key] = depth

    def _push(self, value: Any, depth: int) -> None:
        self.append(value)
        self._track(value, depth)

    def check_keys(self, values: Any) -> None:
        """Dict keys and set members must be cheap to hash and compare: no hash runs over a deep or huge key."""
        for value in values:
            room = [MAX_KEY_NODES]
            if not self._is_key(value, room):
                raise UnsupportedContent(
                    f"a dict key or set member that is not a plain value: {excerpt(value)}"
                )

    def _is_key(self, value: Any, room: list[int]) -> bool:
        kind = type(value)
        if kind is int:
            return value.bit_length() <= 128
        if kind in _KEY_ATOMS or isinstance(value, self.key_types):
            return True
        if kind is tuple or kind is frozenset:
            room[0] -= len(value)
            return room[0] >= 0 and all(self._is_key(item, room) for item in value)
        return False

    # opcodes -----------------------------------------------------------------------------------------------

    def _load_empty(self, kind: type) -> None:
        self.count(1)
        self.append(kind())  # untracked until it is filled: an empty container counts as depth 0, not 1

    def _load_tuple(self) -> None:
        items = self.pop_mark()
        self._push(tuple(items), self._admit(items))

    def _load_top_tuple(self, length: int) -> None:
        if len(self.stack) < length:
            raise pickle.UnpicklingError("stack underflow")
        items = self.stack[-length:]
        depth = self._admit(items)
        del self.stack[-length:]
        self._push(tuple(items), depth)

    def _load_list(self) -> None:
        items = self.pop_mark()
        self._push(items, self._admit(items))

    def _load_dict(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise pickle.UnpicklingError("odd number of items for DICT")
        depth = self._admit(items)
        self.check_keys(items[0::2])
        self._push({items[i]: items[i + 1] for i in range(0, len(items), 2)}, depth)

    def _load_frozenset(self) -> None:
        items = self.pop_mark()
        depth = self._admit(items)
        self.check_keys(items)
        self._push(frozenset(items), depth)

    def _fill(self, target: Any, items: list, how: str) -> None:
        """APPEND(S), SETITEM(S), ADDITEMS: the target gets deeper by what it takes in."""
        depth = self._admit(items)
        kind = type(target)
        if how == "setitem":
            if len(items) % 2:
                raise pickle.UnpicklingError("odd number of items for SETITEMS")
            self.check_keys(items[0::2])
            if kind is dict or kind is OrderedDict:
                for i in range(0, len(items), 2):
                    target[items[i]] = items[i + 1]
            else:
                self.add_to_record(target, items, how)
        elif how == "add":
            self.check_keys(items)
            if kind is set:
                target.update(items)
            else:
                self.add_to_record(target, items, how)
        elif kind is list:
            target.extend(items)
        else:
            self.add_to_record(target, items, how)
        self._track(target, depth)

    def _load_append(self) -> None:
        value = self.stack.pop()
        self._fill(self.stack[-1], [value], "append")

    def _load_appends(self) -> None:
        items = self.pop_mark()
        self._fill(self.stack[-1], items, "append")

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._fill(self.stack[-1], [key, value], "setitem")

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        self._fill(self.stack[-1], items, "setitem")

    def _load_additems(self) -> None:
        items = self.pop_mark()
        self._fill(self.stack[-1], items, "add")

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        depth = self._admit((state,))
        self.apply_state(target, state)
        self._track(target, depth)

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            raise pickle.UnpicklingError("the arguments of a call must be a tuple")
        depth = self._admit((func, args))
        self.stack.pop()
        self._push(self.call(func, args), depth)

    def _load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if type(args) is not tuple:
            raise pickle.UnpicklingError("the arguments of NEWOBJ must be a tuple")
        self._push(self.new_object(cls, args, {}), self._admit((cls, args)))

    def _load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if type(args) is not tuple or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
            raise pickle.UnpicklingError("malformed arguments of NEWOBJ_EX")
        self._push(self.new_object(cls, args, kwargs), self._admit((cls, args, kwargs)))

    def _load_obj(self) -> None:
        items = self.pop_mark()
        if not items:
            raise pickle.UnpicklingError("OBJ without a class")
        depth = self._admit(items)
        self._push(self.call(items[0], tuple(items[1:])), depth)

    def _load_inst(self) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        cls = self.find_class(module, name)
        items = self.pop_mark()
        depth = self._admit(items)
        self._push(self.call(cls, tuple(items)), depth)

    def _load_bytearray8(self) -> None:
        (length,) = struct.unpack("<Q", self.read(8))
        self.count(1)
        self.append(bytearray(self.read(length)))

    def _load_mark(self) -> None:
        self.count(1)  # a new list on the mark stack
        pickle._Unpickler.load_mark(self)

    def _refuse_extension(self) -> None:
        raise pickle.UnpicklingError("copyreg extension codes are not allowed")

    def _refuse_buffer(self) -> None:
        raise pickle.UnpicklingError("out-of-band buffers are not allowed")


def _counted(handler):
    def load(self: GuardedUnpickler) -> None:
        self.count(1)
        handler(self)

    return load


def _build_dispatch() -> None:
    """Every opcode the guarded unpickler knows, classified; any other (a newer protocol's) stays unknown and is
    refused by `_Dispatch`."""
    table = GuardedUnpickler.dispatch
    base = pickle._Unpickler.dispatch
    neutral = {P.POP, P.DUP, P.POP_MARK, P.GET, P.BINGET, P.LONG_BINGET, P.PROTO, P.FRAME, P.STOP}
    counted = {P.PUT, P.BINPUT, P.LONG_BINPUT, P.MEMOIZE, P.GLOBAL, P.STACK_GLOBAL, P.PERSID, P.BINPERSID}
    atoms = {
        P.INT, P.BININT, P.BININT1, P.BININT2, P.LONG, P.LONG1, P.LONG4, P.STRING, P.BINSTRING,
        P.SHORT_BINSTRING, P.BINBYTES, P.SHORT_BINBYTES, P.BINBYTES8, P.UNICODE, P.SHORT_BINUNICODE,
        P.BINUNICODE, P.BINUNICODE8, P.FLOAT, P.BINFLOAT, P.NONE, P.NEWTRUE, P.NEWFALSE, P.EMPTY_TUPLE,
    }  # fmt: skip
    replaced = {
        P.EMPTY_LIST: lambda self: self._load_empty(list),
        P.EMPTY_DICT: lambda self: self._load_empty(dict),
        P.EMPTY_SET: lambda self: self._load_empty(set),
        P.TUPLE: GuardedUnpickler._load_tuple,
        P.TUPLE1: lambda self: self._load_top_tuple(1),
        P.TUPLE2: lambda self: self._load_top_tuple(2),
        P.TUPLE3: lambda self: self._load_top_tuple(3),
        P.LIST: GuardedUnpickler._load_list,
        P.DICT: GuardedUnpickler._load_dict,
        P.FROZENSET: GuardedUnpickler._load_frozenset,
        P.APPEND: GuardedUnpickler._load_append,
        P.APPENDS: GuardedUnpickler._load_appends,
        P.SETITEM: GuardedUnpickler._load_setitem,
        P.SETITEMS: GuardedUnpickler._load_setitems,
        P.ADDITEMS: GuardedUnpickler._load_additems,
        P.BUILD: GuardedUnpickler._load_build,
        P.REDUCE: GuardedUnpickler._load_reduce,
        P.NEWOBJ: GuardedUnpickler._load_newobj,
        P.NEWOBJ_EX: GuardedUnpickler._load_newobj_ex,
        P.OBJ: GuardedUnpickler._load_obj,
        P.INST: GuardedUnpickler._load_inst,
        P.BYTEARRAY8: GuardedUnpickler._load_bytearray8,
        P.MARK: GuardedUnpickler._load_mark,
        P.EXT1: GuardedUnpickler._refuse_extension,
        P.EXT2: GuardedUnpickler._refuse_extension,
        P.EXT4: GuardedUnpickler._refuse_extension,
        P.NEXT_BUFFER: GuardedUnpickler._refuse_buffer,
        P.READONLY_BUFFER: GuardedUnpickler._refuse_buffer,
    }
    for opcode in neutral:
        table[opcode[0]] = base[opcode[0]]
    for opcode in counted | atoms:
        table[opcode[0]] = _counted(base[opcode[0]])
    for opcode, handler in replaced.items():
        table[opcode[0]] = handler


_build_dispatch()


# tensors ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorageType:
    """What a storage class global such as `torch.FloatStorage` resolves to: only its element type."""

    dtype: torch.dtype


_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
# torch >= 1.13 always names the CPU class; older versions wrote torch.cuda.* for storages saved on a GPU.
STORAGE_TYPES: dict[tuple[str, str], StorageType] = {
    (module, name): StorageType(dtype)
    for module in ("torch", "torch.cuda")
    for name, dtype in _STORAGE_DTYPES.items()
}
STORAGE_TYPES[("torch.storage", "UntypedStorage")] = StorageType(torch.uint8)  # the byte storage of torch 2


@dataclass(frozen=True)
class _StorageRef:
    key: str


@dataclass(frozen=True, eq=False)
class LoadedStorage:
    """A storage read from a pickle: a 1-D CPU tensor of its own memory. Only the rebuild functions below accept
    it; the tensors they make are views of it, as torch.load makes them, so a storage shared by many tensors is
    copied (and charged to the budget) once."""

    data: torch.Tensor


class _StorageRecordUnpickler(GuardedUnpickler):
    """The record of the saved storage: a persistent id naming its type, key and element count."""

    def __init__(self, file: io.BytesIO, budget: ByteBudget):
        super().__init__(file, budget)
        self.declared: dict[str, tuple[torch.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_name(module, name)
        if (module, name) in STORAGE_TYPES:
            return STORAGE_TYPES[(module, name)]
        raise ForbiddenGlobal(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError("malformed storage reference in storage bytes")
        storage_type, key, _location, numel = pid[1:5]
        if not (isinstance(storage_type, StorageType) and type(key) is str and len(key) <= 64):
            raise pickle.UnpicklingError("malformed storage reference in storage bytes")
        if type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError("malformed storage size in storage bytes")
        if len(pid) == 6 and pid[5] is not None:
            # Storage views were dropped from torch.save before any StyleGAN release existed.
            raise UnsupportedContent("a storage view from a pre-1.0 torch version")
        if self.declared.setdefault(key, (storage_type.dtype, numel)) != (storage_type.dtype, numel):
            raise pickle.UnpicklingError("one storage declared twice with different types")
        return _StorageRef(key)


class TensorRebuilder:
    """The torch functions a network pickle may call, reimplemented, for one file and its byte budget.

    `globals` maps each pickled name to its bound method here (the same object every time, so that
    `_rebuild_from_type_v2` can recognise the rebuild functions it may call).
    """

    def __init__(self, budget: ByteBudget):
        self.budget = budget
        # Bound methods are made anew at each attribute access; keep one of each, so identity means something.
        tensor, tensor_v3, parameter = self.rebuild_tensor, self.rebuild_tensor_v3, self.rebuild_parameter
        self._tensor_functions = (tensor, tensor_v3, parameter)
        self.globals: dict[tuple[str, str], Any] = {
            ("torch.storage", "_load_from_bytes"): self.load_from_bytes,
            ("torch._utils", "_rebuild_tensor"): tensor,
            ("torch._utils", "_rebuild_tensor_v2"): tensor,
            ("torch._utils", "_rebuild_tensor_v3"): tensor_v3,
            ("torch._utils", "_rebuild_parameter"): parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): parameter,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type,
        }

    def load_from_bytes(self, data: Any) -> LoadedStorage:
        """The storage inside `torch.storage._load_from_bytes(data)`, copied out of the stream.

        The whole stream is charged: memo references could hand the same 4 MB of bytes to this call 4,000
        times, and each call copies (and parses) them once more.
        """
        if type(data) is not bytes:
            raise pickle.UnpicklingError("storage bytes expected")
        self.budget.charge_once(data, "a tensor storage")
        stream = io.BytesIO(data)

        def record(unpickler: type[GuardedUnpickler] = GuardedUnpickler) -> Any:
            return unpickler(stream, self.budget).load()

        if record() != LEGACY_MAGIC:
            raise pickle.UnpicklingError("storage bytes are not a torch.save stream")
        if record() != LEGACY_PROTOCOL:
            raise UnsupportedContent("a torch.save stream version other than 1001 in storage bytes")
        sys_info = record()
        if type(sys_info) is not dict:
            raise pickle.UnpicklingError("storage bytes without system information")
        if sys_info.get("little_endian") is not True:
            raise UnsupportedContent("tensor data saved on a big-endian machine")
        records = _StorageRecordUnpickler(stream, self.budget)
        ref = records.load()
        keys = record()
        if not isinstance(ref, _StorageRef):
            raise pickle.UnpicklingError("storage bytes hold no storage")
        if type(keys) is not list or not all(type(key) is str for key in keys):
            raise pickle.UnpicklingError("storage bytes list other storages than they declare")
        if len(set(keys)) != len(keys) or set(keys) != set(records.declared):
            raise pickle.UnpicklingError("storage bytes list other storages than they declare")

        position = stream.tell()
        storages = {}
        for key in keys:
            dtype, numel = records.declared[key]
            if position + 8 > len(data):
                raise pickle.UnpicklingError("storage bytes are truncated")
            count = int.from_bytes(data[position : position + 8], "little", signed=True)
            position += 8
            if count != numel:
                raise pickle.UnpicklingError("storage size does not match its declaration")
            nbytes = count * dtype.itemsize
            if position + nbytes > len(data):
                raise pickle.UnpicklingError("storage bytes are truncated")
            if key == ref.key:
                storages[key] = _owned_tensor(memoryview(data)[position : position + nbytes], dtype)
            position += nbytes
        return LoadedStorage(storages[ref.key])

    def _layout(self, values: Any, what: str) -> tuple[int, ...]:
        if not isinstance(values, tuple | list | torch.Size) or len(values) > MAX_NDIM:
            raise pickle.UnpicklingError(f"malformed tensor {what}")
        if not all(type(v) is int and 0 <= v < 2**62 for v in values):
            raise pickle.UnpicklingError(f"malformed tensor {what}")
        return tuple(values)

    def _check_claim(self, size: tuple[int, ...], itemsize: int) -> None:
        """Even an empty tensor may not claim more elements than the file could hold: a shape such as
        (0, 10**18) is empty, but anything that reads the other dimension as a size would go wrong."""
        claimed = itemsize
        for n in size:
            claimed *= max(n, 1)
            if claimed > self.budget.limit:
                raise LimitError(f"a tensor of shape {excerpt(list(size))} is larger than the whole file")

    def rebuild_tensor(
        self,
        storage: Any,
        offset: Any,
        size: Any,
        stride: Any,
        requires_grad: Any = False,
        backward_hooks: Any = None,
        metadata: Any = None,
    ) -> torch.Tensor:
        """torch._utils._rebuild_tensor_v2 (and the older _rebuild_tensor): a CPU tensor viewing its storage;
        hooks and requires_grad are ignored."""
        if not isinstance(storage, LoadedStorage):
            raise pickle.UnpicklingError("tensor data without a storage")
        data = storage.data
        size, stride = self._layout(size, "size"), self._layout(stride, "stride")
        if len(size) != len(stride) or type(offset) is not int or not 0 <= offset <= data.numel():
            raise pickle.UnpicklingError("malformed tensor layout")
        numel = 1
        for n in size:
            numel *= n
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if numel and last >= data.numel():
            raise pickle.UnpicklingError("tensor reaches past the end of its storage")
        if numel > data.numel():
            # Only overlapping (expanded) layouts get here; a copy could be far larger than the file.
            raise UnsupportedContent("a tensor with more elements than its storage (an expanded view)")
        if not numel:
            self._check_claim(size, data.element_size())
        return self._apply_metadata(data.as_strided(size, stride, offset), metadata)

    def rebuild_tensor_v3(
        self,
        storage: Any,
        offset: Any,
        size: Any,
        stride: Any,
        requires_grad: Any,
        backward_hooks: Any,
        dtype: Any,
        metadata: Any = None,
    ) -> torch.Tensor:
        """torch._utils._rebuild_tensor_v3: element types without a storage class, saved on a byte storage."""
        if not isinstance(dtype, torch.dtype) or not isinstance(storage, LoadedStorage):
            raise pickle.UnpicklingError("malformed tensor")
        if storage.data.dtype != torch.uint8 or storage.data.numel() % dtype.itemsize:
            raise pickle.UnpicklingError("tensor storage does not fit its element type")
        typed = LoadedStorage(storage.data.view(dtype))  # a view of the same memory: nothing more to charge
        return self.rebuild_tensor(typed, offset, size, stride, metadata=metadata)

    def _apply_metadata(self, tensor: torch.Tensor, metadata: Any) -> torch.Tensor:
        """Lazy negation / conjugation bits saved with the tensor; the stored values are the unflipped ones."""
        if metadata is None or (type(metadata) in (dict, OrderedDict) and not metadata):
            return tensor
        if type(metadata) not in (dict, OrderedDict) or not set(metadata) <= {"neg", "conj"}:
            raise UnsupportedContent(f"tensor metadata {excerpt(metadata)}")
        if not all(type(flag) is bool for flag in metadata.values()):
            raise UnsupportedContent(f"tensor metadata {excerpt(metadata)}")
        for flag in ("neg", "conj"):
            if metadata.get(flag):
                self.budget.charge(tensor.numel() * tensor.element_size(), "a negated or conjugated tensor")
                tensor = -tensor if flag == "neg" else tensor.conj().resolve_conj()
        return tensor

    def rebuild_parameter(
        self, data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None
    ) -> torch.Tensor:
        """torch._utils._rebuild_parameter(_with_state): parameters come back as plain tensors."""
        if not isinstance(data, torch.Tensor):
            raise pickle.UnpicklingError("parameter without tensor data")
        return data

    def rebuild_from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
        """torch._tensor._rebuild_from_type_v2: a tensor with Python attributes; only the tensor is kept."""
        if not any(func is known for known in self._tensor_functions) or type(args) is not tuple:
            raise pickle.UnpicklingError("unsupported tensor reconstruction")
        return func(*args)


def _owned_tensor(data: memoryview, dtype: torch.dtype) -> torch.Tensor:
    """A 1-D tensor with memory of its own holding a copy of `data`."""
    if not data:
        return torch.empty(0, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype)
