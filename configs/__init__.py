"""sim2real's Hydra configs. The ``dr`` and ``dynamics`` groups are generated from the parameter table and the
task registry when this package is imported (:mod:`sim2real.sim.groups`)."""

from sim2real.learn.schemas import store as _store_schemas
from sim2real.sim.groups import store as _store

_store()
_store_schemas()
