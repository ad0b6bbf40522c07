"""The restricted reader of official network pickles: values come back exactly, and nothing in a file runs.

Pickles are written here in the layout of the official training code with stand-ins for its modules
(`torch_utils.persistence`, `dnnlib.util`, `pg_modules`), which exist only while pickling: the reader must
not need, import or run any of them.
"""

import contextlib
import copyreg
import functools
import importlib
import io
import os
import pickle
import re
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch
from official_layout import temporary_modules

from stylegan.errors import StyleGANError
from stylegan.io.official_pickle import (
    InertObject,
    PersistentObject,
    read_network_pickle,
    read_network_pickle_from,
)
from stylegan.io.torch_storage import LEGACY_MAGIC, LEGACY_PROTOCOL

_OFFICIAL_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "pg_modules")


def _module(name: str, *stubs: str, **members) -> types.ModuleType:
    """A stand-in module with the given classes and with functions that fail if anything calls them."""
    module = types.ModuleType(name)
    for stub in stubs:

        def must_not_run(*args, **kwargs):
            raise AssertionError("a stand-in for official code ran")

        members[stub] = must_not_run
    for member_name, member in members.items():
        member.__module__, member.__qualname__ = name, member_name
        setattr(module, member_name, member)
    return module


class _EasyDict(dict):
    """dnnlib.EasyDict as the official code defines it: attributes are items."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


class _FeatureProjector:
    """A plain (non-persistent) class of a Projected-GAN discriminator, pickled the ordinary way."""

    def __init__(self):
        self.pretrained = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.GELU())
        self.proj_type = 2


@contextlib.contextmanager
def official_modules():
    """Register stand-ins for the official modules while pickling, and remove them afterwards."""
    persistence = _module("torch_utils.persistence", "_reconstruct_persistent_obj")
    util = _module("dnnlib.util", EasyDict=_EasyDict)
    projector = _module("pg_modules.projector", F_RandomProj=_FeatureProjector)
    dill = _module(
        "dill._dill",
        "_create_code",
        "_create_function",
        "_import_module",
        "_get_attr",
        "_load_type",
        "_create_array",
    )
    modules = {
        "torch_utils": _module("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": _module("dnnlib"),
        "dnnlib.util": util,
        "pg_modules": _module("pg_modules"),
        "pg_modules.projector": projector,
        "dill": _module("dill"),
        "dill._dill": dill,
    }
    with temporary_modules(modules):
        yield modules


class Persistent:
    """Pickles as the official persistent-class reconstruction call."""

    def __init__(self, class_name: str, state: dict, module_src: str = "", version: int = 6):
        self.meta = dict(
            type="class", version=version, module_src=module_src, class_name=class_name, state=state
        )

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


class _Call:
    """Pickles as a call of `func(*args)`, optionally followed by a state step."""

    def __init__(self, func, *args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)

    def __call__(self, *args):  # pickle only accepts callables as the function of a call
        raise AssertionError("only pickled, never called")


def _module_state(module: torch.nn.Module, children: dict, **attributes) -> dict:
    """An official network's __dict__: torch.nn.Module internals plus the class's own attributes."""
    state = dict(
        training=False,
        _parameters=OrderedDict(module._parameters),
        _buffers=OrderedDict(module._buffers),
        _non_persistent_buffers_set=set(),
        _modules=OrderedDict(children),
        _forward_hooks=OrderedDict(),
        _forward_pre_hooks=OrderedDict(),
    )
    state.update(attributes)
    return state


def _dumps(make, protocol: int = 4) -> bytes:
    """Pickle what `make()` builds while the stand-in modules exist."""
    with official_modules():
        return pickle.dumps(make(), protocol=protocol)


def _read(data: bytes, name: str = "test.pkl") -> dict:
    result = read_network_pickle_from(io.BytesIO(data), name)
    assert not set(_OFFICIAL_MODULES) & set(sys.modules), "the reader imported an official module"
    return result


def _legacy_stream(record, storage_pid=None, keys=(), data=b"") -> bytes:
    """A legacy torch.save stream as `torch.storage._load_from_bytes` expects, around a hand-made record."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return storage_pid if obj is record and storage_pid is not None else None

    stream = io.BytesIO()
    Pickler(stream, protocol=2).dump(record)
    head = pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2)
    head += pickle.dumps({"protocol_version": LEGACY_PROTOCOL, "little_endian": True}, 2)
    return head + stream.getvalue() + pickle.dumps(list(keys), 2) + data


