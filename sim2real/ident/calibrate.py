"""Real-to-sim calibration: estimate canonical dynamics parameters from logged transitions.

The simulator is set to a logged state (:meth:`Sim2RealEnv.restore`), the logged actions are
replayed through the candidate's latency and deadzone for a short horizon, and the predicted
observations are compared with the logged ones. The *replay error* is the root mean square of that
prediction error over the compared observation entries, each divided by a fixed per-entry scale (so
1.0 means one scale unit, e.g. 1 cm or 0.1 m/s, of typical error), with errors beyond 3 units
counted linearly (Huber) so that a contact event the replay misses does not dominate; it measures
the sim-to-real gap of any parameter set. CMA-ES (the ``cma`` package) minimises it over the chosen
parameters, the latency as an integer coordinate.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from sim2real.ident.bootstrap import curved_inverse, newton_refit, parametric_bootstrap
from sim2real.ident.noise import noise_and_bias
from sim2real.ident.replay import CalibrationError, Replay, envs_params, measured_values
from sim2real.ident.uncertainty import (
    IDENTIFIED,
    IDENTIFIED_Z,
    MAX_REL_STD,
    THRESHOLDS,
    _sensitivity,
    hessian_at,
    restart_spread,
)
from sim2real.learn.logged import Logged
from sim2real.sim.dynamics import Values, param_spec

# Search interval of each parameter (log-scaled for scales): wider than the `wide` presets.
PRIOR: dict[str, tuple[float, float]] = {
    "mass_scale": (0.3, 3.0),
    "friction_scale": (0.2, 3.0),
    "object_mass_scale": (0.2, 6.0),
    "object_friction_scale": (0.2, 3.0),
    "damping_scale": (0.2, 5.0),
    "actuator_gain_scale": (0.2, 3.0),
    "actuator_deadzone": (0.0, 0.3),
    "payload_mass": (0.0, 3.0),  # kg
    "action_latency": (0, 5),
}
NEWTON_ROUNDS = 4  # Newton rounds (three steps each, a fresh Hessian each) that settle the estimate; two or three do
SCAN = 30  # deadzone scan: steps over its prior range (0.01 apart for 0-0.3)

def _encode(name: str, value: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(value)
    if param_spec(name).kind == "scale":
        return 10.0 * (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return 10.0 * (value - lo) / (hi - lo)


def _decode(name: str, x: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(min(max(round(x), lo), hi))
    x = min(max(x, 0.0), 10.0)
    if param_spec(name).kind == "scale":
        return math.exp(math.log(lo) + x / 10.0 * (math.log(hi) - math.log(lo)))
    return lo + x / 10.0 * (hi - lo)


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
    restarts: int = 1,
) -> dict[str, Any]:
    """Estimate ``params`` from ``logged``; returns the ``calibration.json`` record.

    The objective is the mean squared replay error plus ``prior_weight`` x (its value at the nominal
    parameters) per squared search unit away from nominal (a unit is a tenth of the log search interval,
    about x1.26 for most scales; 0.03 of deadzone): negligible where the data speaks, it keeps a direction
    the data cannot see at the nominal value instead of letting the optimiser drift along it. (At 1e-3 it was
    not negligible: on navigation's ``real`` logs, whose nominal error is 20 x the noise floor, a deadzone of
    0.12 paid a third of the floor, and the estimate stayed at zero.) ``budget`` caps the
    CMA-ES replay evaluations of each of ``restarts`` runs from nominal (CMA-ES seeds ``seed + 1``,
    ``seed + 2``, ...); the latency check and the sensitivity probes come on top. After CMA-ES, a scan
    of the thresholds and a pattern search, Newton steps with the response surface's Hessian settle the
    continuous parameters on the minimum: up to ``newton_rounds`` rounds of three steps, the Hessian evaluated
    afresh each round, until a round no longer lowers the error (1: one round with the first Hessian, as every
    calibration before this option was). With ``restarts`` > 1 every start is polished that way, the lowest is kept,
    every start's point and replay error (before and after its polish) is recorded, and the polished starts that
    fit as well as the estimate (:func:`restart_spread`) widen the stds by their distance from it: on
    ``navigate_v1`` ``slippery``'s gentle excitation, seeds stop apart along a rough, shallow valley at equal
    errors, where a local std sees one dimple. ``bootstrap`` > 0 calibrates that many simulated twins of the data
    (:mod:`sim2real.ident.bootstrap`): their spread enters the stds, and their mean shift from the estimate
    (what the segment replay itself does to the estimate) is subtracted from it."""
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
            f"restarts={restarts!r}: give an integer >= 1 (CMA-ES runs from nominal, each with its own seed)"
        )
    if not isinstance(newton_rounds, int) or newton_rounds < 1:
        raise CalibrationError(
            f"newton_rounds={newton_rounds!r}: give an integer >= 1 (Newton rounds, a fresh Hessian each; 4 typical)"
        )
    replay = Replay(logged, horizon, stride)
    fixed = replay.fixed = measured_values(replay.env, logged)
    params = [p for p in params if p not in fixed]
    nominal = {p: param_spec(p).nominal for p in params}
    before = replay(nominal)
    x0 = np.array([_encode(p, nominal[p]) for p in params])
    lam = prior_weight * before.rms**2
    cont_mask = np.array([p != "action_latency" for p in params])

    def objective(x: np.ndarray) -> tuple[float, Values]:
        v = {p: _decode(p, xi) for p, xi in zip(params, x, strict=True)}
        dx = (np.asarray(x) - x0)[cont_mask]
        return replay(v).rms ** 2 + lam * float(np.clip(dx, -10, 10) @ np.clip(dx, -10, 10)), v

    import cma

    int_idx = [i for i, p in enumerate(params) if p == "action_latency"]
    opts = {
        "bounds": [
            [PRIOR[p][0] if p == "action_latency" else 0.0 for p in params],
            [PRIOR[p][1] if p == "action_latency" else 10.0 for p in params],
        ],
        "CMA_stds": [1.0 if p == "action_latency" else 2.5 for p in params],
        "integer_variables": int_idx,
        "seed": seed + 1,
        "maxfevals": budget,
        "verbose": -9,
    }
    single = len(params) == 1
    best_f, best_v, polished = objective(x0)[0], dict(nominal), False
    from tqdm import tqdm

    total = budget * (1 if single else restarts)
    bar = tqdm(total=total, desc="calibrate (CMA-ES replays)", unit="replay", disable=None)  # off without a tty
    # one parameter: a grid over its search range (cma's step-size limits fail in 1-D), then the polish below
    grid = [np.array([x]) for x in np.linspace(*opts["bounds"][0] + opts["bounds"][1], budget)] if single else []
    for x in grid:
        bar.update(1)
        f, v = objective(x)
        if f < best_f:
            best_f, best_v = f, v
    cont = [p for p in params if p != "action_latency" and p not in THRESHOLDS]
    bounds = {p: PRIOR[p] for p in cont}

    def encoded(v: Values) -> np.ndarray:
        return np.array([_encode(p, v[p]) for p in params])

    def polish(est: Values, best_f: float) -> tuple[Values, float]:
        """A threshold scan, a pattern search and Newton rounds from ``est`` (objective ``best_f``)."""
        # a threshold (the deadzone) moves the error only where it crosses a logged command: a staircase with
        # flat treads, on which CMA-ES and the pull toward nominal stall at zero. Scan it over its prior range.
        for p in params:
            if p in THRESHOLDS:
                for m in np.linspace(*PRIOR[p], SCAN + 1):
                    f, v = objective(encoded({**est, p: float(m)}))
                    if f < best_f:
                        best_f, est = f, v
        # a pattern search (+-10, 5, 2.5 % per continuous parameter, latency +-1): contacts make the error
        # slightly rough, which leaves CMA-ES's final point a little off the minimum
        for step in (0.1, 0.05, 0.025):
            for p in params:
                if p == "action_latency":
                    moves = [est[p] - 1, est[p] + 1] if step == 0.1 else []
                    moves = [m for m in moves if PRIOR[p][0] <= m <= PRIOR[p][1]]
                else:
                    lo, hi = PRIOR[p]
                    if param_spec(p).kind == "scale":
                        moves = [min(max(est[p] * (1 + s), lo), hi) for s in (-step, step)]
                    else:  # additive: a multiplicative step cannot leave zero
                        moves = [min(max(est[p] + s * (hi - lo) / 2, lo), hi) for s in (-step, step)]
                for m in moves:
                    f, v = objective(encoded({**est, p: m}))
                    if f < best_f:
                        best_f, est = f, v
        if cont:  # settle on the minimum: the pattern search's last step is 2.5 %, coarser than a good std
            hess = lambda x: hessian_at(replay, x, cont, seed)  # noqa: E731
            refined, _ = newton_refit(
                replay, est, cont, curved_inverse(hess(est)), bounds, hessian=hess, rounds=newton_rounds
            )
            if refined != est:
                best_f, est = objective(encoded(refined))[0], refined
        return est, best_f

    starts = []  # one CMA-ES run per restart, each from nominal with its own seed, each polished; the lowest kept
    for k in range(0 if single else restarts):
        es = cma.CMAEvolutionStrategy(list(x0), 1.0, {**opts, "seed": seed + 1 + k})
        start_f, start_v = math.inf, dict(nominal)
        while not es.stop():
            xs = es.ask()
            bar.update(len(xs))
            fs = []
            for x in xs:
                f, v = objective(x)
                fs.append(f)
                if f < start_f:
                    start_f, start_v = f, v
            es.tell(xs, fs)
        stop = {key: str(val) for key, val in es.stop().items()}
        start = {"cma_seed": seed + 1 + k, "replay_error": replay(start_v).rms, "estimate": start_v, "stop": stop}
        if restarts > 1:  # the lowest start before the polish is not always the lowest after it
            start_v, start_f = polish(start_v, start_f)
            start.update(polished_estimate=start_v, polished_replay_error=replay(start_v).rms)
        starts.append(start)
        if start_f < best_f:
            best_f, best_v, polished = start_f, start_v, restarts > 1
    bar.close()
    est = dict(best_v) if polished else polish(dict(best_v), best_f)[0]
    sens = _sensitivity(replay, est, params, seed)
    after = replay(est)
    alike, spread = restart_spread(starts, est, after.rms, cont, replay.n_segments)
    accepted = set(getattr(replay.env, "params", ()))  # a user's task may take neither obs_noise_std nor obs_bias
    measured = {k: v for k, v in noise_and_bias(replay.env, logged).items() if k in accepted}
    boot: dict[str, Any] = {}
    if bootstrap and cont:
        boot = parametric_bootstrap(
            lambda data: Replay(data, horizon, stride, fixed),
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
        )
    minimum = dict(est)
    report: dict[str, Any] = {}
    for p in params:
        std = sens["std"].get(p, math.nan)
        b = boot.get("params", {}).get(p)
        if b is not None and math.isfinite(std):  # the twins' spread, and the correction's own uncertainty
            std = math.sqrt(max(std, b["std"]) ** 2 + b["bias_std"] ** 2)
            est[p] = min(max(b["corrected"], PRIOR[p][0]), PRIOR[p][1])
        if p in spread and math.isfinite(std):  # polished starts that fit as well lie this far away
            std = math.sqrt(std**2 + spread[p] ** 2)
        rel = std / est[p] if est[p] > 0 else math.inf
        seen = sens["rise"][p] >= IDENTIFIED or sens["rise_z"][p] >= IDENTIFIED_Z
        identified = seen and (p == "action_latency" or p in THRESHOLDS or rel <= MAX_REL_STD)
        report[p] = {
            "estimate": est[p],
            "std": std,
            "std_laplace": sens["std_laplace"].get(p, math.nan),
            "std_robust": sens["std_robust"].get(p, math.nan),
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
        "identified_combinations": sens["combinations"],
        "flat_directions": sens["flat"],  # what the data cannot see (name the experiment that would: sim2real design)
        "parameters": report,
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
            "name": "grid (one parameter)" if single else f"CMA-ES (cma {cma.__version__})",
            "budget": budget,
            "seed": seed,
            "prior_weight": prior_weight,
            "newton_rounds": newton_rounds,
            "evaluations": replay.evaluations,
            "stop": [s["stop"] for s in starts] if starts else {"grid": str(budget)},
            "restarts": starts,  # each start's best point and replay error, before and (restarts > 1) after its polish
            "alike_starts": alike,  # indices into restarts: polished starts that fit as well as the estimate
            "alike_rule": f"segments x (start's mean squared error / the estimate's - 1) <= {len(cont)} (parameters)",
        },
        "identified_rule": (
            f"rise >= {IDENTIFIED:.0%} at +-20 % (or >= {IDENTIFIED_Z:g} standard errors over episodes) and marginal"
            f" std (max of Laplace and cluster-robust) <= {MAX_REL_STD:.0%} of estimate"
        ),
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
