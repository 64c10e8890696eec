"""The pybullet tabletop: one ``BulletClient`` (DIRECT) with a Panda, a table and primitive objects.

The table frame is the world frame: the Panda's base sits at the origin on the
table top (z = 0), x points away from the robot, y to its left. Objects that
``pybullet_data`` lacks (bowl, bottle, pedestal, distractors) are built
from primitive shapes; the coffee cup is ``objects/mug.urdf``'s mesh drawn over
primitives; the wiping cloth is ``cloth_z_up.obj`` loaded as a mass-spring soft
body (25 nodes), which needs pybullet's deformable world
(``RESET_USE_DEFORMABLE_WORLD``). The rigid tasks keep 0.94 of their speed in
that world (``bench/arm.py --worlds``) and a cloth makes each physics step
several times dearer, so ``build(deformable=True)`` is asked for only by
layouts that hold a cloth; the others keep the rigid world (and, per seed,
their trajectories).

Rendering speed is set by triangle count: the stock Panda's visual meshes have
~60k vertices, its collision meshes ~4k, and the tiny renderer draws the latter
about 4× faster (measured on the CI machine). :func:`panda_urdf` writes a copy of the URDF whose
visual meshes point at the collision meshes into a cache folder at run time, so
no ``pybullet_data`` file is copied into the repository.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pybullet_data

from physres.errors import ConfigError
from physres.sim.arm._pb import bullet_client, p, quiet_fds

__all__ = [
    "ARM_JOINTS",
    "CLOTH_OBJ",
    "FINGER_JOINTS",
    "GRASP_LINK",
    "HOME_JOINTS",
    "Scene",
    "SceneObject",
    "panda_urdf",
]

ARM_JOINTS = tuple(range(7))
FINGER_JOINTS = (9, 10)
GRASP_LINK = 11  # panda_grasptarget: between the fingertips
HOME_JOINTS = (0.0, -0.55, 0.0, -2.35, 0.0, 1.80, 0.785)
_ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
_FINGER_OPEN = 0.04
_FINGER_FORCE = 40.0
TABLE_X = (-0.25, 1.0)
TABLE_Y = (-0.65, 0.65)
TABLE_RGBA = (0.78, 0.70, 0.58, 1.0)

#: pybullet_data's 5 × 5-node cloth, 2 × 2 units: loaded as a mass-spring soft body
CLOTH_OBJ = "cloth_z_up.obj"
#: a cloth node closer than this to the grasp point when the gripper closes is held (m)
CLOTH_GRASP_RADIUS = 0.03

#: an (x, y) position on the table, metres
XY = Sequence[float] | np.ndarray

#: Colours used by the scene and named in prompts.
COLORS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "blue": (0.15, 0.35, 0.85, 1.0),
    "green": (0.15, 0.65, 0.25, 1.0),
    "yellow": (0.95, 0.85, 0.15, 1.0),
    "purple": (0.55, 0.25, 0.70, 1.0),
    "orange": (0.95, 0.50, 0.10, 1.0),
    "white": (0.92, 0.92, 0.90, 1.0),
    "grey": (0.45, 0.45, 0.48, 1.0),
    "teal": (0.10, 0.60, 0.60, 1.0),
}


def panda_urdf(low_poly: bool = True) -> str:
    """Path of the Panda URDF; with ``low_poly`` a cached copy rendering the collision meshes."""
    data = Path(pybullet_data.getDataPath()) / "franka_panda"
    src = data / "panda.urdf"
    if not low_poly:
        return str(src)
    text = src.read_text()
    collision = data / "meshes" / "collision"

    def _swap(m: re.Match[str]) -> str:
        return f'filename="{collision / m.group(1)}"'

    out = re.sub(
        r'filename="package://meshes/(?:visual|collision)/([A-Za-z0-9_]+\.obj)"', _swap, text
    )
    digest = hashlib.sha1(out.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("PHYSRES_CACHE", Path(tempfile.gettempdir()) / "physres-cache"))
    path = cache / f"panda_lowpoly_{digest}.urdf"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(out)
        tmp.replace(path)  # atomic: parallel envs never read half a file
    return str(path)


@functools.cache
def _cloth_faces() -> np.ndarray:
    """The cloth mesh's triangles as node indices, (F, 3): pybullet keeps the OBJ's vertex order."""
    faces = []
    for line in (Path(pybullet_data.getDataPath()) / CLOTH_OBJ).read_text().splitlines():
        if line.startswith("f "):
            faces.append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:4]])
    return np.asarray(faces, dtype=int)


def _cup_parts(
    r_floor: float,
    floor_t: float,
    r_mid: float,
    wall: float,
    seg_half: float,
    height: float,
    segments: int,
) -> tuple[list, list, list, list, list, list]:
    """A floor disc and a ring of wall slabs, as pybullet shape-array lists (bowl, cup)."""
    types, halves, radii, lengths = [p.GEOM_CYLINDER], [[0, 0, 0]], [r_floor], [floor_t]
    poss, orns = [[0, 0, floor_t / 2]], [[0, 0, 0, 1]]
    for k in range(segments):
        a = 2 * math.pi * k / segments
        types.append(p.GEOM_BOX)
        halves.append([wall / 2, seg_half, height / 2])
        radii.append(0.0)
        lengths.append(0.0)
        poss.append([r_mid * math.cos(a), r_mid * math.sin(a), height / 2])
        orns.append(list(_quat_yaw(a)))
    return types, halves, radii, lengths, poss, orns


@dataclass
class SceneObject:
    """A body in the scene and what tasks and experts need to know about it."""

    name: str
    body: int
    #: what the object is ("cube", "bowl", "mug"...); not a ``kind``, a word kept for
    #: registered names
    shape: str
    color: str = ""
    #: hold with a fixed constraint while the gripper is closed on it (too wide/heavy for friction)
    grasp_assist: bool = False
    size: dict[str, float] = field(default_factory=dict)
    #: a soft body (the cloth): its pose is its nodes' centroid, its grasp anchors nodes
    soft: bool = False


def _quat_yaw(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


class Scene:
    """One physics world: build, step, control the Panda, render, hold grasps.

    Every ``build()`` calls ``resetSimulation`` and reloads everything, so a
    seed reproduces an episode bit for bit (removing bodies leaves solver
    caches behind; a clean world does not).
    """

    def __init__(
        self,
        *,
        render_size: int = 128,
        wrist_camera: bool = False,
        low_poly: bool = True,
        physics_hz: float = 240.0,
    ) -> None:
        with quiet_fds(1):  # pybullet prints "argv[0]=" from C on every connect
            self.client = bullet_client.BulletClient(connection_mode=p.DIRECT)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.render_size = int(render_size)
        self.wrist_camera = wrist_camera
        self.low_poly = low_poly
        self.physics_hz = physics_hz
        self._urdf = panda_urdf(low_poly)
        self.robot = -1
        self.objects: dict[str, SceneObject] = {}
        self.markers: list[int] = []
        self.gripper_closed = False
        self.held: str | None = None
        self._grasp_cid: int | None = None
        self._anchors: list[int] = []
        self.deformable = False
        aspect = 1.0
        self._proj = self.client.computeProjectionMatrixFOV(45.0, aspect, 0.05, 3.0)
        self._view = self.client.computeViewMatrix(
            cameraEyePosition=[0.95, 0.0, 0.70],
            cameraTargetPosition=[0.48, 0.0, 0.0],
            cameraUpVector=[0.0, 0.0, 1.0],
        )
        self._wrist_proj = self.client.computeProjectionMatrixFOV(70.0, aspect, 0.02, 2.0)

    # ------------------------------------------------------------- building
    def build(self, *, deformable: bool = False) -> None:
        """Fresh world: gravity, table, Panda at home with the gripper open.

        ``deformable`` makes it pybullet's deformable world, where soft bodies
        (:meth:`add_cloth`) can live.
        """
        c = self.client
        c.resetSimulation(p.RESET_USE_DEFORMABLE_WORLD if deformable else 0)
        self.deformable = deformable
        c.setPhysicsEngineParameter(fixedTimeStep=1.0 / self.physics_hz, numSolverIterations=60)
        c.setGravity(0, 0, -9.81)
        self.objects = {}
        self.markers = []
        self.held = None
        self._grasp_cid = None
        self._anchors = []
        self.gripper_closed = False
        hx = (TABLE_X[1] - TABLE_X[0]) / 2
        hy = (TABLE_Y[1] - TABLE_Y[0]) / 2
        self.table = self._box_body(
            (hx, hy, 0.02), ((TABLE_X[0] + TABLE_X[1]) / 2, 0.0, -0.02), TABLE_RGBA, mass=0.0
        )
        c.changeDynamics(self.table, -1, lateralFriction=0.6)
        self.robot = c.loadURDF(
            self._urdf, [0, 0, 0], useFixedBase=True, flags=p.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT
        )
        for j in FINGER_JOINTS:
            c.changeDynamics(self.robot, j, lateralFriction=1.2, spinningFriction=0.002)
        for j, q in zip(ARM_JOINTS, HOME_JOINTS):
            c.resetJointState(self.robot, j, q)
        for j in FINGER_JOINTS:
            c.resetJointState(self.robot, j, _FINGER_OPEN)
        self._lower = [c.getJointInfo(self.robot, j)[8] for j in ARM_JOINTS]
        self._upper = [c.getJointInfo(self.robot, j)[9] for j in ARM_JOINTS]
        self._ranges = [u - lo for lo, u in zip(self._lower, self._upper)]
        self.set_arm_targets(np.asarray(HOME_JOINTS))
        self.set_gripper(False)

    def _box_body(
        self,
        half: tuple[float, float, float],
        pos: tuple[float, float, float],
        rgba: tuple[float, ...],
        *,
        mass: float,
        yaw: float = 0.0,
        collide: bool = True,
    ) -> int:
        c = self.client
        col = c.createCollisionShape(p.GEOM_BOX, halfExtents=half) if collide else -1
        vis = c.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba)
        return c.createMultiBody(mass, col, vis, pos, _quat_yaw(yaw))

    def add(self, obj: SceneObject) -> SceneObject:
        self.objects[obj.name] = obj
        return obj

    def add_cube(
        self, name: str, pos: XY, yaw: float, *, size: float = 0.04, color: str = "red"
    ) -> SceneObject:
        h = size / 2
        body = self._box_body(
            (h, h, h), (pos[0], pos[1], h + 0.001), COLORS[color], mass=0.08, yaw=yaw
        )
        self.client.changeDynamics(body, -1, lateralFriction=1.0)
        return self.add(SceneObject(name, body, "cube", color, size={"edge": size}))

    def add_bowl(
        self,
        name: str,
        pos: XY,
        *,
        inner_radius: float = 0.07,
        height: float = 0.045,
        wall: float = 0.01,
        color: str = "blue",
        segments: int = 12,
        mass: float = 0.4,
    ) -> SceneObject:
        """A compound bowl: a floor disc and a ring of wall slabs (really holds a cube).

        pybullet crashes on visual shape arrays of more than 16 parts: keep segments ≤ 15.
        """
        c = self.client
        floor_t = 0.008
        r_mid = inner_radius + wall / 2
        seg_half = r_mid * math.tan(math.pi / segments) + 0.002
        types, halves, radii, lengths, poss, orns = _cup_parts(
            inner_radius + wall, floor_t, r_mid, wall, seg_half, height, segments
        )
        col = c.createCollisionShapeArray(
            shapeTypes=types,
            halfExtents=halves,
            radii=radii,
            lengths=lengths,
            collisionFramePositions=poss,
            collisionFrameOrientations=orns,
        )
        rgba = COLORS[color]
        vis = c.createVisualShapeArray(
            shapeTypes=types,
            halfExtents=halves,
            radii=radii,
            lengths=lengths,
            rgbaColors=[rgba] * len(types),
            visualFramePositions=poss,
            visualFrameOrientations=orns,
        )
        body = c.createMultiBody(mass, col, vis, [pos[0], pos[1], 0.001], (0, 0, 0, 1))
        c.changeDynamics(body, -1, lateralFriction=0.5)
        return self.add(
            SceneObject(
                name,
                body,
                "bowl",
                color,
                size={
                    "inner_radius": inner_radius,
                    "height": height,
                    "outer_radius": inner_radius + wall,
                },
            )
        )

    def add_bottle(
        self,
        name: str,
        pos: XY,
        *,
        lying: bool = False,
        yaw: float = 0.0,
        color: str = "green",
        radius: float = 0.024,
        body_len: float = 0.11,
        neck_radius: float = 0.011,
        neck_len: float = 0.05,
        base_z: float = 0.0,
    ) -> SceneObject:
        """A bottle along its local z: body cylinder then a neck; the origin is the body centre."""
        c = self.client
        types = [p.GEOM_CYLINDER, p.GEOM_CYLINDER]
        radii = [radius, neck_radius]
        lengths = [body_len, neck_len]
        poss = [[0, 0, 0], [0, 0, body_len / 2 + neck_len / 2]]
        col = c.createCollisionShapeArray(
            shapeTypes=types, radii=radii, lengths=lengths, collisionFramePositions=poss
        )
        vis = c.createVisualShapeArray(
            shapeTypes=types,
            radii=radii,
            lengths=lengths,
            visualFramePositions=poss,
            rgbaColors=[COLORS[color]] * 2,
        )
        if lying:
            orn = c.getQuaternionFromEuler([math.pi / 2, 0.0, yaw])
            z = base_z + radius + 0.001
        else:
            orn = _quat_yaw(yaw)
            z = base_z + body_len / 2 + 0.001
        body = c.createMultiBody(0.15, col, vis, [pos[0], pos[1], z], orn)
        c.changeDynamics(
            body, -1, lateralFriction=1.0, rollingFriction=0.001, spinningFriction=0.001
        )
        return self.add(
            SceneObject(
                name,
                body,
                "bottle",
                color,
                grasp_assist=True,
                size={
                    "radius": radius,
                    "body_len": body_len,
                    "neck_radius": neck_radius,
                    "neck_len": neck_len,
                },
            )
        )

    def add_pedestal(
        self,
        name: str,
        pos: XY,
        *,
        radius: float = 0.055,
        height: float = 0.08,
        color: str = "grey",
    ) -> SceneObject:
        c = self.client
        col = c.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=height)
        vis = c.createVisualShape(
            p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=COLORS[color]
        )
        body = c.createMultiBody(0.0, col, vis, [pos[0], pos[1], height / 2])
        return self.add(
            SceneObject(name, body, "pedestal", color, size={"radius": radius, "height": height})
        )

    def add_mug(
        self, name: str, pos: XY, *, yaw: float, base_z: float = 0.0, color: str = "white"
    ) -> SceneObject:
        """The coffee cup: pybullet_data's mug model drawn, a compound of primitives colliding.

        The mug's own collision mesh loads as a convex hull (a solid 8.8 cm
        blob no finger fits into); walls, floor and handle as primitives keep
        it hollow, so a finger can go inside and pinch the wall.
        """
        c = self.client
        r_out, wall, height, floor_t, segments = 0.041, 0.006, 0.10, 0.009, 12
        r_mid = r_out - wall / 2
        seg_half = r_mid * math.tan(math.pi / segments) + 0.001
        types, halves, radii, lengths, poss, orns = _cup_parts(
            r_out, floor_t, r_mid, wall, seg_half, height, segments
        )
        types.append(p.GEOM_BOX)  # the handle, along +y like the model's
        halves.append([0.006, 0.02, 0.03])
        radii.append(0.0)
        lengths.append(0.0)
        poss.append([0.0, 0.061, 0.052])
        orns.append([0, 0, 0, 1])
        col = c.createCollisionShapeArray(
            shapeTypes=types,
            halfExtents=halves,
            radii=radii,
            lengths=lengths,
            collisionFramePositions=poss,
            collisionFrameOrientations=orns,
        )
        mesh = str(Path(pybullet_data.getDataPath()) / "objects" / "mug.obj")
        vis = c.createVisualShape(p.GEOM_MESH, fileName=mesh, rgbaColor=COLORS[color])
        body = c.createMultiBody(0.25, col, vis, [pos[0], pos[1], base_z + 0.001], _quat_yaw(yaw))
        c.changeDynamics(body, -1, lateralFriction=1.0)
        return self.add(
            SceneObject(
                name,
                body,
                "mug",
                color,
                grasp_assist=True,
                size={"radius": r_out, "height": height, "wall": wall, "wall_radius": r_mid},
            )
        )

    def add_cloth(
        self, name: str, pos: XY, yaw: float, *, size: float = 0.14, color: str = "orange"
    ) -> SceneObject:
        """A thin square cloth of edge ``size`` lying flat: 25 nodes, mass-spring with bending
        springs (needs ``build(deformable=True)``).

        Held by anchoring the nodes between the fingers to the hand (:meth:`update_grasp`):
        friction between rigid fingers and a cloth is not modelled well enough to pinch it.
        """
        if not self.deformable:
            raise ConfigError(
                f"cloth {name!r} needs the deformable world: call build(deformable=True)"
            )
        c = self.client
        body = c.loadSoftBody(
            CLOTH_OBJ,
            basePosition=[pos[0], pos[1], 0.004],
            baseOrientation=_quat_yaw(yaw),
            scale=size / 2,  # the mesh spans -1..1
            mass=0.04,
            useMassSpring=1,
            useBendingSprings=1,
            springElasticStiffness=40.0,
            springDampingStiffness=0.1,
            springDampingAllDirections=1,
            useSelfCollision=0,
            frictionCoeff=0.6,
            useFaceContact=1,
            collisionMargin=0.003,
        )
        c.changeVisualShape(body, -1, rgbaColor=COLORS[color])
        return self.add(SceneObject(name, body, "cloth", color, size={"edge": size}, soft=True))

    def cloth_points(self, name: str) -> np.ndarray:
        """Points spread over a cloth: its nodes and its triangles' centroids, (N, 3).

        Nodes are 3.5 cm apart on a 14 cm cloth; with the centroids no point of
        a flat cloth is farther than about 1.3 cm from one of these.
        """
        v = self.nodes(name)
        return np.concatenate([v, v[_cloth_faces()].mean(axis=1)])

    def nodes(self, name: str) -> np.ndarray:
        """A soft body's node positions, (N, 3) in the table frame."""
        _, verts = self.client.getMeshData(
            self.objects[name].body, -1, flags=p.MESH_DATA_SIMULATION_MESH
        )
        return np.asarray(verts, dtype=float)

    def add_distractor(self, name: str, shape: str, pos: XY, yaw: float, color: str) -> SceneObject:
        """A small object that tasks ignore: a sphere, a cylinder or a flat block."""
        c = self.client
        if shape == "sphere":
            col = c.createCollisionShape(p.GEOM_SPHERE, radius=0.022)
            vis = c.createVisualShape(p.GEOM_SPHERE, radius=0.022, rgbaColor=COLORS[color])
            z, size = 0.023, {"radius": 0.022}
        elif shape == "cylinder":
            col = c.createCollisionShape(p.GEOM_CYLINDER, radius=0.02, height=0.06)
            vis = c.createVisualShape(
                p.GEOM_CYLINDER, radius=0.02, length=0.06, rgbaColor=COLORS[color]
            )
            z, size = 0.031, {"radius": 0.02}
        else:
            col = c.createCollisionShape(p.GEOM_BOX, halfExtents=[0.035, 0.02, 0.012])
            vis = c.createVisualShape(
                p.GEOM_BOX, halfExtents=[0.035, 0.02, 0.012], rgbaColor=COLORS[color]
            )
            z, size = 0.013, {"radius": 0.04}
        body = c.createMultiBody(0.06, col, vis, [pos[0], pos[1], z], _quat_yaw(yaw))
        c.changeDynamics(body, -1, lateralFriction=0.8, rollingFriction=0.002)
        return self.add(SceneObject(name, body, shape, color, size=size))

    def add_marker(self, half_xy: tuple[float, float], pos_xy: XY, rgba: tuple[float, ...]) -> int:
        """A flat visual-only patch on the table (no collision): marks a target area."""
        body = self._box_body(
            (half_xy[0], half_xy[1], 0.0008),
            (pos_xy[0], pos_xy[1], 0.0008),
            rgba,
            mass=0.0,
            collide=False,
        )
        self.markers.append(body)
        return body

    # -------------------------------------------------------------- state
    def pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Position and orientation; a soft body's is its nodes' centroid, unrotated."""
        obj = self.objects[name]
        if obj.soft:
            return self.nodes(name).mean(axis=0), np.array([0.0, 0.0, 0.0, 1.0])
        pos, orn = self.client.getBasePositionAndOrientation(obj.body)
        return np.asarray(pos), np.asarray(orn)

    def yaw_of(self, name: str) -> float:
        _, orn = self.pose(name)
        return float(self.client.getEulerFromQuaternion(orn)[2])

    def z_axis(self, name: str) -> np.ndarray:
        _, orn = self.pose(name)
        return np.asarray(self.client.getMatrixFromQuaternion(orn)).reshape(3, 3)[:, 2]

    def ee_pose(self) -> tuple[np.ndarray, float]:
        """Grasp-point position and gripper yaw (0 = fingers close along y)."""
        st = self.client.getLinkState(self.robot, GRASP_LINK, computeForwardKinematics=True)
        m = np.asarray(self.client.getMatrixFromQuaternion(st[5])).reshape(3, 3)
        return np.asarray(st[4]), math.atan2(m[1, 0], m[0, 0])

    def joints(self) -> np.ndarray:
        states = self.client.getJointStates(self.robot, (*ARM_JOINTS, *FINGER_JOINTS))
        return np.asarray([s[0] for s in states])

    def finger_width(self) -> float:
        q = self.client.getJointStates(self.robot, FINGER_JOINTS)
        return float(q[0][0] + q[1][0])

    def touching(self, name: str, link: int | None = None) -> bool:
        """Rigid contact with the robot (a cloth's contacts are not reported: see ``held``)."""
        body = self.objects[name].body
        if link is None:
            return bool(self.client.getContactPoints(bodyA=body, bodyB=self.robot))
        return bool(self.client.getContactPoints(bodyA=body, bodyB=self.robot, linkIndexB=link))

    # ------------------------------------------------------------ control
    def ik(self, pos: np.ndarray, yaw: float) -> np.ndarray:
        orn = self.client.getQuaternionFromEuler([math.pi, 0.0, yaw])
        rest = list(HOME_JOINTS)
        rest[6] = HOME_JOINTS[6] - yaw
        q = self.client.calculateInverseKinematics(
            self.robot,
            GRASP_LINK,
            list(pos),
            orn,
            lowerLimits=self._lower,
            upperLimits=self._upper,
            jointRanges=self._ranges,
            restPoses=rest,
            maxNumIterations=40,
            residualThreshold=1e-4,
        )
        return np.asarray(q[:7])

    def set_arm_targets(self, q: np.ndarray) -> None:
        self.client.setJointMotorControlArray(
            self.robot,
            ARM_JOINTS,
            p.POSITION_CONTROL,
            targetPositions=list(q),
            forces=list(_ARM_FORCES),
            positionGains=[0.08] * 7,
        )

    def set_gripper(self, closed: bool) -> None:
        self.gripper_closed = bool(closed)
        target = 0.0 if closed else _FINGER_OPEN
        self.client.setJointMotorControlArray(
            self.robot,
            FINGER_JOINTS,
            p.POSITION_CONTROL,
            targetPositions=[target, target],
            forces=[_FINGER_FORCE] * 2,
            positionGains=[0.05] * 2,
        )
        if not closed:
            self.release()

    def update_grasp(self) -> None:
        """While closed, hold an assisted object pinched by both fingers with a fixed constraint,
        or the cloth nodes between the fingers with soft-body anchors."""
        if not self.gripper_closed or self._grasp_cid is not None or self._anchors:
            return
        for obj in self.objects.values():
            if obj.soft:
                if self._anchor_cloth(obj):
                    return
                continue
            if not obj.grasp_assist:
                continue
            if self.touching(obj.name, FINGER_JOINTS[0]) and self.touching(
                obj.name, FINGER_JOINTS[1]
            ):
                c = self.client
                hand = c.getLinkState(self.robot, GRASP_LINK)
                opos, oorn = c.getBasePositionAndOrientation(obj.body)
                inv_p, inv_o = c.invertTransform(hand[4], hand[5])
                rel_p, rel_o = c.multiplyTransforms(inv_p, inv_o, opos, oorn)
                self._grasp_cid = c.createConstraint(
                    self.robot,
                    GRASP_LINK,
                    obj.body,
                    -1,
                    p.JOINT_FIXED,
                    [0, 0, 0],
                    rel_p,
                    [0, 0, 0],
                    rel_o,
                    (0, 0, 0, 1),
                )
                c.changeConstraint(self._grasp_cid, maxForce=300.0)
                self.held = obj.name
                return

    def _anchor_cloth(self, obj: SceneObject) -> bool:
        """Anchor the cloth's nodes near the closed fingers' grasp point to the hand."""
        hand = np.asarray(self.client.getLinkState(self.robot, GRASP_LINK)[4])
        if self.finger_width() > 0.02:
            return False  # not closed yet: nothing is pinched
        d = np.linalg.norm(self.nodes(obj.name) - hand, axis=1)
        near = np.flatnonzero(d < CLOTH_GRASP_RADIUS)
        if near.size == 0:
            return False
        for k in near:
            self._anchors.append(
                self.client.createSoftBodyAnchor(obj.body, int(k), self.robot, GRASP_LINK)
            )
        self.held = obj.name
        return True

    def release(self) -> None:
        if self._grasp_cid is not None:
            self.client.removeConstraint(self._grasp_cid)
        for a in self._anchors:
            self.client.removeConstraint(a)
        self._anchors = []
        self._grasp_cid = None
        self.held = None

    def holding(self, name: str) -> bool:
        """Held: attached by the grasp constraint, or pinched by both fingers and off the table."""
        if self.held == name:
            return True
        return (
            self.gripper_closed
            and self.touching(name, FINGER_JOINTS[0])
            and self.touching(name, FINGER_JOINTS[1])
        )

    def step_physics(self, n: int) -> None:
        for _ in range(n):
            self.client.stepSimulation()

    # ------------------------------------------------------------ cameras
    def render(self) -> np.ndarray:
        """The fixed scene camera, (S, S, 3) uint8, tiny renderer."""
        return self._image(self._view, self._proj)

    def render_wrist(self) -> np.ndarray:
        """A camera on the hand looking along the fingers."""
        c = self.client
        st = c.getLinkState(self.robot, 8, computeForwardKinematics=True)
        m = np.asarray(c.getMatrixFromQuaternion(st[5])).reshape(3, 3)
        eye = np.asarray(st[4]) + m[:, 2] * 0.02 - m[:, 0] * 0.06
        view = c.computeViewMatrix(eye, eye + m[:, 2] * 0.3, -m[:, 0])
        return self._image(view, self._wrist_proj)

    def _image(self, view: Any, proj: Any) -> np.ndarray:
        s = self.render_size
        _, _, rgba, _, _ = self.client.getCameraImage(
            s,
            s,
            view,
            proj,
            renderer=p.ER_TINY_RENDERER,
            flags=p.ER_NO_SEGMENTATION_MASK,
            shadow=0,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(s, s, 4)[:, :, :3].copy()

    def close(self) -> None:
        with contextlib.suppress(p.error):  # already disconnected
            self.client.disconnect()