class _Slot:
    """Stands for a storage in a hand-made stream; pickled only through its persistent id."""


# round trip -------------------------------------------------------------------------------------------------


_BUFFERS = ("half", "index", "strided", "offset", "transposed", "scalar")


def _snapshot(marker):
    """A small snapshot in the official layout, and the values it holds."""
    EasyDict = sys.modules["dnnlib.util"].EasyDict
    base = torch.arange(30, dtype=torch.float32).reshape(5, 6)
    fc = torch.nn.Linear(4, 3)
    embed = torch.nn.Embedding(5, 4)
    projector = sys.modules["pg_modules.projector"].F_RandomProj()
    values = dict(
        weight=fc.weight,
        half=torch.randn(4, 2).half(),
        index=torch.arange(7, dtype=torch.int64),
        strided=base[1:, ::2],
        offset=base.view(-1)[7:19].view(3, 4),
        transposed=base.t(),
        scalar=torch.tensor(2.5),
        freqs=np.arange(6, dtype=np.float32).reshape(2, 3),
        fortran=np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4)),
        size=np.broadcast_to(np.asarray(36), [2]),
        rate=np.float64(16.5),
        count=np.int64(-3),
        flag=np.bool_(True),
        embed=embed.weight,
        conv=projector.pretrained[0].weight,
    )
    module_src = f"open({str(marker)!r}, 'w').write('the pickled source ran')\n"
    fc_state = _module_state(
        fc, {}, weight_gain=values["rate"], _init_args=(4, 3), _init_kwargs=EasyDict(lr_multiplier=0.01)
    )
    mapping = Persistent(
        "MappingNetwork",
        _module_state(
            torch.nn.Module(),
            {"fc0": Persistent("FullyConnectedLayer", fc_state, module_src), "embed": embed},
        ),
        module_src,
    )
    buffers = OrderedDict((key, values[key]) for key in _BUFFERS)
    synthesis = Persistent(
        "SynthesisNetwork",
        _module_state(
            torch.nn.Module(),
            {},
            _buffers=buffers,
            freqs=values["freqs"],
            fortran=values["fortran"],
            size=values["size"],
            rate=values["rate"],
            count=values["count"],
            flag=values["flag"],
            layer_names=["L0_36_512", "L1_36_512"],
            _init_args=(),
            _init_kwargs=EasyDict(w_dim=4, synthesis_kwargs=EasyDict(channel_base=32768)),
        ),
        module_src,
    )
    G = Persistent(
        "Generator",
        _module_state(torch.nn.Module(), {"mapping": mapping, "synthesis": synthesis}),
        module_src,
    )
    D = Persistent(
        "ProjectedDiscriminator",
        _module_state(
            torch.nn.Module(),
            {"feature_network": projector},
            activation=functools.partial(torch.nn.functional.leaky_relu, negative_slope=0.2),
        ),
        module_src,
    )
    snapshot = dict(
        G=G,
        D=D,
        G_ema=G,
        augment_pipe=None,
        training_set_kwargs=EasyDict(class_name="training.dataset.ImageFolderDataset", resolution=16),
        progress=dict(cur_nimg=torch.LongTensor([1000])),
    )
    return snapshot, values, len(module_src)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_official_layout_round_trips_exactly_without_running_its_source(tmp_path, protocol):
    marker = tmp_path / "marker"
    built = {}

    def make():
        snapshot, built["values"], built["source_length"] = _snapshot(marker)
        return snapshot

    read = _read(_dumps(make, protocol))
    values = built["values"]
    assert not marker.exists()

    G = read["G_ema"]
    assert read["G"] is G  # shared objects stay shared
    assert isinstance(G, PersistentObject) and G.class_name == "Generator" and G.module_name is None
    assert G.source_length == built["source_length"]
    mapping, synthesis = G.state["_modules"]["mapping"], G.state["_modules"]["synthesis"]
    fc = mapping.state["_modules"]["fc0"]
    assert fc.class_name == "FullyConnectedLayer"
    assert fc.state["_init_args"] == (4, 3) and fc.state["_init_kwargs"] == {"lr_multiplier": 0.01}
    assert type(fc.state["_init_kwargs"]) is dict
    weight = fc.state["_parameters"]["weight"]
    assert type(weight) is torch.Tensor and not weight.requires_grad
    assert torch.equal(weight, values["weight"].detach())

    embed = mapping.state["_modules"]["embed"]
    assert isinstance(embed, InertObject) and embed.qualname == "torch.nn.modules.sparse.Embedding"
    assert torch.equal(embed.state["_parameters"]["weight"], values["embed"].detach())

    buffers = synthesis.state["_buffers"]
    for key in _BUFFERS:
        assert buffers[key].dtype == values[key].dtype and buffers[key].shape == values[key].shape, key
        assert buffers[key].device.type == "cpu"
        assert torch.equal(buffers[key], values[key]), key

    state = synthesis.state
    for key in ("freqs", "fortran", "size"):
        assert type(state[key]) is np.ndarray and state[key].dtype == values[key].dtype, key
        np.testing.assert_array_equal(state[key], values[key])
    for key in ("rate", "count", "flag"):
        assert type(state[key]) is type(values[key]) and state[key] == values[key], key
    assert state["_init_kwargs"] == {"w_dim": 4, "synthesis_kwargs": {"channel_base": 32768}}
    assert type(state["_init_kwargs"]["synthesis_kwargs"]) is dict
    assert (
        state["layer_names"] == ["L0_36_512", "L1_36_512"] and state["_non_persistent_buffers_set"] == set()
    )

    projector = read["D"].state["_modules"]["feature_network"]
    assert isinstance(projector, InertObject) and projector.qualname == "pg_modules.projector.F_RandomProj"
    assert projector.state["proj_type"] == 2
    conv = projector.state["pretrained"].state["_modules"]["0"]
    assert conv.qualname == "torch.nn.modules.conv.Conv2d"
    assert torch.equal(conv.state["_parameters"]["weight"], values["conv"].detach())
    activation = read["D"].state["activation"]
    assert activation.qualname == "functools.partial" and activation.state[2] == {"negative_slope": 0.2}

    assert read["training_set_kwargs"] == {
        "class_name": "training.dataset.ImageFolderDataset",
        "resolution": 16,
    }
    assert read["augment_pipe"] is None and torch.equal(read["progress"]["cur_nimg"], torch.tensor([1000]))


