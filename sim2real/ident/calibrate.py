"""Real-to-sim calibration: estimate canonical dynamics parameters from logged transitions, with stds that say
what the data pins down, and a misfit check that says when the model cannot explain the data at all. The
pieces: replay (``replay``, ``rollout``), search (``lsq``, ``cma_search``, ``space``), uncertainty
(``uncertainty``, ``bootstrap``, ``noise``), the misfit check (``misfit``); this module runs them in order and
assembles the report."""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import Any

from sim2real.ident import lsq
from sim2real.ident.bootstrap import parametric_bootstrap
from sim2real.ident.cma_search import SCAN, cma_search
from sim2real.ident.lsq import gauss_newton
from sim2real.ident.misfit import noise_floor, subset_check, verdict
from sim2real.ident.noise import noise_and_bias
from sim2real.ident.replay import CalibrationError, Replay, envs_params, measured_values
from sim2real.ident.rollout import BatchedReplay
from sim2real.ident.search import HOP, RESTARTS, SIGMA_HOP, START_BUDGET, multi_start
from sim2real.ident.space import PRIOR, _encode
from sim2real.ident.uncertainty import (
    IDENTIFIED,
    IDENTIFIED_Z,
    MAX_REL_STD,
    THRESHOLDS,
    _sensitivity,
    hessian_at,
    restart_spread,
    sysid_std,
    threshold_std,
)
from sim2real.learn.logged import Logged
from sim2real.sim.dynamics import Values, param_spec

NEWTON_ROUNDS = 4  # solver=cma: Newton rounds (three steps each, a fresh Hessian each) that settle the estimate
# solver=lm: least-squares iterations of a bootstrap twin whose episodes ended early (chord steps need the data's)
TWIN_ITERATIONS = 2
CHORD_ITERATIONS = 2  # solver=lm: Gauss-Newton steps of each bootstrap twin with the data's Jacobian (one replay each)
SUBSET_ITERATIONS = 1  # least-squares iterations of the full-set refit that checks a subset calibration (a slow
# replay, the Panda's, costs 9 s: eight iterations took 415 s, two 240 s; one shows a misspecified subset)


def precise(estimate: float, std: float, bound: float, step: float = 0.0) -> bool:
    """Whether ``std`` (a threshold's: its profile interval's half-width) is at most ``bound`` x ``estimate``, or
    one scan ``step``: the precision a flag asks for (``identified_rel_std``). A NaN or infinite std never is."""
    return math.isfinite(std) and (estimate > 0 or step > 0) and std <= max(bound * estimate, step)


def scan_step(name: str) -> float:
    """The grid step of a threshold's scan (the deadzone's), in its own units: its search interval over
    :data:`~sim2real.ident.cma_search.SCAN`."""
    return (PRIOR[name][1] - PRIOR[name][0]) / SCAN


def at_edge(est: Values, cont: list[str], std: dict[str, float], flat: Collection[str] = ()) -> list[str]:
    """The continuous parameters whose estimate lies within 1 % of the search interval (in search units) of a
    bound of :data:`~sim2real.ident.space.PRIOR`, or within 3 of its stds of one: a bounded minimum, not a
    minimum (the minimum may lie beyond, and the other parameters compensate). A lower bound that is the
    physical limit (a payload of 0 kg) does not count, nor does the 3-std reach of a ``flat`` parameter (one the
    data does not see: moving it changes no fit, so nothing compensates for it; its wide std reaches a bound
    wherever it lies, and on cov_b unflagged a mass 0.07 stds from the truth)."""
    out = []
    for p in cont:
        lo, hi = PRIOR[p]
        s = std.get(p, math.nan)
        x = _encode(p, est[p])
        s = s if math.isfinite(s) and p not in flat else 0.0
        low = (x <= 0.1 or est[p] - lo <= 3 * s) and lo > param_spec(p).low
        high = x >= 9.9 or hi - est[p] <= 3 * s
        if low or high:
            out.append(p)
    return out


