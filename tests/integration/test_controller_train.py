"""Training the controller: checkpoints that carry what the arm must agree with, resumable
runs, and every damaged or mismatched file refused before the arm could move.

Everything here uses a tiny network on a tiny synthetic dataset and a hashing encoder:
the mechanics, not the skill, are under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from controller_kit import PROMPTS, TINY, hash_embedding, hash_encoder, tiny_dataset

from physres.cli import main
from physres.controller import Checkpoint, CheckpointError, Controller, PromptRefused
from physres.controller.data import load_episodes
from physres.controller.encoder import PromptEncoder
from physres.controller.model import PromptToAction
from physres.controller.train import TrainSettings, train
from physres.errors import ConfigError
from physres.sim.arm import ACTION_SPEC
from physres.sim.arm.collect import episode_seed
from physres.sim.arm.env import TabletopEnv
from physres.sim.arm.policy import EVAL_SEED, evaluate, write_table
from physres.sim.arm.shared import SHARED_LAYOUTS, layouts_allowing


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("ctrl")
    data = tiny_dataset(root / "data")
    out = root / "tiny.pt"
    train(_settings(data, out), encoder=hash_encoder(root / "emb"))
    return data, out, root / "emb"


def _settings(data: Path, out: Path, **kw) -> TrainSettings:
    kw = {"epochs": 2, "batch_size": 2, "save_every_s": 3600.0, **kw}
    return TrainSettings(data=[str(data)], out=str(out), config=TINY, threads=1, **kw)


def test_a_checkpoint_carries_spec_encoder_normalisation_and_config(trained) -> None:
    _, out, _ = trained
    ck = Checkpoint.load(out)
    assert ck.action_spec == ACTION_SPEC.to_dict()
    assert ck.encoder == "test/hash-encoder"
    assert ck.config == TINY
    assert ck.camera == {"source": "scene", "size": 32, "render_size": 32}
    assert ck.proprio_mean.shape == (5,) and (ck.proprio_std > 0).all()
    assert sorted(ck.prompts) == sorted(PROMPTS.values())
    assert len(ck.info["val_loss"]) == 2 and all(np.isfinite(ck.info["val_loss"]))
    assert not out.with_name(out.name + ".partial").exists()  # a finished run leaves none


def test_an_interrupted_run_resumes_and_ends_where_an_uninterrupted_one_does(
    tmp_path: Path, trained
) -> None:
    data, whole, emb = trained
    out = tmp_path / "resumed.pt"
    s = _settings(data, out)
    partial, state = train(s, encoder=hash_encoder(emb), stop_after_steps=3)
    assert partial.exists() and not out.exists() and state.step == 3
    _, state = train(s, encoder=hash_encoder(emb))  # "rerun the same command"
    assert state.step == Checkpoint.load(whole).info["steps"]
    a, b = Checkpoint.load(whole).state_dict, Checkpoint.load(out).state_dict
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


def test_a_partial_from_another_run_is_not_silently_continued(tmp_path: Path, trained) -> None:
    data, _, emb = trained
    out = tmp_path / "x.pt"
    train(_settings(data, out), encoder=hash_encoder(emb), stop_after_steps=1)
    with pytest.raises(CheckpointError, match="different run"):
        train(_settings(data, out, lr=0.5), encoder=hash_encoder(emb))


def test_a_dagger_round_starts_from_the_checkpoint_it_continues(tmp_path: Path, trained) -> None:
    # with a zero learning rate nothing moves: what comes out is exactly where training began
    data, whole, emb = trained
    out = tmp_path / "round2.pt"
    train(_settings(data, out, epochs=1, lr=0.0, init=str(whole)), encoder=hash_encoder(emb))
    before, after = Checkpoint.load(whole), Checkpoint.load(out)
    for k in before.state_dict:
        torch.testing.assert_close(after.state_dict[k], before.state_dict[k], msg=k)
    np.testing.assert_array_equal(after.proprio_mean, before.proprio_mean)  # its normalisation
    assert after.info["init"]["path"] == str(whole)
    assert after.info["init"]["info"]["steps"] == before.info["steps"]  # the lineage is kept
    assert "held_out" not in after.info["init"]["info"]  # not copied round after round
    fresh = tmp_path / "fresh.pt"
    train(_settings(data, fresh, epochs=1, lr=0.0), encoder=hash_encoder(emb))
    assert not torch.equal(
        Checkpoint.load(fresh).state_dict["out.weight"], before.state_dict["out.weight"]
    )


def test_a_dagger_round_holds_out_nothing_its_init_trained_on(tmp_path: Path, trained) -> None:
    # a split drawn afresh over the grown data would put some of round 1's training
    # episodes in round 2's validation set, and its validation loss would read low
    data, whole, emb = trained
    first = Checkpoint.load(whole)
    assert len(first.info["held_out"]) == first.info["val_episodes"] > 0
    more = tiny_dataset(tmp_path / "dagger", episodes=4)
    out = tmp_path / "round2.pt"
    train(
        TrainSettings(
            data=[str(data), str(more)],
            out=str(out),
            config=TINY,
            epochs=1,
            batch_size=2,
            init=str(whole),
            threads=1,
        ),
        encoder=hash_encoder(emb),
    )
    held = Checkpoint.load(out).info["held_out"]
    old = [h for h in held if Path(h).is_relative_to(data.resolve())]
    assert sorted(old) == sorted(first.info["held_out"])  # round 1's held-out stay held out
    assert len(held) > len(old)  # and the new folder adds its own
    assert all(Path(h).is_relative_to(more.resolve()) for h in set(held) - set(old))


def test_continuing_a_checkpoint_with_no_record_holds_out_only_new_folders(
    tmp_path: Path, trained
) -> None:
    data, whole, emb = trained
    older = Checkpoint.load(whole)
    del older.info["held_out"]  # written before checkpoints kept the record
    older.save(tmp_path / "older.pt")
    more = tiny_dataset(tmp_path / "dagger", episodes=4)
    out = tmp_path / "round2.pt"
    s = _settings(data, out, epochs=1, init=str(tmp_path / "older.pt"))
    s.data = [str(data), str(more)]
    train(s, encoder=hash_encoder(emb))
    held = Checkpoint.load(out).info["held_out"]
    assert held and all(Path(h).is_relative_to(more.resolve()) for h in held)


@pytest.mark.parametrize(
    ("change", "named"), [({"prompt_blind": True}, "prompt_blind"), ({"d_model": 8}, "d_model")]
)
def test_an_init_of_another_network_is_refused_before_the_data_is_read(
    tmp_path: Path, trained, change, named
) -> None:
    _, whole, emb = trained
    s = TrainSettings(
        data=[str(tmp_path / "no-such-data")],  # reading it would fail differently
        out=str(tmp_path / "x.pt"),
        config=TINY.model_copy(update=change),
        init=str(whole),
    )
    with pytest.raises(ConfigError, match=rf"--init .*{named}"):
        train(s, encoder=hash_encoder(emb))
    assert not (tmp_path / "x.pt.partial").exists()


def test_an_init_that_embedded_prompts_with_another_encoder_is_refused(
    tmp_path: Path, trained
) -> None:
    data, whole, emb = trained
    other = PromptEncoder("test/other-encoder", cache_dir=emb, load=lambda: hash_embedding)
    with pytest.raises(ConfigError, match="prompt encoder 'test/hash-encoder' vs 'test/other"):
        train(_settings(data, tmp_path / "x.pt", init=str(whole)), encoder=other)


@pytest.mark.parametrize("differs", ["camera", "spec"])
def test_an_init_for_another_arm_or_camera_is_refused(tmp_path: Path, trained, differs) -> None:
    data, whole, emb = trained
    init = whole
    if differs == "camera":  # the same network, but data rendered at another size
        data = tiny_dataset(tmp_path / "data48", size=48)
        named = "camera render_size 32 vs 48"
    else:  # a checkpoint for an arm whose steps reach 20 % further
        ck = Checkpoint.load(whole)
        ck.action_spec = {**ck.action_spec, "high": [h * 1.2 for h in ck.action_spec["high"]]}
        init = ck.save(tmp_path / "other-arm.pt")
        named = "the action spec"
    out = tmp_path / "x.pt"
    with pytest.raises(ConfigError, match=named):
        train(_settings(data, out, init=str(init)), encoder=hash_encoder(emb))
    assert not out.with_name(out.name + ".partial").exists()


@pytest.mark.parametrize("bad", [5, ["ep_000001.npz", 3], {"a": "b"}])
def test_an_init_with_a_damaged_record_of_its_split_is_refused_before_the_data_is_read(
    tmp_path: Path, trained, bad
) -> None:
    _, whole, emb = trained
    ck = Checkpoint.load(whole)
    ck.info["held_out"] = bad
    init = ck.save(tmp_path / "damaged-record.pt")
    s = _settings(tmp_path / "no-such-data", tmp_path / "x.pt", init=str(init))
    with pytest.raises(CheckpointError, match=r"damaged-record.pt: info\['held_out'\]"):
        train(s, encoder=hash_encoder(emb))


def test_an_init_that_held_out_every_episode_given_trains_on_nothing_and_says_so(
    tmp_path: Path, trained
) -> None:
    data, whole, emb = trained
    ck = Checkpoint.load(whole)
    ck.info["held_out"] = [e.source for e in load_episodes([data], 32)[0]]  # valid, but all
    init = ck.save(tmp_path / "held-all.pt")
    out = tmp_path / "x.pt"
    with pytest.raises(ConfigError, match="all 6 episodes are held out"):
        train(_settings(data, out, init=str(init)), encoder=hash_encoder(emb))
    assert not out.exists()


def test_robot_train_with_a_missing_init_fails_in_one_line(
    tmp_path: Path, trained, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _, _ = trained
    args = ["robot", "train", "--data", str(data), "--out", str(tmp_path / "x.pt")]
    assert main([*args, "--init", str(tmp_path / "missing.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "missing.pt does not exist" in err and "Traceback" not in err


def test_a_damaged_init_is_refused_naming_the_file(tmp_path: Path, trained) -> None:
    data, whole, emb = trained
    bad = _corrupt(whole, tmp_path, "flipped")
    with pytest.raises(CheckpointError, match=bad.name):
        train(_settings(data, tmp_path / "x.pt", init=str(bad)), encoder=hash_encoder(emb))


def test_a_run_is_not_resumed_over_an_init_file_that_changed(tmp_path: Path, trained) -> None:
    data, whole, emb = trained
    init = tmp_path / "init.pt"
    init.write_bytes(whole.read_bytes())
    s = _settings(data, tmp_path / "x.pt", init=str(init))
    train(s, encoder=hash_encoder(emb), stop_after_steps=1)
    ck = Checkpoint.load(init)
    ck.state_dict = {k: v + 1.0 if v.is_floating_point() else v for k, v in ck.state_dict.items()}
    ck.save(init)  # same name, other weights: the partial no longer continues it
    with pytest.raises(CheckpointError, match="different run"):
        train(s, encoder=hash_encoder(emb))


def test_prompt_embeddings_are_cached_on_disk_by_encoder_and_text(tmp_path: Path) -> None:
    loads: list[int] = []
    enc = hash_encoder(tmp_path, loads)
    v = enc.encode(["push the bowl left", "push the bowl left"])
    assert loads == [1] and np.allclose(v[0], v[1])
    again = hash_encoder(tmp_path, loads)  # a new process: the cache answers
    np.testing.assert_array_equal(again.encode_one("push the bowl left"), v[0])
    assert loads == [1]
    next(tmp_path.glob("*.npy")).write_bytes(b"garbage")  # a damaged entry is redone
    again.encode_one("push the bowl left")
    assert loads == [1, 1]
    for bad, msg in (("", "empty"), ("   ", "empty"), (42, "must be text"), ("x" * 500, "at most")):
        with pytest.raises(ConfigError, match=msg):
            enc.encode_one(bad)


def test_a_trained_prompt_is_accepted_and_one_far_from_all_is_refused_with_its_score(
    trained,
) -> None:
    _, out, emb = trained
    ctrl = Controller(out, encoder=hash_encoder(emb))
    m = ctrl.set_prompt("Put the cube in the bowl ")
    assert m.similarity == pytest.approx(1.0, abs=1e-5) and m.nearest_task == "pick_place"
    with pytest.raises(PromptRefused, match=r"similarity -?0\.\d\d < 0\.50") as e:
        ctrl.set_prompt("bake me a chocolate cake")
    assert e.value.similarity < 0.5 and e.value.nearest in PROMPTS.values()
    with pytest.raises(ConfigError, match="before set_prompt"):
        Controller(out, encoder=hash_encoder(emb)).step(np.zeros((32, 32, 3), np.uint8), [0] * 5)


def test_each_step_returns_an_action_inside_the_spec_and_the_cache_changes_nothing(
    trained,
) -> None:
    _, out, emb = trained
    cached, fresh = (Controller(out, encoder=hash_encoder(emb)) for _ in range(2))
    rng = np.random.default_rng(0)
    for c in (cached, fresh):
        c.set_prompt(PROMPTS["push_bowl"])
    for _ in range(6):  # longer than the history: the window slides
        img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        p = rng.normal(0, 0.1, 5).astype(np.float32)
        a, b = cached.step(img, p), fresh.step(img, p, cached=False)
        np.testing.assert_allclose(a, b, atol=1e-5)
        assert a.shape == (6,) and (a >= ACTION_SPEC.low_array).all()
        assert (a <= ACTION_SPEC.high_array).all()


class Smuggled:
    """An arbitrary object: unpickling it could run code, so loading must refuse it."""


def _corrupt(path: Path, tmp: Path, how: str) -> Path:
    bad = tmp / f"{how}.pt"
    raw = path.read_bytes()
    if how == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif how == "flipped":
        b = bytearray(raw)
        for i in range(200, len(b), 997):
            b[i] ^= 0xFF
        bad.write_bytes(bytes(b))
    elif how == "text":
        bad.write_text("not a checkpoint")
    elif how == "pickle":
        torch.save({"format": "physres.controller", "evil": Smuggled()}, bad)
    return bad


@pytest.mark.parametrize("how", ["truncated", "flipped", "text", "pickle"])
def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path: Path, trained, how) -> None:
    bad = _corrupt(trained[1], tmp_path, how)
    with pytest.raises(CheckpointError, match=str(bad.name)):
        Checkpoint.load(bad)


def test_a_checkpoint_with_wrong_contents_is_refused_before_a_network_is_built(
    tmp_path: Path, trained
) -> None:
    raw = torch.load(trained[1], weights_only=True)
    cases = {
        "format": ({**raw, "format": "other"}, "format 'other'"),
        "version": ({**raw, "version": 99}, "newer than this physres"),
        "config": ({**raw, "config": {**raw["config"], "layers": "many"}}, "malformed"),
        "spec": ({**raw, "action_spec": {**raw["action_spec"], "low": [0.0] * 4}}, "4 entries"),
        "weights": ({**raw, "state_dict": {}}, "weights do not fit"),
        "missing": ({k: v for k, v in raw.items() if k != "prompts"}, "missing entry"),
    }
    for name, (d, msg) in cases.items():
        torch.save(d, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError, match=msg):
            Checkpoint.load(tmp_path / f"{name}.pt")


def test_an_arm_whose_action_spec_or_camera_differs_is_refused(trained) -> None:
    _, out, emb = trained
    ctrl = Controller(out, encoder=hash_encoder(emb))
    ctrl.check_arm(ACTION_SPEC.to_dict(), 32)  # the same arm: fine
    spec = json.loads(json.dumps(ACTION_SPEC.to_dict()))
    for key, value, msg in (
        ("high", [0.5, 0.05, 0.05, 0.25, 1.0, 1.0], "high="),
        ("names", ["dx", "dy", "dz", "droll", "gripper", "terminate"], "names="),
        ("control_hz", 30.0, "control_hz="),
    ):
        with pytest.raises(CheckpointError, match=msg):
            ctrl.check_arm({**spec, key: value}, 32)
    with pytest.raises(CheckpointError, match="camera gives 8²"):
        ctrl.check_arm(spec, 8)
    with pytest.raises(CheckpointError, match="encoder"):
        Controller(out, encoder=hash_encoder(emb).__class__("other/encoder"))


def test_eval_has_a_shared_scene_column_with_its_chance_level(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared scenes hold several tasks' objects, so only the prompt says which task: the
    column runs each task in shared layouts that allow it, and prints beside it what a
    policy ignoring the prompt would reach there."""
    _, out, emb = trained
    seen: list[tuple[int, str, str, tuple[str, ...]]] = []  # (seed, task, layout, allowed)
    reset = TabletopEnv.reset

    def spy(self, *, seed=None, options=None):
        obs, info = reset(self, seed=seed, options=options)
        seen.append((seed, info["task"], info["layout"], tuple(info["allowed"])))
        return obs, info

    monkeypatch.setattr(TabletopEnv, "reset", spy)
    ctrl = Controller(out, encoder=hash_encoder(emb), min_similarity=-1.0)  # every prompt runs
    tasks = ["pick_place", "lying_bottle_from_bowl"]  # one layout each: chance 1/3 and 1/4
    result = evaluate(ctrl, tasks=tasks, episodes=1, expert=False, max_steps=2)
    rows = {r["task"]: r for r in result["rows"]}
    assert list(rows) == [*tasks, "overall"]
    for t in tasks:
        row = rows[t]
        assert row["shared"] in (0.0, 1.0) and row["model"] in (0.0, 1.0)
        (name,) = row["shared_layouts"]  # the layout its one episode ran in
        assert name in layouts_allowing(t)
        assert row["shared_chance"] == pytest.approx(SHARED_LAYOUTS[name].chance())
        shared_seed = episode_seed(EVAL_SEED, t, 0, "shared")
        assert (shared_seed, t, name, SHARED_LAYOUTS[name].allowed) in seen  # really shared
        assert (episode_seed(EVAL_SEED, t, 0), t, "own", (t,)) in seen  # the own-scene column
    assert rows["pick_place"]["shared_chance"] == pytest.approx(1 / 3)
    assert rows["lying_bottle_from_bowl"]["shared_chance"] == pytest.approx(1 / 4)
    assert rows["overall"]["shared_chance"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert rows["overall"]["shared"] == pytest.approx(np.mean([rows[t]["shared"] for t in tasks]))
    md, js = write_table(result, tmp_path, title="tiny")
    header = md.read_text().splitlines()[2]
    assert "| shared scenes | shared: chance |" in header
    assert (
        json.loads(js.read_text())["rows"][0]["shared_layouts"] == rows[tasks[0]]["shared_layouts"]
    )
    seen.clear()
    skipped = evaluate(ctrl, tasks=tasks[:1], episodes=1, expert=False, shared=False, max_steps=2)
    assert skipped["rows"][0]["shared"] is None and [s[2] for s in seen] == ["own"]
    assert "shared scenes" not in write_table(skipped, tmp_path / "no", title="x")[0].read_text()


def test_the_prompt_blind_control_runs_in_the_same_shared_layouts_as_the_model(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared-scene gap between the model and its prompt-blind copy only means something
    if both face the same layouts: the blind control's shared episodes reuse the model's seeds."""
    _, out, emb = trained
    seen: list[tuple[int, str, str]] = []
    reset = TabletopEnv.reset

    def spy(self, *, seed=None, options=None):
        obs, info = reset(self, seed=seed, options=options)
        seen.append((seed, info["task"], info["layout"]))
        return obs, info

    monkeypatch.setattr(TabletopEnv, "reset", spy)
    ctrl = Controller(out, encoder=hash_encoder(emb), min_similarity=-1.0)
    blind = Controller(out, encoder=hash_encoder(emb), min_similarity=-1.0)
    result = evaluate(
        ctrl, tasks=["pick_place"], episodes=2, blind=blind, expert=False, max_steps=2
    )
    row = result["rows"][0]
    assert row["blind_shared"] in (0.0, 0.5, 1.0) and row["blind"] in (0.0, 0.5, 1.0)
    shared = [s for s in seen if s[2] != "own"]
    assert len(shared) == 4  # two episodes, model and blind each
    assert shared[0] == shared[1] and shared[2] == shared[3]  # same seed, task and layout
    assert shared[0][0] != shared[2][0]  # ... and a new layout for the next episode


def test_a_checkpoint_from_before_keypoints_still_loads_as_the_network_it_was(
    trained, tmp_path: Path
) -> None:
    """Checkpoints written before image tokens carried keypoints have no such entry; they
    open as keypoint-free networks, and a damaged config is still refused."""
    _, out, _ = trained
    raw = Checkpoint.load(out).to_dict()
    assert raw["config"]["keypoints"] is True  # today's default
    old = Checkpoint.load(out)
    old.config = old.config.model_copy(update={"keypoints": False})
    sd = old.to_dict()
    sd["state_dict"] = PromptToAction(old.config).state_dict()  # a network of the old shape
    del sd["config"]["keypoints"]
    ck = Checkpoint.from_dict(sd)
    assert ck.config.keypoints is False
    ck.build()
    sd["config"] = "not a mapping"
    with pytest.raises(CheckpointError, match="malformed"):
        Checkpoint.from_dict(sd)


def test_dagger_episodes_labelled_by_the_plan_follower_are_refused_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Collections made before StateExpert: their labels taught the policy to stall."""
    old = tiny_dataset(tmp_path / "dagger-old", meta={"driver": "policy", "expert": "Expert"})
    new = tiny_dataset(tmp_path / "dagger-new", meta={"driver": "policy", "expert": "StateExpert"})
    demos = tiny_dataset(tmp_path / "demos", meta={"driver": "expert", "expert": "Expert"})
    assert len(load_episodes([new, demos], 32)[0]) == 12  # relabelled DAgger and demos load
    args = ["robot", "train", "--data", str(demos), str(old), "--out", str(tmp_path / "x.pt")]
    assert main([*args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dagger-old: 6 episodes" in err and "plan-following Expert" in err
    assert "Traceback" not in err and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    ("flag", "field", "extra"),
    [("--grid", "grid", 9), ("--scene-keypoints", "scene_keypoints", 1)],
    ids=["grid 3: nine cells", "3 scene keypoints: one token"],
)
def test_robot_train_extra_scene_tokens_reach_the_checkpoint(
    tmp_path: Path, flag: str, field: str, extra: int
) -> None:
    data = tiny_dataset(tmp_path / "d", episodes=2, length=6)
    out = tmp_path / "g.pt"
    net = ["--image-size", "32", "--stem", "8,8", "--history", "1", "--d-model", "16"]
    args = ["robot", "train", "--data", str(data), "--out", str(out), "--epochs", "1"]
    assert main([*args, *net, "--layers", "1", flag, "3", "--threads", "1", "--quiet"]) == 0
    ck = Checkpoint.load(out)
    assert getattr(ck.config, field) == 3
    c = Controller(out)
    c.set_prompt(PROMPTS["pick_place"])
    tokens = c._frame_tokens(np.zeros((32, 32, 3), np.uint8), np.zeros(5, np.float32))
    assert tokens.shape[1] == ck.config.tokens_per_frame + extra + 1


def test_grid_tokens_say_which_part_of_the_scene_holds_something() -> None:
    """All of a TokenLearner's maps can settle on one object (the trained network's four
    all sat on the cube, so nothing told it where the bowl was). Grid tokens pool each cell
    of the feature map: an object in one quarter moves that quarter's token the most."""
    cfg = TINY.model_copy(update={"history": 1, "grid": 2})
    torch.manual_seed(0)
    net = PromptToAction(cfg).eval()
    img = torch.zeros(1, 3, 32, 32)
    p, t = torch.zeros(1, 5), torch.zeros(1, 384)
    with torch.no_grad():
        base = net.frame_tokens(img, p, t)
        assert base.shape == (1, 2 + 4 + 1, 16)  # K image tokens, 2 x 2 cells, proprio
        for cell, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):  # row-major
            moved = img.clone()
            moved[0, :, 16 * r + 4 : 16 * r + 12, 16 * c + 4 : 16 * c + 12] = 3.0
            change = (net.frame_tokens(moved, p, t) - base).abs().amax(-1)[0, 2:6]
            others = torch.cat([change[:cell], change[cell + 1 :]])
            assert change[cell] > 2 * others.max(), (cell, change)


def test_robot_train_future_is_kept_in_the_checkpoint_and_the_arm_runs_without_it(
    tmp_path: Path,
) -> None:
    data = tiny_dataset(tmp_path / "d", episodes=2, length=6)
    net = ["--image-size", "32", "--stem", "8,8", "--history", "1", "--d-model", "16"]
    args = ["robot", "train", "--data", str(data), "--epochs", "1", "--layers", "1", *net]
    out = tmp_path / "f.pt"
    assert main([*args, "--out", str(out), "--future", "3,1000", "--threads", "1", "--quiet"]) == 0
    assert Checkpoint.load(out).config.future == (3, 1000)
    c = Controller(out)  # the arm runs the action head only
    c.set_prompt(PROMPTS["pick_place"])
    a = c.step(np.zeros((32, 32, 3), np.uint8), np.zeros(5, np.float32))
    assert a.shape == (6,) and (ACTION_SPEC.low_array <= a).all()
    assert (a <= ACTION_SPEC.high_array).all()


@pytest.mark.parametrize(
    "claims", [{"future": [5]}, {"scene_keypoints": 4}], ids=["future head", "scene keypoints"]
)
def test_a_config_claiming_parts_its_weights_lack_is_refused_before_the_arm_moves(
    trained, claims: dict
) -> None:
    """A hand-edited or mixed-up file: the config says the network has a part, the
    weights have none. Loading names the mismatch instead of building half a network."""
    _, out, _ = trained
    sd = Checkpoint.load(out).to_dict()
    sd["config"].update(claims)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        Checkpoint.from_dict(sd)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--future", "0", "each >= 1 step"),
        ("--future", "3,x", "comma-separated"),
        ("--future-weight", "-1", "greater than or equal to 0"),
        ("--future-weight", "inf", "finite"),  # an infinite loss turns every weight to NaN
        ("--future-weight", "nan", "finite"),
        ("--scene-keypoints", "-1", "greater than or equal to 0"),
        ("--grid", "99", "less than or equal to 8"),
        ("--d-model", "0", "greater than or equal to 16"),
        ("--stem", "8,x", "comma-separated"),
    ],
)
def test_a_network_flag_out_of_range_fails_in_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, says: str
) -> None:
    """Before the re-read these raised pydantic's traceback (exit 1)."""
    out = tmp_path / "x.pt"
    args = ["robot", "train", "--data", str(tmp_path / "none"), "--out", str(out)]
    assert main([*args, flag, value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert flag in err and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
