#!/usr/bin/python3
"""A newcomer's first run, as the README tells it, on a fresh `git clone`
of the repository (its committed HEAD: no build/, no var/ left over):
`tools/bootstrap && scons run`, then the README's Python example against
it, which must print `confirmed`; then Ctrl-C, which must end quietly
with orderd's own "stopped" and no `scons: ***` line. A default start
prints no warning, and creates its data folders from nothing.

Other engineers run daemons on the default ports, so every loopback
endpoint of config/orderd.cfg is moved to a free port through ORDERD_SET,
the override variable `scons run` honours (README, "Quick start").

    /usr/bin/python3 tests/integration/test_first_run.py [-v]
"""
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402

BUILD_AND_START_S = 240
EXAMPLE_S = 30 * h.SLOW
STOP_S = 30 * h.SLOW
ENDPOINT_RE = re.compile(r'^((?:tcp://)?127\.0\.0\.1:)(\d+)$')


def readme_run_command(readme):
    """The command of the README's first code block."""
    block = re.search(r'```\n(.*?)\n```', readme, re.S)
    return block.group(1).strip()


def readme_python_example(readme):
    return re.search(r'```python\n(.*?)```', readme, re.S).group(1)


def endpoint_overrides(config_text):
    """PATH=VALUE overrides moving each loopback endpoint of the orderd
    section to a free port: {path: endpoint}."""
    found = {}
    section = None
    for line in config_text.split('\n'):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if not line[0].isspace():
            section = line.strip()
            continue
        key, _, value = line.strip().partition('=')
        match = ENDPOINT_RE.match(value.strip())
        if section == 'orderd' and match:
            found['orderd/' + key.strip()] = match.group(1)
    ports = h.free_ports(len(found))
    return dict((path, prefix + str(port))
                for (path, prefix), port in zip(sorted(found.items()), ports))


class Output:
    """Collects a process's output lines in a thread; wait_for a line."""

    def __init__(self, stream):
        self.lines = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in stream:
            with self.changed:
                self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
                self.changed.notify_all()

    def wait_for(self, pattern, timeout_s):
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self.thread.is_alive():
                    return None
                self.changed.wait(min(left, 1))

    def text(self):
        self.thread.join(5)
        with self.changed:
            return '\n'.join(self.lines)


class TestFirstRun(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='orderd-first-run-')
        self.clone = os.path.join(self.tmp, 'orderd')
        subprocess.run(['git', 'clone', '--quiet', h.SOURCE, self.clone], check=True,
                       stdin=subprocess.DEVNULL, timeout=120)
        self.scons = None

    def tearDown(self):
        if self.scons and self.scons.poll() is None:
            os.killpg(self.scons.pid, signal.SIGKILL)
            self.scons.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read(self, name):
        with open(os.path.join(self.clone, name)) as f:
            return f.read()

    def test_readme_first_command_then_example_then_ctrl_c(self):
        readme = self.read('README.md')
        command = readme_run_command(readme)
        self.assertEqual(command, 'tools/bootstrap && scons run')
        self.assertFalse(os.path.exists(os.path.join(self.clone, 'var')))
        overrides = endpoint_overrides(self.read('config/orderd.cfg'))
        self.assertIn('orderd/service', overrides)
        env = dict(os.environ,
                   ORDERD_SET=' '.join(shlex.quote('%s=%s' % item)
                                       for item in sorted(overrides.items())),
                   SCONSFLAGS='-j2')
        # `tools/bootstrap && scons run` as an interactive shell runs it:
        # scons leads its own foreground process group, which Ctrl-C signals
        words = command.split(' && ')
        bootstrap = subprocess.run(words[0], shell=True, cwd=self.clone, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=600)
        self.assertEqual(bootstrap.returncode, 0, bootstrap.stdout.decode())
        self.scons = subprocess.Popen(shlex.split(words[1]), cwd=self.clone, env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        output = Output(self.scons.stdout)
        ready = output.wait_for(r'\bready: ', BUILD_AND_START_S)
        self.assertTrue(ready, 'orderd never became ready:\n' + output.text())

        example = readme_python_example(readme).replace(
            'tcp://127.0.0.1:8791', overrides['orderd/service'])
        ran = subprocess.run(['/usr/bin/python3',
                              '-c', example], cwd=self.tmp, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=EXAMPLE_S)
        self.assertEqual(ran.returncode, 0, ran.stderr.decode())
        self.assertEqual(ran.stdout.decode().strip(), 'confirmed')

        # The README's next step: watch it with ordermon, which `scons run` built
        admin = overrides['orderd/admin']
        stats = subprocess.run([os.path.join(self.clone, 'build', 'bin', 'ordermon'),
                                '-e', admin, 'stats'], cwd=self.clone,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=EXAMPLE_S)
        self.assertEqual(stats.returncode, 0, stats.stderr.decode())

        os.killpg(self.scons.pid, signal.SIGINT)       # what Ctrl-C does
        self.assertEqual(self.scons.wait(timeout=STOP_S), 0, output.text())
        text = output.text()
        self.assertRegex(text, re.compile(r'^I: \(orderd\) .* stopped$', re.M))
        self.assertNotIn('scons: ***', text)
        self.assertNotIn('interrupted', text.lower())
        orderd_lines = [line for line in text.split('\n') if '(orderd)' in line]
        self.assertEqual([line for line in orderd_lines if not line.startswith('I:')], [],
                         'a default start logs only information')

        data_dir = os.path.join(self.clone, 'var', 'orderd')
        for folder in (data_dir, os.path.join(data_dir, 'payment_sandbox'),
                       os.path.join(data_dir, 'fulfilment_local')):
            self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode) & 0o027, 0, folder)


if __name__ == '__main__':
    unittest.main()