class Cost:
    """Replays and MuJoCo steps spent, and the wall-clock, per phase, over every replay a calibration makes."""

    def __init__(self, replay: Replay) -> None:
        self.replays: list[Replay] = [replay]
        self.frame_skip = int(getattr(replay.env, "frame_skip", 1))
        self.t = time.perf_counter()
        self.mark = (0, 0)
        self.phases: dict[str, dict[str, float]] = {}

    def track(self, replay: Replay) -> Replay:
        self.replays.append(replay)
        return replay

    def _totals(self) -> tuple[int, int]:
        return sum(r.evaluations for r in self.replays), sum(r.steps for r in self.replays)

    def phase(self, name: str, detail: dict[str, int] | None = None) -> None:
        """Close phase ``name``: what was spent since the last phase closed."""
        ev, st = self._totals()
        now = time.perf_counter()
        self.phases[name] = {
            "replays": ev - self.mark[0],
            "control_steps": st - self.mark[1],
            "mujoco_steps": (st - self.mark[1]) * self.frame_skip,
            "wall_s": round(now - self.t, 3),
            **({"replays_by_step": detail} if detail else {}),
        }
        self.mark, self.t = (ev, st), now

    def record(self) -> dict[str, Any]:
        total = {k: sum(p[k] for p in self.phases.values()) for k in ("replays", "control_steps", "mujoco_steps")}
        return {"phases": self.phases, "total": total}


def check_params(task: str, params: list[str]) -> list[str]:
    """``params`` if every name can be calibrated on ``task``; else a one-line CalibrationError."""
    allowed = envs_params(task)
    for p in params:
        if p not in PRIOR:
            raise CalibrationError(
                f"params: '{p}' cannot be calibrated from replayed transitions; choose from: {', '.join(PRIOR)}"
            )
        if p not in allowed:
            raise CalibrationError(f"params: '{p}' does not apply to task {task}; it accepts: {', '.join(allowed)}")
    if len(set(params)) != len(params) or not params:
        raise CalibrationError(f"params={params}: give a non-empty list without repeats")
    return list(params)