@pytest.mark.parametrize(
    "tensor",
    [
        torch.tensor([1.5, -2.0])._neg_view(),  # saved with a lazy negation bit
        torch.tensor([1 + 2j, 3 - 1j]).conj(),  # saved with a lazy conjugation bit
        torch.tensor([1, 65535], dtype=torch.uint16),  # no storage class: torch._utils._rebuild_tensor_v3
        torch.tensor([[True, False]]),
        torch.tensor([1.0, 2.0], dtype=torch.bfloat16),
    ],
)
def test_tensor_variants(tensor):
    read = _read(_dumps(lambda: {"t": tensor}))["t"]
    assert read.dtype == tensor.dtype and torch.equal(read, tensor.resolve_neg().resolve_conj())


def test_tensors_and_parameters_with_python_attributes():
    tensor, parameter = torch.arange(3.0), torch.nn.Parameter(torch.ones(2))
    tensor.note = parameter.note = "kept by torch, dropped here"
    read = _read(_dumps(lambda: {"t": tensor, "p": parameter}))
    assert torch.equal(read["t"], tensor) and torch.equal(read["p"], parameter.detach())


@pytest.mark.parametrize(
    ("storage_type", "dtype"), [("FloatStorage", torch.float32), ("HalfStorage", torch.float16)]
)
def test_storages_saved_on_a_gpu_by_old_torch_load_on_the_cpu(storage_type, dtype):
    values = torch.tensor([1.5, -2.0, 3.25, 0.5], dtype=dtype)
    pid = ("storage", getattr(torch.cuda, storage_type), "7", "cuda:0", 4, None)
    data = _legacy_stream(_Slot(), pid, ["7"], (4).to_bytes(8, "little") + values.numpy().tobytes())
    tensor = _Call(
        torch._utils._rebuild_tensor_v2,
        _Call(torch.storage._load_from_bytes, data),
        1,
        (3,),
        (1,),
        False,
        OrderedDict(),
    )
    read = _read(pickle.dumps({"G": tensor}))["G"]
    assert read.device.type == "cpu" and read.dtype == dtype and torch.equal(read, values[1:])


