#!/usr/bin/python3
"""The Node.js client (tools/clients/node) as a user gets it: a copy of the
package, `npm ci` from its committed package-lock.json (the npm registry,
nothing else), then its tests under node's own test runner
(tools/clients/node/test: lifecycle, concurrent calls through the send
queue, the event feed, every error a cart can hit, integer money,
timeouts, orderd SIGKILLed and restarted in the middle of a create and of a
confirm) against real daemons, and index.d.ts through the TypeScript
compiler (a devDependency).

    /usr/bin/python3 tests/integration/test_client_node.py [-v]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
import client_driver  # noqa: E402

PACKAGE = os.path.join(h.SOURCE, 'tools', 'clients', 'node')
FILES = ('package.json', 'package-lock.json', 'index.js', 'index.d.ts', 'README.md', 'test')


class NodeClient(unittest.TestCase):

    def test_npm_ci_and_tests_against_real_daemons(self):
        for tool in ('node', 'npm'):
            self.assertIsNotNone(shutil.which(tool), '%s is missing: run tools/bootstrap' % tool)
        with tempfile.TemporaryDirectory() as tmp:
            package = os.path.join(tmp, 'orderd-client')
            os.makedirs(package)
            for name in FILES:
                source = os.path.join(PACKAGE, name)
                if os.path.isdir(source):
                    shutil.copytree(source, os.path.join(package, name))
                else:
                    shutil.copy(source, package)
            ci = subprocess.run(['npm', 'ci', '--no-audit', '--no-fund', '--prefer-offline'],
                                cwd=package, capture_output=True, text=True, timeout=300)
            self.assertEqual(ci.returncode, 0, ci.stdout + ci.stderr)
            with client_driver.Daemons() as daemons:
                status, output = daemons.run(
                    ['node', '--test', 'test/client.test.js', 'test/crash.test.js',
                     'test/types.test.js'], cwd=package)
                self.assertEqual(status, 0, output)
                self.assertRegex(output, r'# pass 9\b')
                self.assertRegex(output, r'# fail 0\b')
                daemons.check_crash(self)


if __name__ == '__main__':
    unittest.main()