def calibrate(
    logged: Logged,
    params: list[str],
    budget: int = 200,
    seed: int = 0,
    horizon: int = 10,
    stride: int = 20,
    prior_weight: float = 1e-5,
    profiles: dict[str, Values] | None = None,
    bootstrap: int = 0,
    newton_rounds: int = NEWTON_ROUNDS,
    restarts: int = RESTARTS,
    solver: str = "lm",
    start_budget: int = START_BUDGET,
    threads: int | None = None,
    default_params: list[str] | None = None,
    hop: float = HOP,
    sigma_hop: float = SIGMA_HOP,
    identified_rel_std: float = MAX_REL_STD,
) -> dict[str, Any]:
    """Estimate ``params`` from ``logged``; returns the ``calibration.json`` record.

    The objective is the mean squared replay error (:mod:`sim2real.ident.replay`) plus ``prior_weight`` x (its
    value at the nominal parameters) per squared search unit away from nominal (:mod:`sim2real.ident.space`):
    negligible where the data speaks, it keeps a direction the data cannot see at its nominal value.

    - ``solver="lm"`` (default, :func:`sim2real.ident.lsq.lm_search`): a coarse CMA-ES start of ``start_budget``
      replays, latency and deadzone scans, and least squares with batched forward-difference Jacobians; the
      Jacobian gives the Gauss-Newton Hessian and the per-segment gradients of the uncertainty.
    - ``solver="cma"`` (:func:`sim2real.ident.cma_search.cma_search`): ``restarts`` CMA-ES runs of ``budget``
      replays, a threshold scan, a pattern search and ``newton_rounds`` Newton rounds, as before the solver.

    Replays run batched on ``threads`` threads (:class:`~sim2real.ident.rollout.BatchedReplay`). ``bootstrap``
    > 0 calibrates that many simulated twins (:mod:`sim2real.ident.bootstrap`): their spread and their mean
    shift widen the stds, and the shift is subtracted. The misfit check (:mod:`sim2real.ident.misfit`) compares
    the replay error with the noise-only twins' and, for a subset of ``default_params``, with the full set;
    a misfit flags no parameter. A parameter is flagged identified only where the data moves it and its std is at
    most ``identified_rel_std`` of its estimate (0.05: two stds within 10 %). Why each piece is there, with the
    measurements: ``docs/lab_notes.md``."""
    t0 = time.perf_counter()
    task = logged.task
    params = check_params(task, params)
    if not isinstance(budget, int) or budget < 10:
        raise CalibrationError(f"budget={budget!r}: must be an integer >= 10 (CMA-ES replay evaluations)")
    if not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise CalibrationError(
            f"bootstrap={bootstrap!r}: give 0 (off) or the number of simulated twins to calibrate, >= 2 (10-20 typical)"
        )
    if not isinstance(restarts, int) or restarts < 1:
        raise CalibrationError(
            f"restarts={restarts!r}: give an integer >= 1 (searches from nominal, each with its own seed)"
        )
    if solver == "lm" and restarts > 1 and start_budget == 0:
        raise CalibrationError(
            f"restarts={restarts} with start_budget=0: every least-squares start would be nominal; give "
            "start_budget > 0 (each start's own coarse CMA-ES) or restarts=1"
        )
    if not isinstance(newton_rounds, int) or newton_rounds < 1:
        raise CalibrationError(
            f"newton_rounds={newton_rounds!r}: give an integer >= 1 (Newton rounds, a fresh Hessian each; 4 typical)"
        )
    if solver not in ("lm", "cma"):
        raise CalibrationError(f"solver={solver!r}: give lm (least squares, the default) or cma (CMA-ES, as before)")
    if not isinstance(start_budget, int) or start_budget < 0:
        raise CalibrationError(
            f"start_budget={start_budget!r}: give an integer >= 0 (the coarse CMA-ES start's replays)"
        )
    if not isinstance(hop, (int, float)) or not math.isfinite(hop) or hop < 0:
        raise CalibrationError(
            f"hop={hop!r}: give a number >= 0 (search units of the two valley hops; 0: none, {HOP:g} typical)"
        )
    if not isinstance(sigma_hop, (int, float)) or not math.isfinite(sigma_hop) or sigma_hop < 0:
        raise CalibrationError(
            f"sigma_hop={sigma_hop!r}: give a number >= 0 (the estimate's stds of the last two hops; 0: none, "
            f"{SIGMA_HOP:g} typical)"
        )
    if not isinstance(identified_rel_std, (int, float)) or not 0 < identified_rel_std <= 1:
        raise CalibrationError(
            f"identified_rel_std={identified_rel_std!r}: give a number in (0, 1] (the largest std, as a fraction of"
            f" the estimate, of a parameter flagged identified; {MAX_REL_STD:g}: two stds within 10 %)"
        )
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise CalibrationError(
            f"threads={threads!r}: give a positive integer (rollout threads), or null for every core"
        )
    replay = BatchedReplay(logged, horizon, stride, threads=threads)
    fixed = replay.fixed = measured_values(replay.env, logged)
    params = [p for p in params if p not in fixed]
    nominal = {p: param_spec(p).nominal for p in params}
    before = replay(nominal)
    cont = [p for p in params if p != "action_latency" and p not in THRESHOLDS]
    bounds = {p: PRIOR[p] for p in cont}
    lam = prior_weight * before.rms**2
    cost = Cost(replay)
    starts: list[dict[str, Any]] = []
    surface = None
    if solver == "cma":
        est, starts, optimiser = cma_search(replay, params, nominal, lam, budget, seed, restarts, newton_rounds)
        cost.phase("search")
    else:
        if not lsq.has_coarse_start(params, start_budget):  # every start would be the same search
            restarts = 1
        found, spent, starts = multi_start(
            replay, params, cont, nominal, lam, start_budget, seed, restarts, hop, sigma_hop
        )
        est, optimiser = dict(found.values), "least squares (mujoco.minimize Levenberg-Marquardt, batched Jacobians)"
        surface = gauss_newton(found, replay.segment_of, replay.n_segments)
        cost.phase("search", spent)
    sens = _sensitivity(replay, est, params, seed, surface=surface, rel_std=identified_rel_std)
    by_sysid = sysid_std(found.jacobian, found.residuals, cont) if solver != "cma" else {}
    after = replay(est)
    grid = {p: scan_step(p) for p in params if p in THRESHOLDS}
    profiled = {p: threshold_std(replay, est, p, step, after.rms**2) for p, step in grid.items()}
    cost.phase("uncertainty")
    alike, spread = restart_spread(starts, est, after.rms, cont, replay.n_segments)
    accepted = list(getattr(replay.env, "params", ()))  # a user's task may take neither obs_noise_std nor obs_bias
    measured = {k: v for k, v in noise_and_bias(replay.env, logged).items() if k in accepted}

    def make_replay(data: Logged) -> BatchedReplay:
        return cost.track(BatchedReplay(data, horizon, stride, fixed, threads=replay.threads))

    boot: dict[str, Any] = {}
    if bootstrap and cont:
        refit = None
        if solver == "lm":  # each twin: chord steps with the data's Jacobian (else a few least-squares iterations)

            def refit(rep: BatchedReplay, x: Values) -> tuple[Values, float]:
                done = lsq.chord_fit(rep, found, cont, lam, CHORD_ITERATIONS)
                if done is None:
                    f = lsq.fit(rep, x, cont, lam, TWIN_ITERATIONS)
                    done = (f.values, f.rms**2)
                return done

        boot = parametric_bootstrap(
            make_replay,
            replay,
            logged,
            est,
            cont,
            sens["hessian"],
            measured,
            after.rms**2,
            bounds,
            bootstrap,
            seed,
            hessian_of=lambda rep, x: hessian_at(rep, x, cont, seed),
            rounds=newton_rounds,
            refit=refit,
        )
        cost.phase("twins")
    floor = noise_floor(make_replay, replay, logged, est, measured, seed)
    subset = subset_check(
        replay,
        est,
        params,
        [p for p in (default_params or []) if p in PRIOR and p not in fixed],
        lambda start, names: lsq.fit(replay, start, names, lam, SUBSET_ITERATIONS),
    )
    misfit = verdict(after.rms / floor if floor > 0 else math.nan, subset, accepted, params)
    cost.phase("misfit")
    minimum = dict(est)
    seen = {p for p in params if sens["rise"][p] >= IDENTIFIED or sens["rise_z"][p] >= IDENTIFIED_Z}
    edge = at_edge(est, cont, sens["std"], flat={p for p in cont if p not in seen})
    report: dict[str, Any] = {}
    for p in params:
        std = profiled[p][0] if p in profiled else sens["std"].get(p, math.nan)
        b = boot.get("params", {}).get(p)
        if b is not None and math.isfinite(std):
            # the twins' spread, the correction's own uncertainty, and the shift itself: where the replay error is
            # biased (a noisy start state in a contact, a model that leaves something out), the correction is
            # linear and trusted only to its own size
            std = math.sqrt(max(std, b["std"]) ** 2 + b["bias_std"] ** 2 + b["bias"] ** 2)
            est[p] = min(max(b["corrected"], PRIOR[p][0]), PRIOR[p][1])
        if p in spread and math.isfinite(std):  # polished starts that fit as well lie this far away
            std = math.sqrt(std**2 + spread[p] ** 2)
        if p in profiled:  # a threshold: its profile interval at most the bound or one scan step either side
            tight = precise(est[p], profiled[p][1], identified_rel_std, grid[p])
        else:
            tight = p == "action_latency" or precise(est[p], std, identified_rel_std)
        identified = p in seen and tight
        # a std around a wrong minimum, or at the search interval's edge (the minimum may lie beyond it, and the
        # other parameters compensate), flags nothing
        identified = identified and not misfit["misfit"] and not edge
        report[p] = {
            "estimate": est[p],
            "std": std,
            "std_laplace": sens["std_laplace"].get(p, math.nan),
            "std_robust": sens["std_robust"].get(p, math.nan),
            "std_sysid": by_sysid.get(p, math.nan),  # mujoco.sysid.calculate_intervals, for comparison only
            "identifiability": sens["rise"][p],
            "identifiability_z": sens["rise_z"][p],
            "replay_error_minus": math.sqrt(sens["minus"][p]),
            "replay_error_plus": math.sqrt(sens["plus"][p]),
            "identified": bool(identified),
        }
        if b is not None:
            report[p].update(estimate_uncorrected=minimum[p], bootstrap_bias=b["bias"], std_bootstrap=b["std"])
        if p in spread:
            report[p]["std_restarts"] = spread[p]
        if p in profiled:
            report[p]["std_from"] = "profile: the scan points within one chi-square unit (uncertainty.threshold_std)"
            report[p]["profile_half_width"] = profiled[p][1]
            report[p]["profile_interval"] = list(profiled[p][2])
    for p, v in measured.items():
        report[p] = {
            "estimate": v,
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "kinematic consistency of position and velocity readings (see calibrate.noise_and_bias)",
        }
    if boot and "action_noise_std" in accepted:
        report["action_noise_std"] = {
            "estimate": boot["action_noise_std"],
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "matched: the action noise at which the twins' replay error equals the data's (what the"
            " measured observation noise and bias leave of it, carried as process noise; see sim2real.ident.bootstrap)",
        }
    for p, v in fixed.items():
        report[p] = {
            "estimate": v,
            "std": math.nan,
            "identifiability": math.nan,
            "identified": True,
            "measured": "read off the observations (median box half-extent reading / the model's)",
        }
    return {
        "task": task,
        "dataset": str(logged.path),
        "episodes": logged.episodes,
        "steps": logged.steps,
        "params": list(report),
        "estimate": {p: r["estimate"] for p, r in report.items()},
        "std": {p: r["std"] for p, r in report.items()},
        "identifiability": {p: r["identifiability"] for p, r in report.items()},
        "identified": {p: r["identified"] for p, r in report.items()},
        "correlation": sens["corr"],
        # a misfit or a bounded minimum pins down no combination either
        "identified_combinations": [] if misfit["misfit"] or edge else sens["combinations"],
        "flat_directions": sens["flat"],  # what the data cannot see (name the experiment that would: sim2real design)
        "parameters": report,
        "misfit": misfit["misfit"],
        "at_search_edge": edge,  # continuous parameters within 3 std (or 1 % of the interval) of a search bound
        "misfit_ratio": misfit["ratio"],
        "misfit_check": {**misfit, "noise_floor_replay_error": floor},
        "replay_error_before": before.rms,
        "replay_error_after": after.rms,  # at the minimum (before a bootstrap correction)
        "replay_error_corrected": replay(est).rms if boot else after.rms,
        "bootstrap": {
            "replicates": boot.get("replicates", 0),
            "twin": "each episode simulated whole at the estimate from its first reading under its logged actions,"
            " with the measured observation noise and bias and the matched action noise; refit by Newton rounds"
            " from the estimate as the data was (sim2real.ident.bootstrap)",
            "twin_replay_error": boot.get("replay_error", []),  # each twin's, at its fit
            "data_replay_error": boot.get("data_replay_error", math.nan),  # the data's, at the estimate
            "twin_replay_error_without_action_noise": boot.get("twin_replay_error_without_action_noise", math.nan),
            "action_noise_std": boot.get("action_noise_std", math.nan),
            "estimates": boot.get("estimates", []),
        },
        # the sim-to-real gap of other parameter sets, measured the same way (values not given: nominal)
        "replay_error_of": {name: replay(values).rms for name, values in (profiles or {}).items()},
        "diverged_segments_after": after.diverged,
        "replay": {
            "horizon_steps": horizon,
            "stride_steps": stride,
            "segments": replay.n_segments,
            "compared_observations": list(replay.dims),
            "scales": [float(1.0 / x) for x in replay.inv_scale],
        },
        "optimiser": {
            "name": optimiser,
            "solver": solver,
            "start_budget": start_budget if solver == "lm" else None,
            "budget": budget,
            "seed": seed,
            "searches": restarts,  # starts run (solver=lm: one where a single parameter has no coarse start)
            "hop": hop if solver == "lm" else None,  # search units of the valley hops (lsq.valley_hops; 0: none)
            "sigma_hop": sigma_hop if solver == "lm" else None,  # the estimate's stds of the last hops (0: none)
            "prior_weight": prior_weight,
            "newton_rounds": newton_rounds,
            "evaluations": replay.evaluations,
            "stop": [s["stop"] for s in starts] if starts else ({"grid": str(budget)} if solver == "cma" else None),
            "restarts": starts,  # each start's best point and replay error, before and (restarts > 1) after its polish
            "alike_starts": alike,  # indices into restarts: polished starts that fit as well as the estimate
            "alike_rule": f"segments x (start's mean squared error / the estimate's - 1) <= {len(cont)} (parameters)",
        },
        "identified_rel_std": identified_rel_std,
        "identified_rule": (
            f"rise >= {IDENTIFIED:.0%} at +-20 % (or >= {IDENTIFIED_Z:g} standard errors over episodes) and marginal"
            f" std (max of Laplace and cluster-robust) <= {identified_rel_std:.0%} of estimate; a threshold (deadzone):"
            f" its profile interval's longer half-width <= {identified_rel_std:.0%} of estimate or one scan step"
        ),
        "cost": {**cost.record(), "threads": replay.threads, "batched": replay.batched},
        "wall_s": time.perf_counter() - t0,
    }


