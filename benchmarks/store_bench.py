"""`igcli explain` from bucket to bucket against the same job on local files, measured in one run.

    python benchmarks/store_bench.py                                  # 256 images, 32 steps, 3 repeats
    python benchmarks/store_bench.py --images 512 --repeats 5 --json store.json

Needs the s3 extra and moto's server (pip install 'igcli[s3]' 'moto[server]'). It builds a folder of
--images PNG files (64x64, the shapes sample's images cycled under new names), starts moto's
standalone S3 server on loopback (tests/s3server.py), puts the images and the model in a bucket,
then runs `python -m igcli explain` as a subprocess in three variants, interleaved (each repeat
starts with the next variant) for --repeats repeats, with the same --steps and default format:
  local:    MODEL, INPUTS and -o local paths
  s3->s3:   MODEL, INPUTS and -o all s3:// URIs
  s3->local: MODEL and INPUTS s3://, -o a local folder
Each run writes into a fresh OUT. It reports each variant's median wall seconds, instances per
second and its ratio to local, and from run.json's timings: load_seconds (model and inputs,
listing included), explain_wall_seconds, total_seconds (start of the job to the last file closed
in the working copy) and the wall seconds outside it (process start-up and exit, and for an OUT in
the bucket, putting the finished files and releasing the lock). Two figures are derived:
listing + model copy = load(s3->local) - load(local); putting OUT = outside(s3->s3) - outside(s3->local).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "sample_data" / "shapes"
VARIANTS = ("local", "s3->s3", "s3->local")

from tests.s3server import environment, s3_server  # noqa: E402


def make_images(source: Path, count: int, folder: Path) -> None:
    """count image files, cycling through the images of source under new names."""
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    folder.mkdir(parents=True)
    for number in range(count):
        original = files[number % len(files)]
        shutil.copy(original, folder / f"{number:05d}-{original.name}")


def upload(fs, folder: Path, model: str) -> None:
    fs.mkdir("bench")
    fs.put(str(folder) + "/", "bench/images/", recursive=True)
    fs.put_file(model, "bench/model.keras")


def server_cpu() -> float:
    """CPU seconds (user + system) so far of moto's server, this process's child."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and b"moto.server" in (stat.parent / "cmdline").read_bytes():
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return float("nan")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_variant(variant: str, args, work: Path, folder: Path, number: int, env: dict, fs) -> dict:
    """One `igcli explain` subprocess -> its wall and CPU seconds, the server's CPU seconds, run.json's timings."""
    if variant == "local":
        model, inputs = args.model, str(folder)
    else:
        model, inputs = "s3://bench/model.keras", "s3://bench/images"
    out = f"s3://bench/out-{number}" if variant == "s3->s3" else str(work / f"out-{variant.replace('->', '-')}-{number}")
    command = [sys.executable, "-m", "igcli", "explain", model, inputs, "-o", out, "--steps", str(args.steps), "--quiet"]
    tick, cpu, server = time.perf_counter(), children_cpu(), server_cpu()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall, cpu, server = time.perf_counter() - tick, children_cpu() - cpu, server_cpu() - server
    if done.returncode != 0:
        sys.exit(f"{variant} failed (exit {done.returncode}): {' '.join(command)}\n{done.stderr.strip()}")
    text = fs.cat_file(f"bench/out-{number}/run.json").decode() if variant == "s3->s3" else (Path(out) / "run.json").read_text()
    timings = json.loads(text)["timings"]
    figures = {"wall_seconds": wall, "instances_per_second": args.images / wall, "cpu_seconds": cpu, "server_cpu_seconds": server}
    figures |= {name: timings[name] for name in ("load_seconds", "explain_wall_seconds", "total_seconds")}
    figures["outside_seconds"] = wall - timings["total_seconds"]
    print(
        f"repeat {number}: {variant:9s} {wall:6.1f} s, cpu {cpu:.1f} s, server cpu {server:.1f} s; "
        + ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if isinstance(v, float)),
        file=sys.stderr,
    )
    return figures


def measure(args) -> tuple[dict, dict]:
    """-> median figures per variant, every run's figures per variant."""
    import s3fs

    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as work, s3_server() as server, environment(server):
        work = Path(work)
        folder = work / "images"
        make_images(Path(args.images_from), args.images, folder)
        fs = s3fs.S3FileSystem()
        upload(fs, folder, args.model)
        env = {**os.environ, **server, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
        for number in range(args.repeats):
            order = VARIANTS[number % len(VARIANTS) :] + VARIANTS[: number % len(VARIANTS)]
            for variant in order:
                runs[variant].append(run_variant(variant, args, work, folder, number, env, fs))
    medians = {variant: {key: statistics.median(run[key] for run in figures) for key in figures[0]} for variant, figures in runs.items()}
    return medians, runs


def derived(medians: dict) -> dict:
    return {
        "listing_and_model_copy_seconds": medians["s3->local"]["load_seconds"] - medians["local"]["load_seconds"],
        "putting_out_seconds": medians["s3->s3"]["outside_seconds"] - medians["s3->local"]["outside_seconds"],
        "ratio_s3_s3_to_local_instances_per_second": medians["s3->s3"]["instances_per_second"] / medians["local"]["instances_per_second"],
        "ratio_s3_local_to_local_instances_per_second": medians["s3->local"]["instances_per_second"] / medians["local"]["instances_per_second"],
    }


def table(args, medians: dict, extra: dict) -> str:
    local = medians["local"]["instances_per_second"]
    lines = [
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; model {Path(args.model).name}, {args.images} PNG images 64x64, "
        f"--steps {args.steps}, default format; moto server on loopback; median of {args.repeats} interleaved repeats",
        "",
        "| variant | wall s | instances/s | / local | igcli CPU s | server CPU s | load s | explain s | total s (run.json) | outside run.json s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant in VARIANTS:
        m = medians[variant]
        lines.append(
            f"| {variant} | {m['wall_seconds']:.1f} | {m['instances_per_second']:.2f} | {m['instances_per_second'] / local:.2f} | {m['cpu_seconds']:.1f} "
            f"| {m['server_cpu_seconds']:.1f} | {m['load_seconds']:.2f} "
            f"| {m['explain_wall_seconds']:.2f} | {m['total_seconds']:.2f} | {m['outside_seconds']:.2f} |"
        )
    lines += [
        "",
        f"listing + model copy (load s3->local - load local): {extra['listing_and_model_copy_seconds']:.2f} s; "
        f"putting OUT (outside s3->s3 - outside s3->local): {extra['putting_out_seconds']:.2f} s",
    ]
    return "\n".join(lines)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SAMPLE / "model.keras"))
    parser.add_argument("--images-from", default=str(SAMPLE / "images"), help="folder whose images are cycled through")
    parser.add_argument("--images", type=int, default=256, help="image files to explain")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each variant; the median is reported")
    parser.add_argument("--json", metavar="PATH", help="write the figures here too")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    medians, runs = measure(args)
    extra = derived(medians)
    print(table(args, medians, extra))
    if args.json:
        figures = {"images": args.images, "steps": args.steps, "repeats": args.repeats, "cpus": os.cpu_count(), "medians": medians, "runs": runs, **extra}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
