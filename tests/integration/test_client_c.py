#!/usr/bin/python3
"""The C client library (include/orderd/client.h, liborderd-client.so)
against real daemons: its cmocka checks (tests/clients/client_check.c:
lifecycle, every error a cart can hit, the event feed, timeouts, and orderd
SIGKILLed and restarted in the middle of a create and of a confirm), and
the example program built the way a user builds it, with pkg-config.

    /usr/bin/python3 tests/integration/test_client_c.py [-v]
"""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402
import client_driver  # noqa: E402

CHECK = os.path.join(h.BUILD, 'tests', 'clients', 'client_check')
EXAMPLE = os.path.join(h.SOURCE, 'tools', 'clients', 'c', 'examples', 'lifecycle.c')


class CClient(unittest.TestCase):

    def test_against_real_daemons(self):
        with tempfile.TemporaryDirectory() as tmp, client_driver.Daemons() as daemons:
            argv = [CHECK]
            if h.VALGRIND:
                argv = h.VALGRIND_CMD + argv
            status, output = daemons.run(argv)
            self.assertEqual(status, 0, output)
            self.assertIn('[  PASSED  ] 5 test(s).', output)
            daemons.check_crash(self)
            # The example, built as a user builds it
            env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(h.BUILD, 'lib', 'pkgconfig'))
            flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'orderd-client'],
                                   env=env, capture_output=True, text=True,
                                   check=True).stdout.split()
            if os.path.basename(h.BUILD) == 'sanitize':
                flags += ['-fsanitize=address,undefined']
            binary = os.path.join(tmp, 'lifecycle')
            subprocess.run(['gcc', '-std=c11', '-Wall', '-Wextra', '-Werror', EXAMPLE,
                            '-o', binary] + flags, check=True, env=env)
            status, output = daemons.run(
                [binary, daemons.main.service, daemons.sku, daemons.cart_cert,
                 daemons.server_key])
            self.assertEqual(status, 0, output)
            self.assertRegex(output, r'^o[0-9a-f]{16} confirmed$')

if __name__ == '__main__':
    unittest.main()