def test_a_lone_network_object_is_returned_as_g():
    read = _read(_dumps(lambda: Persistent("Generator", {"z_dim": 8})))
    assert set(read) == {"G"} and read["G"].state == {"z_dim": 8}


def test_file_objects_that_cannot_seek():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self.inner.readinto(buffer)

    read = read_network_pickle_from(Stream(_dumps(lambda: {"x": torch.ones(2)})), "stream")
    assert torch.equal(read["x"], torch.ones(2))


# nothing runs -----------------------------------------------------------------------------------------------

_PAYLOADS = {
    "os.system": (lambda marker: _Call(os.system, f"touch {marker}"), os.system.__module__ + ".system", True),
    "eval": (lambda marker: _Call(eval, f"open({str(marker)!r}, 'w')"), "builtins.eval", True),
    "exec": (lambda marker: _Call(exec, f"open({str(marker)!r}, 'w')"), "builtins.exec", True),
    "subprocess": (lambda marker: _Call(subprocess.call, ["touch", str(marker)]), "subprocess.call", True),
    "__import__": (lambda marker: _Call(__import__, "os"), "builtins.__import__", False),
    "importlib": (lambda marker: _Call(importlib.import_module, "os"), "importlib.import_module", False),
    "pickle.loads": (lambda marker: _Call(pickle.loads, b"."), "_?pickle.loads", False),
    "torch.load": (lambda marker: _Call(torch.load, str(marker)), "torch.serialization.load", False),
    "numpy.load": (lambda marker: _Call(np.load, str(marker)), "numpy.load", False),
}


