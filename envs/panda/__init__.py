"""The Franka Emika Panda lift task (``sim2real/PandaLift-v0``, task ``panda_lift``): the model's composition
(:mod:`.model`), the env with its Cartesian controller (:mod:`.env`) and the scripted demonstrator
(:mod:`.scripted`). It enters sim2real through its task YAML (``configs/task/panda_lift.yaml``), like any robot."""
