"""The Panda lift scene, composed at load time from the Franka Emika Panda model that the installed
``gymnasium-robotics`` package ships (``envs/assets/kitchen_franka/franka_assets``: Apache-2.0, from
Vikash Kumar's ``franka`` model; kinematics, joint ranges, link masses, servo gains and torque limits as
Franka's datasheet gives them). Nothing is downloaded and no mesh is copied into sim2real.

What the composition changes (all documented in the README's "Panda lift" section):

- names: ``panda0_``/``robot:panda0_`` prefixes dropped (bodies ``link0``-``link7``, ``hand``, ``left_finger``,
  ``right_finger``; joints ``joint1``-``joint7``, ``finger_left``, ``finger_right``); the hand's geoms move from
  ``link7`` into a ``hand`` body welded at the flange (same mass and inertia), so a payload has a body to sit on;
- contacts: the link meshes keep their mass (their inertia comes from the mesh volume, not from the datasheet)
  but do not collide; the hand's convex mesh collides; each finger's 13 capsules and box are replaced by one
  box pad (18 x 10 x 32 mm, rubber-like friction) with a contact sensor;
- gravity: the links, hand and fingers are gravity-compensated (``gravcomp``) through the actuators
  (``actuatorgravcomp``, so compensation and servo share the torque limits), as the real robot's controller
  compensates its own model; a payload or a link-mass shift is *not* compensated (see
  :func:`sim2real.sim.perturb.apply_to_model`);
- servos: PD laws (:data:`SERVO_KP`, :data:`SERVO_KV`, passive :data:`JOINT_DAMPING`) instead of the asset's
  stiffness 870 / 120 N m/rad and joint damping 100 / 10 N m s/rad, under which the arm trailed its target by
  0.1 s and a Cartesian loop oscillated under latency; the asset's torque limits stay;
- the scene: the robot's base on a table whose top is z = 0 at x = -0.55 m (table frame as ``Grasp-v0``),
  a box with a free joint, a camera; timestep 1 ms, implicit-fast integration, elliptic cones.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import xml.etree.ElementTree as ET

BASE_X = -0.55  # m, robot base position along the table's x axis
PAD_HALF = (0.009, 0.005, 0.016)  # m, finger pad half-extents (x along the jaw, y across, z along the finger)
PAD_Z = 0.079  # m, pad centre along the finger body's z axis
FLANGE_TO_HAND = 0.107  # m, link7 origin to the hand's mounting plane
HAND_TO_FINGER = 0.0584  # m, hand frame to the finger bodies
PINCH_Z = FLANGE_TO_HAND + HAND_TO_FINGER + PAD_Z  # m, flange to the point between the pads


class PandaAssetError(RuntimeError):
    """The Panda model could not be found; the message says how to install it."""


@functools.cache
def franka_dir() -> str:
    """The folder of the Franka model inside the installed ``gymnasium-robotics`` (found without importing it)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise PandaAssetError(
            "the Panda model comes from the gymnasium-robotics package, which is not installed; "
            "pip install 'gymnasium-robotics>=1.4,<2' (sim2real's own install does this)"
        )
    path = os.path.join(spec.submodule_search_locations[0], "envs", "assets", "kitchen_franka", "franka_assets")
    if not os.path.isfile(os.path.join(path, "chain.xml")):
        raise PandaAssetError(f"{path}/chain.xml is missing; reinstall gymnasium-robotics (>=1.4,<2)")
    return path


