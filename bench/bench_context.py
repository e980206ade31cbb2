"""What the run context costs: CPU used by monitoring, heartbeat and console capture on an idle loop.

The issue's goal: with defaults, under 1% of one core while the training loop is idle. Each variant
runs in a fresh process that starts a run, sleeps for `--seconds` (the loop doing nothing, so every
CPU second measured is Despina's background work), and reports the process CPU time (user + system)
divided by wall time. `bare` starts no run: the interpreter's own floor.

    .venv/bin/python bench/bench_context.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, os, sys, time
variant, seconds = sys.argv[1], float(sys.argv[2])
if variant != "bare":
    import despina
    options = {} if variant == "defaults" else {
        "capture_hardware_metrics": False, "capture_stdout": False, "capture_stderr": False,
    }
    run = despina.init_run(project="bench/context", **options)
    run.wait()
start_cpu = sum(os.times()[:2])
start = time.monotonic()
time.sleep(seconds)
cpu = sum(os.times()[:2]) - start_cpu
wall = time.monotonic() - start
if variant != "bare":
    run.stop()
print(json.dumps({"variant": variant, "cpu_s": cpu, "wall_s": wall}))
"""


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="idle time measured per variant")
    args = parser.parse_args()
    print(f"# idle loop of {args.seconds:g} s per variant; CPU % of one core (user + system)")
    print(f"{'variant':<12} {'cpu s':>8} {'wall s':>8} {'% of a core':>12}")
    for variant in ("bare", "no-capture", "defaults"):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "DESPINA_HOME": home}
            env.pop("DESPINA_URL", None)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, variant, str(args.seconds)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=args.seconds + 120,
            ).stdout
            figures = json.loads(out.strip().splitlines()[-1])
            share = 100 * figures["cpu_s"] / figures["wall_s"]
            print(f"{variant:<12} {figures['cpu_s']:8.3f} {figures['wall_s']:8.1f} {share:11.3f}%")


if __name__ == "__main__":
    main()
