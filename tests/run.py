#!/usr/bin/python3
"""The test runner behind `scons check`.

    /usr/bin/python3 tests/run.py --build build [--only PATTERN] [--jobs N]
                                  [--valgrind] [--timeout SECONDS]

Runs every unit test program <build>/tests/test_* (cmocka executables; the
plugins/ subfolder is left out) and every tests/integration/test_*.py script
(each a standalone unittest program, run with /usr/bin/python3). Every program
gets ORDERD_BUILD=<build dir> and ORDERD_SOURCE=<repo root> in its
environment; with --valgrind the unit programs run under valgrind and
ORDERD_VALGRIND=1 tells the integration harness to wrap the daemon too.

Prints each program's name, PASS/FAIL and duration, the tail of a failing
program's output, keeps every program's output in <build>/test-logs/<name>.log,
and ends with the line "N passed, N failed". Exits 1 when any program failed
or when none ran, 0 otherwise.
"""
import argparse
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time

PYTHON = '/usr/bin/python3'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALGRIND = ['valgrind', '--leak-check=full', '--error-exitcode=99', '--max-threads=8192',
            '--errors-for-leak-kinds=definite']
TAIL_LINES = 60


class Program:
    def __init__(self, name, argv, kind):
        self.name = name          # shown in the report and used for the log
        self.argv = argv
        self.kind = kind          # 'unit' or 'integration'
        self.passed = False
        self.duration = 0.0
        self.output = b''
        self.note = ''


def find_programs(build, only, valgrind):
    programs = []
    tests_dir = os.path.join(build, 'tests')
    if os.path.isdir(tests_dir):
        for entry in sorted(os.listdir(tests_dir)):
            path = os.path.join(tests_dir, entry)
            if not entry.startswith('test_') or not os.path.isfile(path):
                continue
            if not os.access(path, os.X_OK) or entry.endswith(('.o', '.so')):
                continue
            argv = (VALGRIND + [path]) if valgrind else [path]
            programs.append(Program(entry, argv, 'unit'))
    integ_dir = os.path.join(ROOT, 'tests', 'integration')
    if os.path.isdir(integ_dir):
        for entry in sorted(os.listdir(integ_dir)):
            path = os.path.join(integ_dir, entry)
            if entry.startswith('test_') and entry.endswith('.py') \
                    and os.path.isfile(path):
                programs.append(Program(entry, [PYTHON, path], 'integration'))
    if only:
        programs = [p for p in programs
                    if any(o in p.name or o in ' '.join(p.argv) for o in only)]
    return programs


def run_one(prog, env, timeout, log_dir):
    start = time.monotonic()
    try:
        proc = subprocess.Popen(prog.argv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=ROOT, start_new_session=True)
    except OSError as exc:
        prog.output = ('cannot start %s: %s\n' % (prog.argv[0], exc)).encode()
        prog.note = 'could not start'
        prog.duration = time.monotonic() - start
        return prog
    try:
        out, _ = proc.communicate(timeout=timeout)
        prog.output = out
        prog.passed = proc.returncode == 0
        if proc.returncode < 0:
            prog.note = 'killed by signal %d' % -proc.returncode
        elif proc.returncode != 0:
            prog.note = 'exit status %d' % proc.returncode
    except subprocess.TimeoutExpired:
        # Kill the whole process group: the program and any daemon it started.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        prog.output = (out or b'') + (
            '\n*** timed out after %d s, killed\n' % timeout).encode()
        prog.passed = False
        prog.note = 'timed out after %d s' % timeout
    finally:
        # Leave nothing behind even when the program exited on its own.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    prog.duration = time.monotonic() - start
    try:
        with open(os.path.join(log_dir, prog.name + '.log'), 'wb') as f:
            f.write(prog.output)
    except OSError:
        pass
    return prog


def report(prog, lock):
    with lock:
        verdict = 'PASS' if prog.passed else 'FAIL'
        line = '%-4s %-40s %7.2f s' % (verdict, prog.name, prog.duration)
        if prog.note:
            line += '  (' + prog.note + ')'
        print(line, flush=True)
        if not prog.passed:
            text = prog.output.decode('utf-8', 'replace').rstrip('\n')
            lines = text.split('\n') if text else []
            print('---- %s: last %d lines of output ----'
                  % (prog.name, min(TAIL_LINES, len(lines))))
            for l in lines[-TAIL_LINES:]:
                print('    ' + l)
            print('---- end of %s ----' % prog.name, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description='Run orderd unit and integration tests.')
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'),
                    help='build directory (build, build/debug, build/sanitize)')
    ap.add_argument('--only', action='append', default=[], metavar='PATTERN',
                    help='run only programs whose name contains PATTERN (repeatable)')
    ap.add_argument('--valgrind', action='store_true',
                    help='run unit programs and the daemon under valgrind')
    ap.add_argument('--jobs', '-j', type=int, default=1,
                    help='programs to run in parallel (default 1)')
    ap.add_argument('--timeout', type=float, default=None,
                    help='seconds per program before it is killed and fails '
                         '(default 300; 1200 with --valgrind)')
    args = ap.parse_args(argv)

    build = os.path.abspath(args.build)
    timeout = args.timeout if args.timeout else (1200 if args.valgrind else 300)
    jobs = max(1, args.jobs)
    env = dict(os.environ)
    env['ORDERD_BUILD'] = build
    env['ORDERD_SOURCE'] = ROOT
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    env['PYTHONUNBUFFERED'] = '1'
    if args.valgrind:
        env['ORDERD_VALGRIND'] = '1'
    else:
        env.pop('ORDERD_VALGRIND', None)

    log_dir = os.path.join(build, 'test-logs')
    try:
        os.makedirs(log_dir, exist_ok=True)
    except OSError as exc:
        print('cannot create %s: %s' % (log_dir, exc))

    programs = find_programs(build, args.only, args.valgrind)
    if not os.path.isdir(build):
        print('warning: build directory %s does not exist' % build)
    print('running %d test programs from %s (jobs %d, timeout %d s%s)'
          % (len(programs), build, jobs, timeout,
             ', valgrind' if args.valgrind else ''), flush=True)

    lock = threading.Lock()
    results = []
    if jobs == 1:
        for prog in programs:
            results.append(run_one(prog, env, timeout, log_dir))
            report(prog, lock)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_one, p, env, timeout, log_dir)
                       for p in programs]
            for fut in concurrent.futures.as_completed(futures):
                prog = fut.result()
                results.append(prog)
                report(prog, lock)

    passed = sum(1 for p in results if p.passed)
    failed = len(results) - passed
    if failed:
        print('failed: ' + ', '.join(sorted(p.name for p in results if not p.passed)))
    if not results:
        print('no test programs found')
    print('%d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed or not results else 0


if __name__ == '__main__':
    sys.exit(main())