def _strip(name: str) -> str:
    for prefix in ("robot:panda0_", "panda0_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


_RENAME = {
    "finger_joint1": "finger_left",
    "finger_joint2": "finger_right",
    "leftfinger": "left_finger",
    "rightfinger": "right_finger",
}


def _name(name: str) -> str:
    n = _strip(name)
    return _RENAME.get(n, n)


def _arm_chain(visual: bool) -> ET.Element:
    """``link0``'s body tree, edited as the module docstring says."""
    root = ET.parse(os.path.join(franka_dir(), "chain.xml")).getroot()
    link0 = root.find("body")
    for el in link0.iter():
        for key in ("name", "joint"):
            if key in el.attrib:
                el.set(key, _name(el.get(key)))
    link7 = next(b for b in link0.iter("body") if b.get("name") == "link7")
    hand = ET.SubElement(link7, "body", {"name": "hand", "pos": f"0 0 {FLANGE_TO_HAND}"})
    for child in list(link7):
        if child.tag == "geom" and child.get("pos", "").startswith(f"0 0 {FLANGE_TO_HAND}"):
            link7.remove(child)
            child.set("pos", "0 0 0")
            hand.append(child)
        elif child.tag == "body" and child.get("name") in ("left_finger", "right_finger"):
            link7.remove(child)
            child.set("pos", f"0 0 {HAND_TO_FINGER:.4f}")
            hand.append(child)
        elif child.tag == "site":
            link7.remove(child)
    # the pinch site sits between the pads, oriented as the fingers (x along the jaw, y across it, z out of the hand)
    ET.SubElement(
        hand,
        "site",
        {
            "name": "pinch",
            "pos": f"0 0 {HAND_TO_FINGER + PAD_Z:.4f}",
            "size": "0.005",
            "quat": "0.92388 0 0 -0.382683",
            "rgba": "1 0 0 0.5",
            "group": "4",
        },
    )
    for body in link0.iter("body"):
        if body.get("name") != "link0":
            body.set("gravcomp", "1")
        for geom in list(body.findall("geom")):
            cls = geom.get("class")
            if cls == "panda_viz":
                if not visual:
                    body.remove(geom)
            elif cls == "panda_col":
                if geom.get("mesh") != "hand_col":  # mass and inertia only
                    geom.set("contype", "0")
                    geom.set("conaffinity", "0")
                else:
                    geom.set("name", "hand")
            else:  # the finger's capsules and box: one pad instead
                body.remove(geom)
        if body.get("name") in ("left_finger", "right_finger"):
            side = 1.0 if body.get("name") == "left_finger" else -1.0
            ET.SubElement(
                body,
                "geom",
                {
                    "name": "pad_left" if side > 0 else "pad_right",
                    "class": "pad",
                    "type": "box",
                    "size": " ".join(f"{h:g}" for h in PAD_HALF),
                    "pos": f"0 {side * PAD_HALF[1]:g} {PAD_Z:g}",
                    "mass": "0",
                },
            )
    for joint in link0.iter("joint"):
        if joint.get("name", "").startswith("joint"):
            joint.set("actuatorgravcomp", "true")
    return link0


def _defaults_and_assets(visual: bool) -> tuple[ET.Element, ET.Element]:
    root = ET.parse(os.path.join(franka_dir(), "assets.xml")).getroot()
    asset, default = root.find("asset"), root.find("default")
    for mesh in list(asset):
        if mesh.get("name", "").endswith("_viz") and not visual:
            asset.remove(mesh)
        elif mesh.get("name") == "finger_col":  # the pads replace it
            asset.remove(mesh)
    return default, asset


def _actuators() -> ET.Element:
    root = ET.parse(os.path.join(franka_dir(), "actuator.xml")).getroot()
    act = root.find("actuator")
    names = {"r_gripper_finger_joint": "finger_left", "l_gripper_finger_joint": "finger_right"}
    for a in act:
        a.set("joint", _name(a.get("joint")))
        a.set("name", names.get(a.get("name"), _name(a.get("name"))))
        a.attrib.pop("user", None)
    return act


JOINT_DAMPING = {
    "joint1": 1.0,
    "joint2": 1.0,
    "joint3": 1.0,
    "joint4": 1.0,
    "joint5": 0.3,
    "joint6": 0.3,
    "joint7": 0.3,
}  # N m s/rad, passive (the asset's 100 and 10 are a controller's damping)
SERVO_KP = {
    "joint1": 3000.0,
    "joint2": 3000.0,
    "joint3": 3000.0,
    "joint4": 3000.0,
    "joint5": 400.0,
    "joint6": 400.0,
    "joint7": 400.0,
}  # N m/rad, the joint servos' stiffness
SERVO_KV = {
    "joint1": 80.0,
    "joint2": 80.0,
    "joint3": 80.0,
    "joint4": 80.0,
    "joint5": 8.0,
    "joint6": 8.0,
    "joint7": 8.0,
}  # N m s/rad, the joint servos' velocity gain


def _servos(chain: ET.Element, act: ET.Element) -> None:
    """Joint servos as a PD law: the asset's stiffness, a velocity gain near critical damping, small passive
    damping; each arm joint's actuator torque range (servo + gravity compensation) = its actuator's force range."""
    limits = {a.get("joint"): a.get("forcerange") for a in act}
    for a in act:
        if a.get("joint") in SERVO_KV:
            a.set("kp", f"{SERVO_KP[a.get('joint')]:g}")
            a.set("kv", f"{SERVO_KV[a.get('joint')]:g}")
    for joint in chain.iter("joint"):
        if joint.get("actuatorgravcomp") == "true":
            joint.set("actuatorfrcrange", limits[joint.get("name")])
            joint.set("damping", f"{JOINT_DAMPING[joint.get('name')]:g}")


SCENE = """
<mujoco model="sim2real_panda_lift">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.001" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <size memory="8M"/>
  <visual><global offwidth="640" offheight="480"/></visual>
  <default>
    <default class="pad"><geom type="box" friction="1.2 0.02 0.002" condim="4" solref="0.01 1"
      solimp="0.95 0.99 0.001" rgba="0.2 0.2 0.2 1" contype="1" conaffinity="1"/></default>
  </default>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1" directional="true"/>
    <camera name="overview" pos="0.6 -0.9 0.6" xyaxes="0.832 0.555 0 -0.25 0.37 0.89"/>
    <geom name="table" type="box" pos="-0.25 0 -0.02" size="0.6 0.45 0.02" friction="0.8 0.01 0.001"
      rgba="0.6 0.5 0.4 1" contype="2" conaffinity="2" condim="4" solref="0.01 1" solimp="0.95 0.99 0.001"/>
    <body name="mount" pos="{base_x} 0 0"/>
    <body name="object" pos="0 0 0.02">
      <freejoint name="object"/>
      <geom name="object" type="box" size="0.02 0.02 0.02" mass="0.1" friction="0.8 0.01 0.001" condim="4"
        solref="0.01 1" solimp="0.95 0.99 0.001" rgba="0.8 0.2 0.2 1" contype="3" conaffinity="3"/>
    </body>
  </worldbody>
  <contact>
    <exclude body1="left_finger" body2="right_finger"/>
  </contact>
  <sensor>
    <framepos name="pinch_pos" objtype="site" objname="pinch"/>
    <framelinvel name="pinch_vel" objtype="site" objname="pinch"/>
    <jointpos name="finger_left" joint="finger_left"/>
    <jointpos name="finger_right" joint="finger_right"/>
    <framepos name="object_pos" objtype="xbody" objname="object"/>
    <framelinvel name="object_vel" objtype="xbody" objname="object"/>
    <contact name="touch_left" geom1="pad_left" geom2="object" num="1" data="found"/>
    <contact name="touch_right" geom1="pad_right" geom2="object" num="1" data="found"/>
  </sensor>
</mujoco>
"""


@functools.cache
def panda_lift_xml(visual: bool = False) -> str:
    """The composed MJCF (a string; meshes by absolute path into the installed package). ``visual`` adds the
    visual meshes (for rendering only: they have no mass and no contacts, so physics is identical)."""
    root = ET.fromstring(SCENE.replace("{base_x}", f"{BASE_X:g}"))
    root.find("compiler").set("meshdir", os.path.join(franka_dir(), "meshes"))
    default, asset = _defaults_and_assets(visual)
    root.find("default").extend(list(default))
    root.insert(3, asset)
    chain = _arm_chain(visual)
    act = _actuators()
    _servos(chain, act)
    root.find("worldbody").find("body[@name='mount']").append(chain)
    root.append(act)
    return ET.tostring(root, encoding="unicode")
