"""`igcli explain --ray`: what a cluster costs to start, and each worker's throughput against
igcli's own engine in one plain process, measured in one run.

    python benchmarks/ray_bench.py                                   # 2 workers of 1 CPU
    python benchmarks/ray_bench.py --workers 1 --cpus-per-worker 2 --images 480
    python benchmarks/ray_bench.py --model my.keras --images-from photos/ --steps 100

Needs the ray extra (pip install 'igcli[ray]'). In this one run it measures:
  (e) engine: one plain process pinned (sched_setaffinity) to --cpus-per-worker CPUs, with
      TensorFlow's thread pools and igcli's branches sized as a worker sizes them, that does a
      worker's work: decode each group's image files from bytes, explain_group. Its steady rate
      (instances per second after the first group, which traces the gradient function), and the
      same per CPU second of the process. It runs at a Ray worker's niceness (15): on a machine
      shared with other jobs, Ray's workers yield to every process at niceness 0 (measured here: a
      pip install at niceness 0 left two workers 0.3 of the engine's speed each, while per CPU
      second they stayed at 0.9), and so does the engine.
  (r) `igcli explain --ray local` on the same files (a throwaway cluster on this machine,
      heatmaps and report on): from run.json, the cluster's start (ray.init), when each worker
      process started and was ready (TensorFlow imported, model loaded), when the first group was
      written, and each worker's steady rate (instances per busy second after its first group).
  (e) again: shared machines drift, so the engine is timed before and after (r).
  (l) the same job with plain `igcli explain` (no cluster), for its total seconds.
and prints a markdown table: each worker's steady rate / the engine's (goal >= 0.9), and the
cluster's whole steady rate / (workers x the engine's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
WORKER_NICENESS = int(os.environ.get("RAY_worker_niceness", 15))  # Ray starts its workers at this niceness
SAMPLE = ROOT / "sample_data" / "shapes"


def make_images(source: Path, count: int, folder: Path) -> None:
    """count image files, cycling through the images of source under new names."""
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    folder.mkdir(parents=True)
    for number in range(count):
        original = files[number % len(files)]
        shutil.copy(original, folder / f"{number:05d}-{original.name}")


def engine(model: str, folder: str, cpus: int, steps: int, rows: int) -> dict:
    """A worker's work in this process, pinned to `cpus` CPUs at a Ray worker's niceness: the
    steady rate, per second and per CPU second of this process."""
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cpus]))
    os.nice(max(0, WORKER_NICENESS - os.nice(0)))  # other tenants of the machine take from both alike
    from igcli.tfimport import tensorflow

    tf = tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(cpus)
    tf.config.threading.set_inter_op_parallelism_threads(cpus)
    import numpy as np

    from igcli.data.batch import Batch
    from igcli.data.images import ImageOptions, decode_image
    from igcli.methods import build_method
    from igcli.methods.core import auto_batch_size, auto_branches
    from igcli.options import ExplainOptions
    from igcli.plan import make_plan
    from igcli.runner.group import explain_group

    with tempfile.TemporaryDirectory() as out:
        plan, bench = make_plan(ExplainOptions(model=model, inputs=folder, out=out, steps=steps), warn=lambda _: None)
    space = bench.space
    method = build_method(plan, space.model_call, space.shape, plan.batch_size or auto_batch_size(space.shape), auto_branches(cpus=cpus))
    images = ImageOptions(plan.options.color, None, plan.preprocess, plan.options.max_pixels)
    shape = plan.instance_shape
    data = [path.read_bytes() for path in bench.inputs.files]
    seconds = []
    for start in range(0, len(data), rows):
        tick, cpu = time.perf_counter(), time.process_time()
        chunk = range(start, min(start + rows, len(data)))
        decoded = [decode_image(data[i], shape[-1], shape[:2], images) for i in chunk]
        pixels = np.stack([image for image, _, _, _ in decoded])
        batch = Batch(
            np.array(chunk), [bench.inputs.ids[i] for i in chunk], [""] * len(chunk), plan.preprocess.apply(pixels), [None] * len(chunk), [{} for _ in chunk]
        )
        explain_group(method, space, batch, plan)
        seconds.append((len(chunk), time.perf_counter() - tick, time.process_time() - cpu))
    steady = seconds[1:] or seconds
    instances = sum(n for n, _, _ in steady)
    return {
        "cpus": cpus,
        "branches": method.core.branches,
        "instances_per_second": instances / sum(s for _, s, _ in steady),
        "instances_per_cpu_second": instances / sum(c for _, _, c in steady),
        "first_group_seconds": seconds[0][1],
    }


def run_engine(args, folder: Path, rows: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--engine-only",
        "--model",
        args.model,
        "--folder",
        str(folder),
        "--cpus-per-worker",
        str(args.cpus_per_worker),
        "--steps",
        str(args.steps),
        "--rows",
        str(rows),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(args, folder: Path, out: Path, cluster: bool) -> tuple[float, dict]:
    command = [sys.executable, "-m", "igcli", "explain", args.model, str(folder), "-o", str(out), "--steps", str(args.steps), "--quiet", "--overwrite"]
    if cluster:
        command += ["--ray", "local", "--workers", str(args.workers), "--cpus-per-worker", str(args.cpus_per_worker)]
    tick = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - tick, json.loads((out / "run.json").read_text())


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SAMPLE / "model.keras"))
    parser.add_argument("--images-from", default=str(SAMPLE / "images"), help="folder whose images are cycled through")
    parser.add_argument("--images", type=int, default=240, help="image files to explain")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    parser.add_argument("--engine-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.engine_only:
        print(json.dumps(engine(args.model, args.folder, args.cpus_per_worker, args.steps, args.rows)))
        return
    from igcli.runner.cluster.pipeline import group_rows

    rows = group_rows(args.images, args.workers)  # as the driver cuts groups
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        folder = work / "images"
        make_images(Path(args.images_from), args.images, folder)
        before = run_engine(args, folder, rows)
        cluster_wall, run = run_cli(args, folder, work / "cluster", cluster=True)
        after = run_engine(args, folder, rows)
        local_wall, local = run_cli(args, folder, work / "local", cluster=False)
    engine_rate = (before["instances_per_second"] + after["instances_per_second"]) / 2
    engine_cpu_rate = (before["instances_per_cpu_second"] + after["instances_per_cpu_second"]) / 2
    timings, facts = run["timings"], run["cluster"]
    workers = facts["worker_processes"]
    lines = [
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, ray {facts['ray_version']}; model {Path(args.model).name}, "
        f"{args.images} images, {args.steps} steps; {args.workers} worker(s) of {args.cpus_per_worker} CPU(s), groups of {rows}",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| cluster start (`--ray local`: ray.init) | {timings['cluster_start_seconds']:.1f} s |",
        f"| worker processes started, after the pipeline started | {_listed(workers, 'started_seconds')} s |",
        f"| workers ready (TensorFlow, model) | {_listed(workers, 'ready_seconds')} s |",
        f"| first group written | {timings['first_result_seconds']:.1f} s |",
        f"| engine alone, {args.cpus_per_worker} CPU(s), steady (before, after) | {before['instances_per_second']:.2f}, {after['instances_per_second']:.2f} inst/s |",
        f"| engine alone, per CPU second of its process (before, after) | {before['instances_per_cpu_second']:.2f}, {after['instances_per_cpu_second']:.2f} inst/s |",
    ]
    steady_total = 0.0
    for name, worker in workers.items():
        rate = worker["steady_instances_per_second"]
        if rate is None:
            lines.append(f"| worker {name}: {worker['instances']} instances, one group | (no steady rate) |")
            continue
        steady_total += rate
        lines.append(f"| worker {name}: {worker['instances']} instances, steady | {rate:.2f} inst/s = **{rate / engine_rate:.2f}** x engine |")
        per_cpu = worker["steady_instances_per_cpu_second"]
        lines.append(f"| ... per CPU second of its process | {per_cpu:.2f} inst/s = {per_cpu / engine_cpu_rate:.2f} x engine |")
    if steady_total:
        lines.append(
            f"| all workers together, steady | {steady_total:.2f} inst/s = {steady_total / (args.workers * engine_rate):.2f} x ({args.workers} x engine) |"
        )
    lines += [
        f"| `igcli explain --ray local` whole run | {cluster_wall:.1f} s (explaining {timings['explain_wall_seconds']:.1f} s) |",
        f"| `igcli explain` (no cluster, {os.cpu_count()} CPUs) whole run | {local_wall:.1f} s (explaining {local['timings']['explain_wall_seconds']:.1f} s) |",
    ]
    print("\n".join(lines))


def _listed(workers: dict, key: str) -> str:
    return ", ".join(f"{worker[key]:.1f}" for worker in workers.values() if worker[key] is not None)


if __name__ == "__main__":
    main()
