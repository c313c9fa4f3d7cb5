#!/usr/bin/python3
"""The orderd command line: help, version, configuration errors, data
directories that are not orderd's, ports already taken.

    /usr/bin/python3 tests/integration/test_daemon_cli.py [-v]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orderd_harness as h  # noqa: E402

TIMEOUT = 15 * h.SLOW


def run(*args, timeout=TIMEOUT, cwd=None):
    """Run orderd with args to completion: (exit status, stdout, stderr)."""
    p = subprocess.run(h.daemon_argv(*args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), \
        p.stderr.decode('utf-8', 'replace')


def lines(text):
    return [l for l in text.split('\n') if l.strip()]


class TestCli(unittest.TestCase):
    def setUp(self):
        # a daemon object only for its config file and temp dir; never started
        self.d = h.Daemon()

    def tearDown(self):
        self.d.cleanup()

    def assertRefused(self, rc, out, err, *needles):
        self.assertEqual(rc, 2, 'exit status %d, stderr:\n%s' % (rc, err))
        msg = out + err
        self.assertTrue(lines(msg), 'refused without a message')
        for n in needles:
            self.assertIn(n, msg)
        return msg

    def test_help(self):
        rc, out, err = run('--help')
        self.assertEqual(rc, 0, err)
        self.assertTrue(lines(out + err))
        self.assertIn('-c', out + err)

    def test_version(self):
        rc, out, err = run('--version')
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r'\d+\.\d+')
        self.assertLessEqual(len(lines(out + err)), 3)

    def test_missing_config_file(self):
        path = os.path.join(self.d.tmp, 'no-such.cfg')
        rc, out, err = run('-c', path)
        msg = self.assertRefused(rc, out, err)
        self.assertEqual(len(lines(msg)), 1, 'want one line, got:\n' + msg)
        self.assertIn('no-such.cfg', msg)
        self.assertFalse(os.path.exists(os.path.join(self.d.tmp, 'data')))

    def test_unknown_key(self):
        rc, out, err = run('-c', self.d.cfg_path, '--set', 'orderd/bogus=1')
        self.assertRefused(rc, out, err, 'orderd/bogus')

    def test_unknown_key_in_file(self):
        d = h.Daemon(overrides={'orderd/colour': 'blue'})
        try:
            rc, out, err = run('-c', d.cfg_path)
            self.assertRefused(rc, out, err, 'orderd/colour')
        finally:
            d.cleanup()

    def test_bad_value(self):
        rc, out, err = run('-c', self.d.cfg_path, '--set', 'orderd/max_body=abc')
        self.assertRefused(rc, out, err, 'orderd/max_body')

    def test_bad_set_syntax(self):
        rc, out, err = run('-c', self.d.cfg_path, '--set', 'no-equals-sign')
        self.assertRefused(rc, out, err)

    def test_unknown_option(self):
        rc, out, err = run('-c', self.d.cfg_path, '--no-such-option')
        self.assertGreater(rc, 0, 'exit status %d' % rc)
        self.assertNotEqual(rc, 99, 'valgrind errors:\n' + err)
        self.assertTrue(lines(out + err))

    def test_set_overrides_file(self):
        """--set takes effect: the service door moves to another port."""
        port = h.free_port()
        d = h.Daemon(args=['--set', 'orderd/service=tcp://127.0.0.1:%d' % port])
        try:
            # start() polls the door it knows of, which --set moved: point it there
            d.config['orderd']['service'] = 'tcp://127.0.0.1:%d' % port
            d.start()
            probe = h.Client('tcp://127.0.0.1:%d' % port, 'dealer', 2000)
            try:
                self.assertTrue(probe.call('health').get('ok'))
            finally:
                probe.close()
            d.stop()
        finally:
            d.cleanup()

    def foreign_lmdb(self, data_dir):
        """An LMDB environment that another program made."""
        os.makedirs(data_dir, exist_ok=True)
        dump = ('VERSION=3\nformat=bytevalue\ntype=btree\nmapsize=1048576\n'
                'maxreaders=126\nHEADER=END\n'
                ' %s\n %s\n %s\n %s\nDATA=END\n'
                % (b'hello'.hex(), b'world'.hex(), b'config'.hex(), b'other app'.hex()))
        p = subprocess.run(['mdb_load', '-f', '/dev/stdin', data_dir], input=dump.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            self.skipTest('mdb_load failed: %s' % p.stderr.decode())
        return self.dump(data_dir)

    def dump(self, data_dir):
        out = b''
        for extra in ([], ['-a']):
            p = subprocess.run(['mdb_dump'] + extra + [data_dir], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            # only the records: the header's mapsize may follow whoever opened it
            out += b'\n'.join(l for l in p.stdout.split(b'\n')
                              if l.startswith(b' ') or l.startswith(b'database='))
        return out

    def test_two_plugins_with_one_name_refused(self):
        same = os.path.join(h.BUILD, 'tests', 'plugins', 'same_name.so')
        rc, out, err = run('-c', self.d.cfg_path, '--set', 'fulfilment/plugin=' + same,
                           timeout=TIMEOUT)
        self.assertRefused(rc, out, err, 'name: two plugins are both called payment_sandbox')

    def test_foreign_lmdb_refused(self):
        data_dir = self.d.data_dir
        before = self.foreign_lmdb(data_dir)
        self.assertIn(b'68656c6c6f', before)
        rc, out, err = run('-c', self.d.cfg_path, timeout=TIMEOUT)
        msg = self.assertRefused(rc, out, err)
        self.assertRegex(msg, re.escape(data_dir) + '|data_dir|data dir')
        self.assertEqual(self.dump(data_dir), before, 'orderd changed a foreign environment')

    def test_foreign_lmdb_with_named_dbs_refused(self):
        data_dir = self.d.data_dir
        os.makedirs(data_dir)
        dump = ('VERSION=3\nformat=bytevalue\ndatabase=orders\ntype=btree\n'
                'mapsize=1048576\nmaxreaders=126\nHEADER=END\n'
                ' %s\n %s\nDATA=END\n' % (b'o0000000000000001'.hex(), b'junk'.hex()))
        p = subprocess.run(['mdb_load', '-f', '/dev/stdin', '-s', 'orders', data_dir],
                           input=dump.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode != 0:
            self.skipTest('mdb_load failed: %s' % p.stderr.decode())
        rc, out, err = run('-c', self.d.cfg_path)
        self.assertRefused(rc, out, err)

    def test_garbage_data_mdb_refused(self):
        data_dir = self.d.data_dir
        os.makedirs(data_dir)
        garbage = os.urandom(64 * 1024)
        with open(os.path.join(data_dir, 'data.mdb'), 'wb') as f:
            f.write(garbage)
        with open(os.path.join(data_dir, 'README'), 'w') as f:
            f.write('not an orderd directory\n')
        rc, out, err = run('-c', self.d.cfg_path)
        self.assertRefused(rc, out, err)
        with open(os.path.join(data_dir, 'data.mdb'), 'rb') as f:
            self.assertEqual(f.read(len(garbage)), garbage, 'orderd overwrote data.mdb')

    def test_data_dir_is_a_file_refused(self):
        with open(self.d.data_dir, 'w') as f:
            f.write('I am a file\n')
        rc, out, err = run('-c', self.d.cfg_path)
        self.assertRefused(rc, out, err)

    def test_second_daemon_on_same_ports_fails_cleanly(self):
        with h.Daemon() as first:
            second = h.Daemon()
            try:
                second.ports = list(first.ports)
                second.write_config()
                rc, out, err = run('-c', second.cfg_path)
                self.assertNotEqual(rc, 0)
                self.assertGreater(rc, 0, 'killed by signal %d:\n%s' % (-rc, err))
                self.assertNotEqual(rc, 99, 'valgrind errors:\n' + err)
                self.assertTrue(lines(out + err), 'failed without a message')
            finally:
                second.cleanup()
            with first.client() as c:
                r = c.call('health')
            self.assertTrue(r.get('ok'), r)

    def test_second_daemon_on_same_data_dir_refused(self):
        """Two daemons on one data_dir would each run their own actor for the
        same order, recover each other's sagas and reap each other's timers:
        the second must refuse to start (LMDB's own locking does not stop it)."""
        with h.Daemon() as first:
            second = h.Daemon(overrides={'orderd/data_dir': first.data_dir})
            try:
                p = subprocess.Popen(h.daemon_argv('-c', second.cfg_path),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                try:
                    out, err = p.communicate(timeout=5 * h.SLOW)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
                    self.fail('a second orderd started on a data_dir in use by another')
                self.assertGreater(p.returncode, 0, err)
                self.assertNotEqual(p.returncode, 99, 'valgrind errors:\n' + err.decode())
                self.assertTrue(lines((out + err).decode('utf-8', 'replace')),
                                'refused without a message')
            finally:
                second.cleanup()
            with first.client() as c:
                self.assertTrue(c.call('health').get('ok'))

    def test_sigint_is_a_clean_stop(self):
        import signal
        d = h.Daemon()
        try:
            d.start()
            d.proc.send_signal(signal.SIGINT)
            rc = d.proc.wait(20 * h.SLOW)
            self.assertEqual(rc, 0, d.log_tail())
        finally:
            d.cleanup()


if __name__ == '__main__':
    unittest.main(verbosity=2)