def randomization_from(result: dict[str, Any], default: dict[str, list[float]]) -> dict[str, list[float]]:
    """A randomisation centred on the estimate: identified parameters within +-max(10 %, 2 std) (latency
    exactly); observation noise and bias from zero to 1.25 x their estimates; the others over the union of
    the ``default`` preset's range and +-25 % (or +-0.05) around the estimate; parameters not calibrated
    (action noise) keep the preset's range."""
    out = {k: [float(v[0]), float(v[1])] for k, v in default.items()}
    for p, r in result["parameters"].items():
        est = float(r["estimate"])
        if p in ("obs_noise_std", "obs_bias"):  # measured: from none up to 1.25 x the estimate
            out[p] = [0.0, round(1.25 * est, 5)]
            continue
        if p == "action_noise_std":  # matched (a lumped process noise): never narrower than the preset
            out[p] = [0.0, round(max(1.25 * est, out.get(p, [0.0, 0.0])[1]), 5)]
            continue
        if p == "action_latency":
            out[p] = [int(est), int(est)] if r["identified"] else [int(max(est - 1, 0)), int(est) + 1]
            continue
        linear = param_spec(p).kind != "scale"
        if r["identified"]:
            w = max(0.1 * est, 2 * r["std"]) if math.isfinite(r["std"]) else 0.1 * est
            if linear:
                w = max(w, 0.01)
            lo, hi = max(est - w, 0.0), est + w
        else:
            lo, hi = (max(est - 0.05, 0.0), est + 0.05) if linear else (est / 1.25, est * 1.25)
            if p in default:
                lo, hi = min(lo, default[p][0]), max(hi, default[p][1])
        lo, hi = max(lo, param_spec(p).low), min(hi, param_spec(p).high)
        out[p] = [round(float(lo), 4), round(float(hi), 4)]
    return out
