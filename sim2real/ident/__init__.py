"""System identification: estimate a robot's canonical dynamics parameters from logged episodes.

``replay`` (logged segments replayed under candidate parameters, sequentially or batched with
``mujoco.rollout``), ``calibrate`` (the search, polish and report), ``lsq`` (the least-squares solver),
``uncertainty`` (sensitivity probes, covariances, the misfit check), ``bootstrap`` (simulated twins) and
``design`` (which excitation identifies what, before any robot time)."""
