"""Starts tests/fakes/paypal/fake_paypal.py for a test and talks to its test
hooks; builds the harness overrides that point orderd's payment_paypal
adapter at it.

    from paypal_fixture import FakePayPal
    with FakePayPal(auto_approve=True) as pp:
        d = h.Daemon(overrides=pp.overrides())
"""
import json
import os
import stat
import subprocess
import tempfile
import shutil
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, 'fake_paypal.py')
PYTHON = '/usr/bin/python3'


class FakePayPal:
    def __init__(self, auto_approve=False, client_id='orderd-test-client',
                 secret=None, token_ttl=None, state_file=False):
        self.client_id = client_id
        # A recognisable secret, so tests can look for it in logs
        self.secret = secret or 'S3CR3T-' + os.urandom(12).hex()
        self.tmp = tempfile.mkdtemp(prefix='fake-paypal-')
        self.secret_file = os.path.join(self.tmp, 'paypal.secret')
        with open(self.secret_file, 'w') as f:
            f.write(self.secret + '\n')
        os.chmod(self.secret_file, stat.S_IRUSR | stat.S_IWUSR)
        argv = [PYTHON, FAKE, '0', '--client-id', client_id, '--secret-file',
                self.secret_file]
        if auto_approve:
            argv.append('--auto-approve')
        if token_ttl is not None:
            argv += ['--token-ttl', str(token_ttl)]
        if state_file:
            argv += ['--state-file', os.path.join(self.tmp, 'state.json')]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError('fake_paypal did not print its port (got %r)' % line)
        self.port = int(line)
        self.base_url = 'http://127.0.0.1:%d' % self.port

    def overrides(self, **extra):
        """Daemon overrides that load payment_paypal against this fake."""
        import orderd_harness as h
        ov = {'payment/plugin': os.path.join(h.BUILD, 'plugins', 'payment_paypal.so'),
              'payment/base_url': self.base_url,
              'payment/client_id': self.client_id,
              'payment/secret_file': self.secret_file}
        ov.update(extra)
        return ov

    # -- test hooks
    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode() or '{}')

    def approve(self, paypal_order_id):
        return self._call('POST', '/test/approve/' + paypal_order_id, {})

    def expire_tokens(self):
        return self._call('POST', '/test/expire_tokens', {})

    def delay(self, ms, match='', count=-1):
        return self._call('POST', '/test/delay', {'ms': ms, 'match': match, 'count': count})

    def fail(self, status=500, match='', count=1, retry_after=None):
        return self._call('POST', '/test/fail', {'status': status, 'match': match,
                                                 'count': count, 'retry_after': retry_after})

    def state(self):
        return self._call('GET', '/test/state')

    def order(self, paypal_order_id):
        return self.state()['orders'][paypal_order_id]

    def requests(self):
        return self._call('GET', '/test/requests')['requests']

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
