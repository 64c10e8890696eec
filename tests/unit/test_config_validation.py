"""Whole-config validation: every rule in a Params model, one registry, errors that point.

Before: cross-field rules lived in device ``__init__`` (so they fired inside a
run, after its folder was made), task names and params were not checked at
load time, run.py guessed the task binding from a field called ``n_inputs``,
and three registries had three lookup codes.
"""

from __future__ import annotations

import sys

import pytest
from pydantic import ValidationError

from physres import registry, tasks
from physres.config import parse_config
from physres.errors import ConfigError, ParamsError, RuleError, UnknownNameError
from physres.registry import Registry

BASE = """\
name: v
devices:
  dev:
    kind: {kind}
    params:
{params}
task:
  kind: {task}
  params: {{washout: 10}}
"""


def _cfg(kind: str = "mock.esn", params: str = "      n_units: 5", task: str = "xor") -> str:
    return BASE.format(kind=kind, params=params, task=task)


# ------------------------------------------------------------ Params hold every rule
RULES = {
    "motor keepalive vs watchdog": (
        "drivers.bucket_motors",
        "      watchdog_ms: 60\n      keepalive_s: 0.05",
        7,
        "devices.dev.params.keepalive_s: keepalive_s=0.05 is more than half of watchdog_ms=60",
    ),
    "rig's motor board, nested": (
        "mock.bucket",
        "      motors: {watchdog_ms: 60, keepalive_s: 0.05}",
        6,
        "devices.dev.params.motors.keepalive_s: keepalive_s=0.05 is more than half",
    ),
    "so101 ids per joint": (
        "mock.so101",
        "      ids: [1, 2, 3]",
        6,
        "devices.dev.params.ids: ids has 3 entries, the arm has 6 joints",
    ),
    "so101 direction": (
        "drivers.so101",
        "      direction: [1, 1, 0, 1, 1, 1]",
        6,
        "devices.dev.params.direction: direction must be ±1",
    ),
    "so101 workspace inside out": (
        "mock.so101",
        "      workspace_low: [0.3, 0, 0, 0]\n      workspace_high: [0.2, 0.1, 0.1, 0.1]",
        6,
        "devices.dev.params.workspace_low: workspace_low (0.3, 0.0, 0.0, 0.0) is above",
    ),
    "sim arm layout": (
        "sim.arm",
        "      task: pick_plase",
        6,
        "devices.dev.params.task: unknown task 'pick_plase'; known tasks: wipe",
    ),
    "camera roi outside the frame": (
        "mock.bucket_camera",
        "      frame_shape: [48, 64]\n      roi: [0, 100, 0, 10]",
        7,
        "devices.dev.params.roi: roi (top, bottom, left, right) = (0, 100, 0, 10) must satisfy",
    ),
    "bucket cells not square": (
        "sim.bucket",
        "      grid: [64, 32]",
        6,
        "devices.dev.params.grid: cells are",
    ),
}


@pytest.mark.parametrize(("kind", "params", "line", "message"), RULES.values(), ids=RULES.keys())
def test_cross_field_rules_fail_at_load_naming_file_line_and_key(
    kind: str, params: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(_cfg(kind, params), "rig.yaml")
    msg = str(e.value)
    assert msg.startswith(f"rig.yaml:{line}: {message}"), msg
    assert "\n" not in msg


@pytest.mark.parametrize(("kind", "params", "line", "message"), RULES.values(), ids=RULES.keys())
def test_the_rule_lives_in_the_params_model_not_in_init(
    kind: str, params: str, line: int, message: str
) -> None:
    """The Params model alone refuses it: validating never builds the device."""
    import yaml

    values = yaml.safe_load(params.replace("      ", "")) or {}
    model = registry.resolve(kind)[0].Params
    with pytest.raises(ValidationError):
        model.model_validate(values)
    with pytest.raises(ParamsError) as e:
        registry.validate(kind, values)
    key = message.split(":", 1)[0].removeprefix("devices.dev.")
    assert f"{kind!r} {key}:" in str(e.value)


def test_rule_errors_point_at_a_field_and_are_config_errors() -> None:
    err = RuleError("roi", "roi is outside the frame")
    assert (
        isinstance(err, ValueError) and err.key == "roi" and str(err) == "roi is outside the frame"
    )


# ------------------------------------------------------------------- the task, too
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _cfg(task="narma11"),
            r"^t.yaml:8: task.kind: unknown task 'narma11'; known tasks: .*; "
            r"did you mean 'narma10'\?$",
        ),
        (
            _cfg().replace("{washout: 10}", "{washot: 10}"),
            r"^t.yaml:9: task.params.washot: Extra inputs are not permitted; "
            r"did you mean 'washout'\? \(got 10\)$",
        ),
        (
            _cfg().replace("{washout: 10}", "{washout: -1}"),
            r"^t.yaml:9: task.params.washout: Input should be greater than or equal to 0",
        ),
        (
            _cfg(task="spoken_digits").replace("{washout: 10}", "{digits: [3, 3]}"),
            r"^t.yaml:9: task.params.digits: digits must be two or more distinct values",
        ),
    ],
    ids=["unknown-task", "misspelt-param", "bad-value", "task-rule"],
)
def test_task_errors_name_file_and_line_like_every_other(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "t.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _cfg(kind="sim.esnn"),
            r"t.yaml:4: devices.dev.kind: unknown device kind 'sim.esnn'.*"
            r"did you mean 'sim.esn'\?$",
        ),
        (
            _cfg(params="      n_unit: 5"),
            r"t.yaml:6: devices.dev.params.n_unit: Extra inputs "
            r"are not permitted; did you mean 'n_units'\?",
        ),
        (_cfg() + "drive: {chunck: 5}\n", r"t.yaml:10: drive.chunck: .*did you mean 'chunk'\?"),
        (
            _cfg() + "reference: {kind: sim.esn, params: {spectral_radus: 1}}\n",
            r"t.yaml:10: reference.params.spectral_radus: .*did you mean 'spectral_radius'\?",
        ),
        (
            _cfg() + "reference: {kind: mock.es}\n",
            r"t.yaml:10: reference.kind: unknown device kind 'mock.es'.*did you mean 'mock.esn'\?",
        ),
    ],
    ids=["kind", "device-param", "section-key", "reference-param", "reference-kind"],
)
def test_misspelt_names_get_the_nearest_known_one(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "t.yaml")


