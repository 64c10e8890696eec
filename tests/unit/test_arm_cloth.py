"""The wiping cloth: a thin mass-spring soft body that drapes, is held by the hand, and wipes
only where it lies on the table."""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import ConfigError
from physres.sim.arm import TabletopEnv
from physres.sim.arm.scene import GRASP_LINK, Scene
from physres.sim.arm.tasks import Wipe


@pytest.fixture
def scene():
    s = Scene(render_size=64)
    s.build(deformable=True)
    yield s
    s.close()


def test_the_cloth_is_25_nodes_lying_flat_where_it_was_put(scene: Scene) -> None:
    cloth = scene.add_cloth("cloth", (0.5, 0.1), yaw=0.3)
    scene.step_physics(60)
    nodes = scene.nodes("cloth")
    assert nodes.shape == (25, 3)
    assert np.all(nodes[:, 2] < 0.01), "a flat cloth lies on the table"
    np.testing.assert_allclose(scene.pose("cloth")[0][:2], (0.5, 0.1), atol=0.01)
    span = np.ptp(nodes[:, :2] @ np.array([[np.cos(0.3)], [np.sin(0.3)]]))
    assert span == pytest.approx(cloth.size["edge"], abs=0.01)


def test_the_cloth_drapes_over_a_cube(scene: Scene) -> None:
    scene.add_cube("cube", (0.5, 0.0), yaw=0.0, size=0.04)
    scene.add_cloth("cloth", (0.5, 0.0), yaw=0.0)
    body = scene.objects["cloth"].body
    scene.client.resetBasePositionAndOrientation(body, [0.5, 0.0, 0.08], [0, 0, 0, 1])
    scene.step_physics(480)
    nodes = scene.nodes("cloth")
    centre = nodes[np.argmin(np.linalg.norm(nodes[:, :2] - (0.5, 0.0), axis=1))]
    assert 0.035 < centre[2] < 0.06, "the middle rests on the cube's top"
    assert (nodes[:, 2] < 0.02).sum() >= 8, "the edges hang down to the table"


def test_a_cloth_needs_the_deformable_world() -> None:
    s = Scene(render_size=32)
    try:
        s.build()
        with pytest.raises(ConfigError, match="deformable world"):
            s.add_cloth("cloth", (0.5, 0.0), yaw=0.0)
    finally:
        s.close()


def test_only_layouts_with_a_cloth_pay_for_the_deformable_world() -> None:
    env = TabletopEnv("pick_place", render_size=32)
    try:
        env.reset(seed=0)
        assert not env.scene.deformable
        env.reset(seed=0, options={"task": "wipe"})
        assert env.scene.deformable and env.scene.objects["cloth"].soft
    finally:
        env.close()


def _hand_to(env: TabletopEnv, xyz, closed: bool, steps: int = 12) -> None:
    for _ in range(steps):
        d = np.clip(np.asarray(xyz) - env.target_pos, -0.03, 0.03)
        env.step(np.array([*d, 0.0, 1.0 if closed else -1.0, 0.0]))


def test_closing_the_hand_on_the_cloth_holds_it_and_opening_lets_go() -> None:
    env = TabletopEnv("wipe", render_size=32)
    try:
        env.reset(seed=1)
        centre = env.scene.nodes("cloth")[12]
        _hand_to(env, [centre[0], centre[1], 0.1], closed=False)
        _hand_to(env, [centre[0], centre[1], 0.014], closed=False)
        assert env.scene.held is None, "an open hand holds nothing"
        _hand_to(env, [centre[0], centre[1], 0.014], closed=True, steps=4)
        assert env.scene.held == "cloth"
        _hand_to(env, [centre[0], centre[1], 0.15], closed=True)
        hand = env.scene.client.getLinkState(env.scene.robot, GRASP_LINK)[4]
        nodes = env.scene.nodes("cloth")
        assert nodes[12, 2] > 0.1 and abs(nodes[12, 2] - hand[2]) < 0.03, "lifted with the hand"
        _hand_to(env, [centre[0], centre[1], 0.15], closed=False, steps=15)
        assert env.scene.held is None
        assert env.scene.nodes("cloth")[:, 2].max() < 0.06, "released, it falls in a heap"
    finally:
        env.close()


def test_dirt_is_wiped_only_where_the_cloth_lies_on_the_table(scene: Scene) -> None:
    wipe = Wipe()
    area = np.array([0.5, 0.0])
    # the cloth lies flat beside the dirt, overlapping only the row of tiles at the largest x
    cloth_at = area + np.array([wipe.tile * 1.5 + 0.07 - 0.01, 0.0])
    wipe.place(scene, area, cloth_at, yaw=0.0)
    scene.step_physics(24)
    wipe.update(scene)
    far_row = wipe.tile_centers[:, 0] > area[0] + wipe.tile
    assert wipe.wiped[far_row].all() and not wipe.wiped[~far_row].any()
    assert not wipe.success(scene)
    # lifted above the table, the cloth wipes nothing however it passes over the dirt
    body = scene.objects["cloth"].body
    scene.client.resetBasePositionAndOrientation(body, [*area, 0.05], [0, 0, 0, 1])
    wipe.update(scene)
    assert wipe.wiped.sum() == far_row.sum()
    assert wipe.progress(scene) == pytest.approx(far_row.mean())
