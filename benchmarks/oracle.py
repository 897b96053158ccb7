"""The stability oracle: speed of `accurate` vs `dso`, agreement with a reference, scaling.

    .venv/bin/python benchmarks/oracle.py            # a few minutes on 2 cores
    .venv/bin/python benchmarks/oracle.py --big      # 5x more objects

Everything is measured side by side in one run, one object at a time in this process, so the
ratios hold on a busy machine. The reference is the same simulation without shortcuts: exact
mass, dt 1 ms, the full 10 s, no early stop (docs/measurements.md §Oracle). `accurate` is also timed
without its static stop (objects at rest on a flat face with the COM > 2 deg inside are not
stepped). Sections:

1. TRELLIS-like meshes (10-50k faces: smooth random objects, marching cubes at 64^3-128^3,
   and CAD-like box assemblies subdivided to 10-50k faces): per-object time of `accurate` vs
   `dso` (goal: >= 4x faster), wall and CPU time, verdict agreement, and a profile per stage.
2. Unambiguous cases: shapes with a toppling angle > 2 deg from the edge (tables, cantilevers,
   T shapes, bipeds, leaning stacks) and, when present, the vendored real objects:
   agreement with the reference (goal: 100%) and with analytic truth.
3. Random blobs as the dataset sees them (32^3 occupancy -> dso.geometry.grid_to_mesh):
   agreement with the reference (goal: >= 99.5%), per-object time (aim: 10-20 ms).
4. Per-object time as faces grow: one object decimated to 1k, 10k and 100k faces.
5. The cost of finding pieces: `accurate` with and without its pieces rule on the TRELLIS-like
   meshes, interleaved (goal: at most ~10% more), split by one-shell and multi-shell meshes;
   and finding the shells from a closed mesh's edges shell by shell vs in one components pass.
6. MuJoCo's compile against the number of hull vertices, beside scipy's qhull alone: what the
   exact collision hull costs whatever dso does before it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import ConvexHull
from skimage.measure import marching_cubes

from dso.geometry import grid_to_mesh
from dso.physics import OracleConfig
from dso.physics.oracle import evaluate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tests` is a package at the repository root
from tests.physics import oracle_shapes as shapes  # noqa: E402  (boxes with hand-computed truth)

ACCURATE = OracleConfig.from_preset("accurate")
STEPPED = OracleConfig.from_preset("accurate", static_stop=False)  # always simulates
DSO = OracleConfig.from_preset("dso")
NO_PIECES = OracleConfig.from_preset("accurate", pieces=False)  # oracle 1.0's accurate
REFERENCE = OracleConfig.from_preset("accurate", dt=0.001, early_stop=False)
REDUCED_HULL = OracleConfig.from_preset("accurate", hull_tol=5e-4)  # opt-in: hull within 5e-4
STAGES = ("load", "pieces", "mass", "hull", "compile", "legacy", "simulate")


def _field(seed: int, res: int) -> np.ndarray:
    """Signed field (> 0 inside) of a random object: a body, maybe legs, a stem, arms."""
    rng = np.random.default_rng(seed)
    x = (np.arange(res) + 0.5) / res - 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    field = np.full(X.shape, -1.0)
    for _ in range(rng.integers(2, 7)):
        c, r = rng.uniform(-0.3, 0.3, 3), rng.uniform(0.04, 0.25, 3)
        if rng.random() < 0.5:
            part = 1.0 - np.sqrt(((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2
                                 + ((Z - c[2]) / r[2]) ** 2)
        else:
            part = np.min([r[0] - abs(X - c[0]), r[1] - abs(Y - c[1]), r[2] - abs(Z - c[2])],
                          axis=0) / r.min()
        field = np.maximum(field, part)
    return field


def blob_32(seed: int) -> trimesh.Trimesh | None:
    """A random object as a generated sample looks: 32^3 occupancy, marching cubes."""
    return grid_to_mesh(_field(seed, 32) > 0)


def trellis_like(seed: int, res: int) -> trimesh.Trimesh:
    """A smooth random object with TRELLIS-like face counts."""
    field = np.pad(_field(seed, res), 1, constant_values=-1.0)
    v, f, _, _ = marching_cubes(field, 0.0)
    return trimesh.Trimesh(v / res, f, process=False)


def _run(mesh, config: OracleConfig, timings: dict[str, list[float]] | None = None):
    """The result of one check (RuntimeError on an error); its stage times go to `timings`."""
    cpu = time.process_time()
    evaluation = evaluate(mesh, config)
    cpu = time.process_time() - cpu
    result = evaluation.result
    if result.status != "ok":
        raise RuntimeError(result.error)
    if timings is not None:
        timings.setdefault("cpu", []).append(cpu)
        for stage in STAGES:
            timings.setdefault(stage, []).append(evaluation.timings.get(stage, 0.0))
    return result


def _profile(name: str, timings: dict[str, list[float]]) -> str:
    """Median ms per stage (0 where a stage was skipped, e.g. by the static stop)."""
    parts = [f"{s} {1e3 * statistics.median(timings[s]):.1f}" for s in STAGES
             if s in timings and max(timings[s]) > 0]
    return f"   profile, {name} (median ms per object): " + ", ".join(parts)


def _median_ms(values: list[float]) -> str:
    return f"{1e3 * statistics.median(values):7.1f} ms"


def cad_like(k: int) -> trimesh.Trimesh:
    """A box assembly (table, T, biped, cantilever) subdivided to 10-50k faces."""
    boxes = [shapes.table(0.3 * (k % 4)), shapes.t_shape(0.1 * (k % 4)),
             shapes.biped(0.1 * (k % 4)), shapes.cantilever(0.8 + 0.3 * (k % 4))][k % 4]
    mesh = shapes.mesh_of(boxes)
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    while len(f) < 10_000:
        v, f = trimesh.remesh.subdivide(v, f)
    return trimesh.Trimesh(v, f, process=False)


def section_trellis(n: int) -> None:
    n_cad = max(1, n // 2)
    print(f"\n1. TRELLIS-like meshes ({n} marching-cubes objects, {n_cad} CAD-like assemblies)")
    faces, t_acc, t_step, t_dso, agree_pair, agree_ref, static = [], [], [], [], 0, 0, 0
    t_red, hull_vertices = [], []
    prof: dict[str, dict[str, list[float]]] = {"accurate": {}, "reduced hull": {}, "dso": {}}
    agree_reduced = 0
    meshes = [lambda s=seed: trellis_like(1000 + s, (64, 96, 128)[s % 3]) for seed in range(n)]
    meshes += [lambda k=k: cad_like(k) for k in range(n_cad)]
    n = len(meshes)
    for make in meshes:
        mesh = make()
        faces.append(len(mesh.faces))
        hull_vertices.append(len(ConvexHull(np.asarray(mesh.vertices)).vertices))
        a, d = _run(mesh, ACCURATE, prof["accurate"]), _run(mesh, DSO, prof["dso"])
        x, s = _run(mesh, REDUCED_HULL, prof["reduced hull"]), _run(mesh, STEPPED)
        agree_reduced += x.stable == a.stable
        r = _run(mesh, REFERENCE)
        t_acc.append(a.seconds)
        t_red.append(x.seconds)
        t_step.append(s.seconds)
        t_dso.append(d.seconds)
        agree_pair += a.stable == d.stable
        agree_ref += a.stable == r.stable == s.stable
        static += a.stop_reason == "static"
    print(f"   faces: {min(faces)}-{max(faces)} (median {int(statistics.median(faces))}); "
          f"{static} of {n} settled by the static stop")
    mc_hull = hull_vertices[: n - n_cad]
    print(f"   exact hull vertices (MuJoCo compiles these, section 6): marching cubes median "
          f"{int(statistics.median(mc_hull))} ({min(mc_hull)}-{max(mc_hull)}), CAD-like "
          f"median {int(statistics.median(hull_vertices[n - n_cad:]))}")
    print(f"   per object (median): accurate {_median_ms(t_acc)}, accurate without static "
          f"stop {_median_ms(t_step)}, dso {_median_ms(t_dso)}")
    speedup = {}
    for name, times in (("accurate", t_acc), ("accurate without static stop", t_step),
                        ("accurate with the reduced hull (opt-in)", t_red)):
        speedup[name] = [d / a for a, d in zip(times, t_dso, strict=True)]
        print(f"   speed-up of {name} vs dso: median {statistics.median(speedup[name]):.1f}x, "
              f"total {sum(t_dso) / sum(times):.1f}x  (goal >= 4x)")
    cpu = [d / a for a, d in zip(prof["accurate"]["cpu"], prof["dso"]["cpu"], strict=True)]
    mc = statistics.median(cpu[: n - n_cad])
    for short, name in (("accurate", "accurate"),
                        ("reduced hull", "accurate with the reduced hull (opt-in)")):
        print(f"   {short} vs dso by kind (median): marching cubes "
              f"{statistics.median(speedup[name][: n - n_cad]):.1f}x, CAD-like "
              f"{statistics.median(speedup[name][n - n_cad:]):.1f}x")
    acc = prof["accurate"]  # the bound if accurate's own stages (load, pieces, mass) were free
    mujoco = [c + s for c, s in zip(acc["compile"], acc["simulate"], strict=True)]
    bound = [d / m if m > 0 else float("inf")
             for m, d in zip(mujoco[: n - n_cad], t_dso[: n - n_cad], strict=True)]
    print(f"   with load, pieces and mass free (only MuJoCo's compile and simulate left): "
          f"marching cubes median {statistics.median(bound):.1f}x")
    print(f"   speed-up in CPU time (steadier on a busy machine): median "
          f"{statistics.median(cpu):.1f}x (marching cubes {mc:.1f}x, CAD-like "
          f"{statistics.median(cpu[n - n_cad:]):.1f}x)")
    print(f"   verdicts: accurate = dso on {agree_pair}/{n}, accurate (both) = reference on "
          f"{agree_ref}/{n}, accurate = accurate with hull_tol 5e-4 on {agree_reduced}/{n}")
    for name, timings in prof.items():
        print(_profile(name, timings))


def _unambiguous_cases() -> list[tuple[str, object, bool | None]]:
    cases = ([(f"table {o}", shapes.table(o)) for o in (0.0, 0.45, 0.9, 1.2)]
             + [(f"cantilever {a:.1f}", shapes.cantilever(a)) for a in np.arange(0.6, 2.01, 0.1)]
             + [(f"T {o}", shapes.t_shape(o)) for o in (0.0, 0.1, 0.2, 0.3, 0.4)]
             + [(f"biped {v}", shapes.biped(v)) for v in (0.0, 0.1, 0.2, 0.3, 0.4)]
             + [(f"stack {s}", shapes.leaning_stack(s)) for s in (0.02, 0.05, 0.08, 0.12, 0.15)])
    out = [(name, shapes.mesh_of(b), shapes.topple_deg(b) > 0) for name, b in cases
           if abs(shapes.topple_deg(b)) > 2.0]
    data = ROOT / "tests" / "physics" / "data"
    for name in ("pybullet/mug.obj", "pybullet/domino.obj", "pybullet/lego.obj",
                 "pybullet/random_248.obj", "pybullet/random_143.obj",
                 "pybullet/random_112.obj", "pybullet/random_106.obj", "pyvista/airplane.ply"):
        if (data / name).exists():
            out.append((name, str(data / name), None))
    return out


def section_unambiguous() -> None:
    cases = _unambiguous_cases()
    print(f"\n2. Unambiguous cases ({len(cases)}: box shapes > 2 deg from the edge, real objects)")
    acc_ref = step_ref = dso_ref = acc_truth = dso_truth = n_truth = 0
    for name, mesh, truth in cases:
        a, d, r = _run(mesh, ACCURATE), _run(mesh, DSO), _run(mesh, REFERENCE)
        acc_ref += a.stable == r.stable
        step_ref += _run(mesh, STEPPED).stable == r.stable
        dso_ref += d.stable == r.stable
        if truth is not None:
            n_truth += 1
            acc_truth += a.stable == truth
            dso_truth += d.stable == truth
        if a.stable != r.stable or (truth is not None and a.stable != truth):
            print(f"   disagreement: {name}: accurate {a.stable}, reference {r.stable}")
    print(f"   accurate = reference: {acc_ref}/{len(cases)} ({100 * acc_ref / len(cases):.1f}%,"
          f" goal 100%);  without static stop {step_ref}/{len(cases)};  dso preset = reference:"
          f" {dso_ref}/{len(cases)}")
    print(f"   = analytic truth (box shapes): accurate {acc_truth}/{n_truth}, "
          f"dso preset {dso_truth}/{n_truth}")


def section_blobs(n: int) -> None:
    print(f"\n3. Random blobs, 32^3 occupancy ({n} objects)")
    agree = agree_step = agree_dso = stable = ambiguous = static = 0
    faces, t_acc, t_step, mismatches = [], [], [], []
    count = 0
    for seed in range(n):
        mesh = blob_32(seed)
        if mesh is None:
            continue
        count += 1
        a, r, d = _run(mesh, ACCURATE), _run(mesh, REFERENCE), _run(mesh, DSO)
        s = _run(mesh, STEPPED)
        faces.append(len(mesh.faces))
        t_acc.append(a.seconds)
        t_step.append(s.seconds)
        agree += a.stable == r.stable
        agree_step += s.stable == r.stable
        static += a.stop_reason == "static"
        agree_dso += d.stable == r.stable
        stable += bool(r.stable)
        ambiguous += a.topple_angle_deg is not None and abs(a.topple_angle_deg) < 2.0
        if a.stable != r.stable or s.stable != r.stable:
            mismatches.append(f"seed {seed}: toppling angle {a.topple_angle_deg}, tilt "
                              f"{a.tilt_deg:.1f} (no static stop {s.tilt_deg:.1f}) vs reference "
                              f"{r.tilt_deg:.1f}")
    print(f"   faces median {int(statistics.median(faces))}; reference says "
          f"{100 * stable / count:.1f}% stable; {ambiguous} start within 2 deg of an edge; "
          f"{static} settled by the static stop")
    print(f"   accurate = reference: {agree}/{count} ({100 * agree / count:.2f}%, goal >= 99.5%);"
          f"  without static stop {agree_step}/{count};  dso preset = reference: "
          f"{agree_dso}/{count} ({100 * agree_dso / count:.2f}%)")
    for line in mismatches:
        print(f"   disagreement: {line}")
    print(f"   accurate per object: median {_median_ms(t_acc)}, "
          f"mean {1e3 * statistics.mean(t_acc):.1f} ms, p90 "
          f"{1e3 * float(np.percentile(t_acc, 90)):.1f} ms; without static stop median "
          f"{_median_ms(t_step)}")


def section_scaling(repeat: int) -> None:
    import fast_simplification

    print("\n4. Per-object time as faces grow (one object, decimated; median of "
          f"{repeat} runs)")
    base = trellis_like(7, 200)
    for target in (1_000, 10_000, 100_000):
        v, f = fast_simplification.simplify(np.asarray(base.vertices, np.float32),
                                             np.asarray(base.faces, np.int32),
                                             target_reduction=1 - target / len(base.faces))
        mesh = trimesh.Trimesh(v, f, process=False)
        times = {}
        for name, config in (("accurate", ACCURATE), ("stepped", STEPPED), ("dso", DSO)):
            times[name] = [_run(mesh, config).seconds for _ in range(repeat)]
        acc, step, dso_t = (statistics.median(times[k]) for k in ("accurate", "stepped", "dso"))
        print(f"   {len(f):>7} faces: accurate {1e3 * acc:7.1f} ms (without static stop "
              f"{1e3 * step:7.1f} ms), dso {1e3 * dso_t:7.1f} ms ({dso_t / acc:.1f}x, "
              f"{dso_t / step:.1f}x)")


def section_pieces(n: int, repeat: int) -> None:
    from dso.physics.shells import shell_labels

    print(f"\n5. Cost of the pieces rule on TRELLIS-like meshes ({n} objects and the largest "
          f"shell of each, median of {repeat} interleaved runs each)")
    groups: dict[str, list[tuple[float, float]]] = {"one shell": [], "several shells": []}
    verdicts = {"multi-piece": 0, "debris dropped": 0}
    meshes = []
    for seed in range(n):
        whole = trellis_like(1000 + seed, (64, 96, 128)[seed % 3])
        meshes.append(whole)  # and its largest shell alone: a one-shell mesh of the same kind
        meshes.append(max(whole.split(only_watertight=False), key=lambda m: len(m.faces)))
    labels: list[tuple[float, float]] = []  # (searched, components) seconds per closed mesh
    for mesh in meshes:
        shells = shell_labels(np.asarray(mesh.faces), len(mesh.vertices))[0]
        with_p, without = [], []
        for _ in range(repeat):
            with_p.append(_run(mesh, ACCURATE).seconds)
            without.append(_run(mesh, NO_PIECES).seconds)
        labels.append(_label_times(mesh, repeat))
        result = _run(mesh, ACCURATE)
        verdicts["multi-piece"] += result.pieces > 1
        verdicts["debris dropped"] += result.debris_pieces > 0
        groups["one shell" if shells == 1 else "several shells"].append(
            (statistics.median(with_p), statistics.median(without)))
    for name, pairs in groups.items():
        if not pairs:
            continue
        w, o = (statistics.median(x) for x in zip(*pairs, strict=True))
        ratios = [a / b for a, b in pairs]
        print(f"   {name} ({len(pairs)}): with pieces {1e3 * w:.1f} ms, without {1e3 * o:.1f} ms"
              f" per object (median); ratio median {statistics.median(ratios):.3f} "
              f"(goal <= 1.10)")
    print(f"   verdicts: {verdicts['multi-piece']} multi-piece, {verdicts['debris dropped']} with "
          f"debris dropped, of {len(meshes)}")
    s, c = (statistics.median(x) for x in zip(*labels, strict=True))
    print(f"   shells from the closed mesh's edges: a breadth-first search per shell {1e3 * s:.2f} "
          f"ms, strong components {1e3 * c:.2f} ms per mesh (median); ratio median "
          f"{statistics.median(a / b for a, b in labels):.2f}")


def _label_times(mesh: trimesh.Trimesh, repeat: int) -> tuple[float, float]:
    """Median seconds of `shell_labels` from the edges `loading.prepare` keeps: searching
    shell by shell (the default) and strong components at once (`searched=0`), interleaved."""
    from dso.physics.loading import prepare
    from dso.physics.shells import SEARCHED_SHELLS, shell_labels
    from dso.physics.topology import EDGES_KEY

    prepared = prepare(mesh)[0]
    f, n, edges = np.asarray(prepared.faces), len(prepared.vertices), prepared.metadata[EDGES_KEY]
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for searched, out in ((SEARCHED_SHELLS, times[0]), (0, times[1])):
            start = time.perf_counter()
            shell_labels(f, n, edges, searched)
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def section_compile(repeat: int) -> None:
    """MuJoCo's compile against the number of hull vertices (points on a sphere: all of them
    are hull vertices), beside scipy's qhull on the same points: the floor of the exact hull."""
    from dso.physics.mass import MassProperties
    from dso.physics.model import build_hull_model

    print("\n6. MuJoCo compiling the exact hull, by its number of vertices (points on a sphere, "
          f"median of {repeat})")
    props = MassProperties(1.0, np.zeros(3), np.eye(3) * 0.1, "mesh")
    rng = np.random.default_rng(0)
    for count in (500, 2000, 8000):
        points = rng.normal(size=(count, 3))
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        compile_s, qhull_s = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            build_hull_model(points, props, 0.002)
            t1 = time.perf_counter()
            ConvexHull(points)
            compile_s.append(t1 - t0)
            qhull_s.append(time.perf_counter() - t1)
        c, q = statistics.median(compile_s), statistics.median(qhull_s)
        print(f"   {count:5d} hull vertices: MuJoCo compile {1e3 * c:6.1f} ms "
              f"({1e6 * c / count:.1f} us per vertex); scipy's qhull alone {1e3 * q:6.1f} ms "
              f"({1e6 * q / count:.1f} us per vertex)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="5x more objects")
    parser.add_argument("--sections", default="123456", help="which sections to run [123456]")
    args = parser.parse_args()
    scale = 5 if args.big else 1
    start = time.perf_counter()
    runs = {"1": lambda: section_trellis(12 * scale), "2": section_unambiguous,
            "3": lambda: section_blobs(300 * scale), "4": lambda: section_scaling(3),
            "5": lambda: section_pieces(12 * scale, 3), "6": lambda: section_compile(5)}
    for key in args.sections:
        runs[key]()
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