def test_device_and_task_construction_errors_are_one_line_with_short_values() -> None:
    with pytest.raises(ConfigError) as e:
        registry.create("sim.esn", "esn", {"n_units": "x" * 10_000, "density": 5})
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400 and "n_units" in msg and "density" in msg
    with pytest.raises(ConfigError) as e:
        tasks.create("narma10", washout=-1, hold=0)
    assert "\n" not in str(e.value) and "washout" in str(e.value) and "hold" in str(e.value)


# --------------------------------------------------------------- task → device binding
def test_bind_task_fills_the_declared_field_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry.bind_task("mock.esn", {"n_units": 5}, 3) == {"n_units": 5, "n_inputs": 3}
    assert registry.bind_task("sim.esn", {"n_inputs": 4}, 3) == {"n_inputs": 4}, "config wins"
    assert registry.bind_task("sim.esn", {}, None) == {}
    assert registry.bind_task("sim.bucket", {"fps": 25}, 3) == {"fps": 25}
    from physres.sim.esn import ESNParams

    monkeypatch.setattr(ESNParams, "task_inputs", None)
    assert registry.bind_task("sim.esn", {}, 3) == {}, "a field's name alone binds nothing"


# ---------------------------------------------------------------- one Registry class
def test_a_registry_is_lazy_and_names_its_entries_without_importing() -> None:
    reg: Registry[type] = Registry(
        "widget", {"a.one": "physres_no_such_module:Thing", "a.two": "json:JSONDecoder"}
    )
    assert reg.names() == ["a.one", "a.two"] and "physres_no_such_module" not in sys.modules
    assert reg["a.two"] is __import__("json").JSONDecoder
    assert "a.one" in reg and "a.three" not in reg and reg.get("a.three") is None
    with pytest.raises(ConfigError, match="widget 'a.one' needs physres_no_such_module"):
        reg.load("a.one")
    with pytest.raises(
        UnknownNameError,
        match=r"^unknown widget 'a.onee'; known widgets: "
        r"a.one, a.two; did you mean 'a.one'\?$",
    ):
        reg.load("a.onee")
    with pytest.raises(KeyError):
        reg["nope"]
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a.two", "json:JSONEncoder")
    reg.register("a.two", "json:JSONEncoder", replace=True)
    assert reg["a.two"] is __import__("json").JSONEncoder
    with pytest.raises(ConfigError, match="not 'module:attr'"):
        reg.register("a.three", "json.JSONEncoder")
    with pytest.raises(UnknownNameError):
        reg.load("mock.one")  # mock families are for device kinds only
    with pytest.raises(ConfigError, match="widget 'a.two' declares no Params model"):
        reg.validate("a.two", {})


def test_device_kinds_get_mock_families_and_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    reg: Registry[type] = Registry(
        "device kind",
        {"sim.thing": "json:JSONDecoder", "drivers.thing": "json:JSONEncoder"},
        group="physres.test_devices",
        mock_prefix="mock.",
    )
    ep = EntryPoint("sim.plugin", "json:JSONDecodeError", "physres.test_devices")
    monkeypatch.setattr(
        "physres.registry.entry_points", lambda group: [ep] if group == ep.group else []
    )
    assert reg.names() == ["sim.thing", "drivers.thing", "sim.plugin", "mock.plugin", "mock.thing"]
    assert reg["mock.thing"] is __import__("json").JSONEncoder, "mock = the driver's interface"
    assert reg.is_mock("mock.thing") and not reg.is_mock("sim.thing")


def test_the_three_registries_are_one_class() -> None:
    from physres.sim.arm.tasks import TASKS as ARM_TASKS
    from physres.sim.arm.tasks import make_task
    from physres.tasks.registry import TASKS

    assert all(isinstance(r, Registry) for r in (registry.DEVICES, TASKS, ARM_TASKS))
    with pytest.raises(UnknownNameError, match="did you mean 'wipe'"):
        make_task("wipee")
    with pytest.raises(UnknownNameError, match="did you mean 'narma10'"):
        tasks.create("narma_10")
    with pytest.raises(ConfigError, match="must look like 'sim.name'"):
        registry.register("mock.esn2", "physres.sim.esn:ESN")


# ------------------------------------------------- typed errors where a person meets them
def test_device_input_mistakes_are_typed_so_they_survive_the_bus() -> None:
    """A bare ValueError raised on a node arrives as a plain RemoteError; a DataError as one."""
    from physres.bus.commands import remote_error
    from physres.errors import DataError

    with registry.create("mock.esn", "esn", {"n_units": 3}) as dev:
        for bad in ({}, {"v": [1.0]}, {"u": "abc"}, {"u": [[1.0, 2.0]]}):
            with pytest.raises(DataError):
                dev.apply(bad)
        with pytest.raises(UnknownNameError, match="esn has no command 'nope'"):
            dev.call("nope")
    assert isinstance(remote_error("esn", "apply", "DataError", "x"), DataError)
    assert not isinstance(remote_error("esn", "apply", "ValueError", "x"), ValueError)
