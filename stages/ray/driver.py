#!/usr/bin/env python3
"""Runs a seqsynth pipeline on a Ray cluster.

Reads `seqsynth plan` and submits each of its `units` (every node that is not cached, and every
shard of a sharded node, with the `seqsynth run` arguments that build it and the units it
follows: the ones `seqsynth slurm` schedules too) as a Ray task that calls the `seqsynth` binary,
after the tasks of the units it follows: shards of a sharded node side by side, then the node
itself (which merges them). The store is
a path every Ray node sees (a shared filesystem on a cluster); seqsynth's own node locks make a
retried or duplicated task wait for, or find, the artifact another one built. A task whose worker
dies is retried by Ray (`--retries`).

    stages/ray/setup.sh                       # the driver's Python environment (Ray)
    $VENV/bin/python stages/ray/driver.py --seqsynth target/release/seqsynth \\
        --address auto -- pipeline.shards=8 preset=full

Everything after `--` goes to `seqsynth plan` and so to every `seqsynth run` it schedules.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import ray


def plan(seqsynth, cwd, args):
    out = subprocess.run([seqsynth, "plan", *args], cwd=cwd, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@ray.remote
def build(seqsynth, cwd, node, args, *inputs):
    """Builds one node (or shard) with `seqsynth run`; `inputs` are the tasks it waits for."""
    fault = os.environ.get("SEQSYNTH_RAY_FAULT", "")
    if fault:
        # test hook: `NODE:MARKER` kills this worker (SIGKILL) once, a second after seqsynth
        # started building NODE, so Ray must retry the task on a new worker
        want, marker = fault.split(":", 1)
        if want == node:
            with open(marker + ".attempts", "a") as f:
                f.write(f"{os.getpid()}\n")
        if want == node and not os.path.exists(marker):
            open(marker, "w").close()
            child = subprocess.Popen([seqsynth, "--quiet", *args], cwd=cwd)
            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)
            child.wait()
    started = time.time()
    done = subprocess.run([seqsynth, "--quiet", *args], cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"seqsynth {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return {"node": node, "seconds": round(time.time() - started, 2),
            "stdout": done.stdout.strip().splitlines()[:1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seqsynth", required=True, help="the seqsynth binary (same path on every node)")
    ap.add_argument("--cwd", default=os.getcwd(), help="the project directory (where pipeline.toml is)")
    ap.add_argument("--address", default=None,
                    help="a Ray cluster (`auto`: the one `ray start` made here); default: a local one")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local cluster")
    ap.add_argument("--retries", type=int, default=3, help="retries of a task whose worker dies")
    ap.add_argument("--gpus", action="store_true",
                    help="ask one GPU for train and search tasks (a cluster with GPUs)")
    ap.add_argument("args", nargs="*", help="KEY=VALUE settings for seqsynth (after --)")
    o = ap.parse_args()
    seqsynth = os.path.abspath(o.seqsynth)
    p = plan(seqsynth, o.cwd, o.args)
    ray.init(address=o.address, num_cpus=o.num_cpus, include_dashboard=False,
             log_to_driver=False)
    submitted = []
    for u in p["units"]:
        opts = {"max_retries": o.retries, "num_cpus": 1}
        if o.gpus and u["gpu"]:
            opts["num_gpus"] = 1
        deps = [submitted[i] for i in u["after"]]
        submitted.append(build.options(**opts).remote(seqsynth, o.cwd, u["name"], u["args"], *deps))
    results = ray.get(submitted)
    for r in results:
        print(f"{r['node']:<16} {r['seconds']:>8.2f}s  {' '.join(r['stdout'])}")
    print(f"{len(results)} task(s) on Ray; {sum(1 for n in p['nodes'] if n['state'] == 'cached')} "
          f"node(s) were cached", file=sys.stderr)
    ray.shutdown()


if __name__ == "__main__":
    main()