@pytest.mark.parametrize("payload", [name for name, (_, _, runs) in _PAYLOADS.items() if runs])
def test_the_payloads_are_real(tmp_path, payload):
    """Plain pickle runs them: the tests below would notice if the reader did."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_PAYLOADS[payload][0](marker)))
    assert marker.exists()


@pytest.mark.parametrize("payload", list(_PAYLOADS))
@pytest.mark.parametrize("where", ["top", "module_state", "storage_bytes", "storage_type"])
def test_forbidden_globals_are_refused_before_anything_runs(tmp_path, payload, where):
    marker = tmp_path / "marker"
    make_payload, global_name, _ = _PAYLOADS[payload]
    exploit = make_payload(marker)
    if where == "top":
        data = _dumps(lambda: {"G_ema": exploit})
    elif where == "module_state":
        data = _dumps(
            lambda: {"G_ema": Persistent("Generator", _module_state(torch.nn.Module(), {"mapping": exploit}))}
        )
    elif where == "storage_bytes":
        data = pickle.dumps({"G": _Call(torch.storage._load_from_bytes, _legacy_stream(exploit))})
    else:
        pid = ("storage", exploit.func, "0", "cpu", 1, None)
        stream = _legacy_stream(_Slot(), pid, ["0"], (1).to_bytes(8, "little") + bytes(4))
        data = pickle.dumps({"G": _Call(torch.storage._load_from_bytes, stream)})
    with pytest.raises(StyleGANError) as info:
        _read(data)
    assert re.match(rf"refusing to load test\.pkl: it names the global {global_name},", str(info.value))
    assert "nothing from the file was run" in str(info.value)
    assert not marker.exists()


def test_copyreg_extension_codes_are_refused(tmp_path):
    """Extension codes resolve through a process-wide cache, which a plain unpickle of the same code fills
    without asking any find_class."""
    marker, code = tmp_path / "marker", 0x7E57
    copyreg.add_extension(os.system.__module__, "system", code)
    try:
        data = pickle.dumps({"G": _Call(os.system, f"touch {marker}")}, protocol=2)
        assert pickle.loads(pickle.dumps(os.system, protocol=2)) is os.system  # now cached
        with pytest.raises(StyleGANError, match="extension codes are not allowed"):
            _read(data)
    finally:
        copyreg.remove_extension(os.system.__module__, "system", code)
    assert not marker.exists()


def test_dill_closures_and_attribute_lookups_stay_inert(tmp_path):
    """StyleGAN-XL snapshots (written with dill) rebuild hook closures and bound methods with dill helpers,
    getattr and setattr. They become records; not even a lookup of os.system through them happens."""
    marker = tmp_path / "marker"

    def make():
        dill = sys.modules["dill._dill"]
        code = _Call(dill._create_code, 3, b"bytecode", f"open({str(marker)!r}, 'w')")
        hook = _Call(dill._create_function, code, {"__name__": "feature_networks.vit"}, "hook")
        system = _Call(getattr, _Call(dill._import_module, "os"), "system")
        array = np.arange(6, dtype=np.float32).reshape(2, 3)
        reconstruct, args, state = array.__reduce__()
        return {
            "G_ema": Persistent("Generator", {"size": _Call(dill._create_array, reconstruct, args, state)}),
            "D": {
                "hooks": [hook],
                "forward": _Call(_Call(dill._load_type, "MethodType"), hook, {}),
                "renamed": _Call(setattr, hook, "__qualname__", "Block.hook"),
                "call": _Call(system, f"touch {marker}"),
            },
        }

    read = _read(_dumps(make))
    np.testing.assert_array_equal(read["G_ema"].state["size"], np.arange(6, dtype=np.float32).reshape(2, 3))
    D = read["D"]
    assert D["hooks"][0].qualname == "dill._dill._create_function"
    assert D["forward"].qualname == "dill._dill._load_type(...)" and D["forward"].args[0] is D["hooks"][0]
    assert D["renamed"].qualname == "builtins.setattr"
    assert isinstance(D["call"], InertObject) and D["call"].qualname == "builtins.getattr(...)"
    assert D["call"].args == (f"touch {marker}",)
    assert not marker.exists()


def test_dill_module_attributes_resolve_through_the_allow_list():
    """dill pickles numpy's scalar as _get_attr(_import_module('numpy.core._multiarray_umath'), 'scalar'), as
    in every StyleGAN-XL snapshot (conv_clamp and other options are numpy scalars). That must give the real
    scalar; an attribute of any other module stays an inert record, looked up nowhere."""

    def make():
        dill = sys.modules["dill._dill"]
        scalar_function = _Call(
            dill._get_attr, _Call(dill._import_module, "numpy.core._multiarray_umath"), "scalar"
        )
        _, (dtype, data) = np.float64(256.0).__reduce__()
        system = _Call(dill._get_attr, _Call(dill._import_module, "os"), "system")
        return {
            "G_ema": Persistent("Generator", {"conv_clamp": _Call(scalar_function, dtype, data)}),
            "call": _Call(system, "true"),
        }

    read = _read(_dumps(make))
    clamp = read["G_ema"].state["conv_clamp"]
    assert type(clamp) is np.float64 and clamp == 256.0
    assert isinstance(read["call"], InertObject) and read["call"].args == ("true",)


# numpy ------------------------------------------------------------------------------------------------------


def _dtype_call(descr: str, state: tuple) -> _Call:
    return _Call(np.dtype, descr, False, True, state=state)


def _array_call(dtype, shape, data: bytes) -> _Call:
    reconstruct, args, _ = np.empty(0).__reduce__()
    return _Call(reconstruct, *args, state=(1, shape, dtype, False, data))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: np.array([{"a": 1}], dtype=object), "refusing to load.*numpy data of Python objects"),
        (lambda: np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]), "unsupported network pickle.*dtype"),
        (lambda: np.arange(3, dtype=">f8"), "unsupported network pickle: it contains big-endian numpy data"),
        (lambda: _array_call(np.dtype("f4"), (4,), bytes(8)), "corrupt.*does not match its shape"),
        (lambda: _Call(np.ndarray, (1,), "O"), "corrupt.*not callable"),
    ],
)
def test_numpy_values_that_are_not_plain_arrays_are_refused(make, message):
    with pytest.raises(StyleGANError, match=message):
        _read(pickle.dumps({"G": make()}, protocol=4))


def test_dtype_states_are_checked_not_applied():
    """numpy's own unpickling accepts a dtype state that puts a field 4 KiB past a 16-byte item, so reading
    that field reads (and writing it writes) memory the array does not own."""
    out_of_bounds = (3, "|", None, ("a",), {"a": (np.dtype("f8"), 4096)}, 16, 1, 0)
    data = pickle.dumps({"G": _array_call(_dtype_call("S16", out_of_bounds), (1,), bytes(16))})
    assert pickle.loads(data)["G"].dtype.fields["a"][1] == 4096  # created, never touched
    with pytest.raises(
        StyleGANError, match="unsupported network pickle: it contains structured numpy dtypes"
    ):
        _read(data)


# forged tensors and storages --------------------------------------------------------------------------------


def _forged_storage(declared: int, count: int, data: bytes) -> bytes:
    pid = ("storage", torch.FloatStorage, "0", "cpu", declared, None)
    return _legacy_stream(_Slot(), pid, ["0"], count.to_bytes(8, "little") + data)


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (_forged_storage(4, 10**9, bytes(16)), "storage size does not match"),
        (_forged_storage(10**15, 10**15, bytes(16)), "storage bytes are truncated"),  # no 4 PB allocation
        (_forged_storage(4, 4, bytes(8)), "storage bytes are truncated"),
        (_forged_storage(4, 4, bytes(16))[:-30], "truncated or corrupt"),
        (b"not a torch.save stream", "truncated or corrupt"),
    ],
)
def test_forged_storage_bytes_are_refused(stream, message):
    with pytest.raises(StyleGANError, match=message):
        _read(pickle.dumps({"G": _Call(torch.storage._load_from_bytes, stream)}))


@pytest.mark.parametrize(
    ("size", "stride", "offset", "message"),
    [
        ((100,), (1,), 0, "past the end"),
        ((4,), (1,), 1, "past the end"),
        ((10**12,), (0,), 0, "more elements than its storage"),
        ((2, 2), (1,), 0, "malformed tensor layout"),
        ((-1,), (1,), 0, "malformed tensor size"),
    ],
)
def test_forged_tensor_layouts_are_refused(size, stride, offset, message):
    storage = _Call(torch.storage._load_from_bytes, _forged_storage(4, 4, bytes(16)))
    tensor = _Call(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False, OrderedDict())
    with pytest.raises(StyleGANError, match=message):
        _read(pickle.dumps({"G": tensor}))


def test_state_steps_on_unexpected_objects_are_refused():
    """torch would hand this state to Tensor.__setstate__, which re-points the tensor at other memory."""
    storage = _Call(torch.storage._load_from_bytes, _forged_storage(4, 4, bytes(16)))
    tensor = _Call(
        torch._utils._rebuild_tensor_v2,
        storage,
        0,
        (4,),
        (1,),
        False,
        OrderedDict(),
        state=(torch.ones(1), 0, (1,), (1,)),
    )
    with pytest.raises(StyleGANError, match="unexpected state for a Tensor"):
        _read(pickle.dumps({"G": tensor}))


# files that are not network pickles -------------------------------------------------------------------------


def _torch_save(**kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buffer, **kwargs)
    return buffer.getvalue()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("images/0.png", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (pickle.dumps({"G": torch.zeros(1000)})[:-300], "truncated or corrupt"),
        (np.random.default_rng(0).bytes(256), "not a network pickle"),
        (b"\x89PNG\r\n\x1a\n" + bytes(32), "PNG image"),
        (b"\xff\xd8\xff\xe0" + bytes(32), "JPEG image"),
        (b"<!DOCTYPE html><html>quota exceeded</html>", "HTML"),
        (_torch_save(), "a torch.save checkpoint"),
        (_torch_save(_use_new_zipfile_serialization=False), "torch.save file"),
        (_zip(), "zip archive, not a network pickle"),
        (pickle.dumps([1, 2]), "holds a list, not a network snapshot"),
    ],
)
def test_files_that_are_not_network_pickles(tmp_path, content, message):
    path = tmp_path / "network.pkl"
    path.write_bytes(content)
    with pytest.raises(StyleGANError, match=message) as info:
        read_network_pickle(path)
    assert str(path) in str(info.value)


def test_unsupported_persistence_version(tmp_path):
    path = tmp_path / "old.pkl"
    path.write_bytes(_dumps(lambda: {"G_ema": Persistent("Generator", {}, version=5)}))
    with pytest.raises(StyleGANError, match="unsupported network pickle.*persistence version 5") as info:
        read_network_pickle(path)
    assert str(path) in str(info.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(StyleGANError, match="no such file") as info:
        read_network_pickle(tmp_path / "absent.pkl")
    assert "absent.pkl" in str(info.value)
    with pytest.raises(StyleGANError, match="is a directory") as info:
        read_network_pickle(tmp_path)
    assert str(tmp_path) in str(info.value)
