"""The tabletop scene: a low-poly Panda, and primitive objects that behave like their names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from physres.sim.arm.scene import Scene, panda_urdf


@pytest.fixture
def scene():
    s = Scene(render_size=64)
    s.build()
    yield s
    s.close()


def test_the_low_poly_urdf_draws_the_collision_meshes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PHYSRES_CACHE", str(tmp_path))
    path = Path(panda_urdf(low_poly=True))
    assert path.parent == tmp_path  # written at run time, outside the repository
    meshes = re.findall(r'filename="([^"]+)"', path.read_text())
    assert meshes and all("/meshes/collision/" in m and Path(m).exists() for m in meshes)
    assert "package://" not in path.read_text()
    assert panda_urdf(low_poly=True) == str(path)  # cached: same content, same file
    assert "visual" in Path(panda_urdf(low_poly=False)).read_text()


def test_the_bowl_really_holds_a_cube_while_it_is_pushed(scene: Scene) -> None:
    scene.add_bowl("bowl", (0.5, 0.0))
    cube = scene.add_cube("cube", (0.5, 0.0), yaw=0.3)
    c = scene.client
    c.resetBasePositionAndOrientation(cube.body, [0.5, 0.0, 0.12], [0, 0, 0, 1])
    scene.step_physics(240)
    pos, _ = scene.pose("cube")
    assert np.hypot(pos[0] - 0.5, pos[1]) < 0.05 and pos[2] < 0.04  # fell in, rests on the floor
    for _ in range(120):  # drag the bowl 12 cm sideways: the walls carry the cube along
        c.resetBaseVelocity(scene.objects["bowl"].body, [0, 0.25, 0], [0, 0, 0])
        scene.step_physics(2)
    scene.step_physics(120)
    bowl, _ = scene.pose("bowl")
    pos, _ = scene.pose("cube")
    assert bowl[1] > 0.08
    assert np.hypot(*(pos[:2] - bowl[:2])) < scene.objects["bowl"].size["inner_radius"]


def test_the_coffee_cup_is_hollow_so_a_finger_fits_inside(scene: Scene) -> None:
    cup = scene.add_mug("cup", (0.5, 0.0), yaw=0.0)
    c = scene.client
    import pybullet as p

    ball = c.createMultiBody(
        0.01, c.createCollisionShape(p.GEOM_SPHERE, radius=0.01), -1, [0.5, 0.0, 0.2]
    )
    scene.step_physics(240)
    z = c.getBasePositionAndOrientation(ball)[0][2]
    assert z < 0.5 * cup.size["height"], "the ball should drop inside the cup, not rest on a lid"


def test_bottles_stand_and_lie(scene: Scene) -> None:
    scene.add_bottle("standing", (0.45, 0.1), lying=False)
    scene.add_bottle("lying", (0.55, -0.1), lying=True, yaw=0.7)
    scene.step_physics(240)
    assert scene.z_axis("standing")[2] > 0.99
    assert abs(scene.z_axis("lying")[2]) < 0.05


def test_a_scene_frame_is_rgb_uint8_and_shows_the_objects(scene: Scene) -> None:
    empty = scene.render()
    scene.add_cube("cube", (0.48, 0.0), yaw=0.0, color="red")
    img = scene.render()
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    changed = np.abs(img.astype(int) - empty.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 4
    red = img[changed]
    assert (red[:, 0] > red[:, 1] + 40).mean() > 0.5
