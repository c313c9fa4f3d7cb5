#!/usr/bin/python3
"""The Python client (tools/clients/python) as a user gets it: `pip install`
into a fresh venv (--system-site-packages, so Debian's python3-zmq and
python3-msgpack serve; nothing is downloaded), then its tests
(tools/clients/python/tests: lifecycle, every error a cart can hit, the
event feed, timeouts, orderd SIGKILLed and restarted in the middle of a
create and of a confirm) against real daemons, importing the installed copy.

    /usr/bin/python3 tests/integration/test_client_python.py [-v]
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
import client_driver  # noqa: E402

PACKAGE = os.path.join(h.SOURCE, 'tools', 'clients', 'python')
TESTS = os.path.join(PACKAGE, 'tests', 'test_client.py')


class PythonClient(unittest.TestCase):

    def test_pip_install_and_tests_against_real_daemons(self):
        with tempfile.TemporaryDirectory() as tmp:
            venv = os.path.join(tmp, 'venv')
            subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages',
                            '--without-pip', venv], check=True)
            python = os.path.join(venv, 'bin', 'python')
            # Debian's pip, run by the venv's python, installs into the venv;
            # the package is copied first so the build leaves the tree clean
            source = os.path.join(tmp, 'src')
            subprocess.run(['cp', '-r', PACKAGE, source], check=True)
            install = subprocess.run(
                [python, '-m', 'pip', 'install', '--no-build-isolation', '--no-index',
                 '--disable-pip-version-check', '--quiet', source],
                capture_output=True, text=True, cwd=tmp)
            self.assertEqual(install.returncode, 0, install.stdout + install.stderr)
            where = subprocess.run(
                [python, '-c', 'import orderd_client; print(orderd_client.__file__)'],
                capture_output=True, text=True, cwd=tmp, check=True).stdout.strip()
            self.assertTrue(where.startswith(venv), where)
            with client_driver.Daemons() as daemons:
                status, output = daemons.run([python, TESTS, '-v'], cwd=tmp)
                self.assertEqual(status, 0, output)
                self.assertRegex(output, r'Ran 5 tests')
                daemons.check_crash(self)


if __name__ == '__main__':
    unittest.main()
