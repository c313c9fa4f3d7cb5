#!/usr/bin/python3
"""Runs every libFuzzer target for --secs seconds (scons fuzz secs=N).

Each target starts from its committed seeds (tests/fuzz/corpus/<target>)
and a working corpus under the build folder. A crash stops that target,
leaves the input as <build>/fuzz/artifacts/<target>-crash-*, and fails the
run: fix the bug, then copy the input into tests/fuzz/regressions/<target>/
so that `scons check` replays it forever."""
import argparse, glob, os, subprocess, sys

parser = argparse.ArgumentParser()
parser.add_argument("--build", required=True)
parser.add_argument("--secs", type=int, default=10)
args = parser.parse_args()
source = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failed = passed = 0
for binary in sorted(glob.glob(os.path.join(args.build, "fuzz", "fuzz_*"))):
    target = os.path.basename(binary)[len("fuzz_"):]
    work = os.path.join(args.build, "fuzz", "corpus", target)
    artifacts = os.path.join(args.build, "fuzz", "artifacts")
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    seeds = [os.path.join(source, "tests", "fuzz", kind, target)
             for kind in ("corpus", "regressions")]
    command = [binary, "-max_total_time=%d" % args.secs, "-max_len=70000",
               "-rss_limit_mb=2048", "-print_final_stats=1",
               "-artifact_prefix=%s/%s-" % (artifacts, target), work] + \
              [seed for seed in seeds if os.path.isdir(seed)]
    print("fuzz %s for %d s" % (target, args.secs), flush=True)
    rc = subprocess.call(command, env=dict(os.environ, ORDERD_SOURCE=source))
    if rc == 0:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: see %s/%s-*" % (target, artifacts, target))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
