"""compare's worker process: ``python -m sim2real.transfer.worker -m unit=<spec>.json,... hydra/launcher=...``, one
Hydra multirun of :func:`sim2real.transfer.units.run_unit` (the transfer layer launches its own module, never the
command line above it)."""

from __future__ import annotations

import sys
from typing import Any


def _job(cfg: Any) -> None:
    from sim2real.learn.schemas import check
    from sim2real.transfer.units import run_unit

    check(cfg, "unit")
    run_unit(cfg)


def main() -> None:
    import hydra

    import sim2real.configs  # noqa: F401  (the generated dr / dynamics groups)
    from sim2real.sim import tasks

    args = sys.argv[1:]
    if "--config-dir" in args:  # the folder of the task YAML compare's task came from: registered here too
        tasks.load_dirs([args[args.index("--config-dir") + 1]])
    sys.argv = ["sim2real unit", *args]
    hydra.main(config_path="pkg://sim2real.configs", config_name="unit", version_base="1.3")(_job)()


if __name__ == "__main__":
    main()
