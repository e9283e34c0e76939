"""irctest controller for prise: starts `prise chat serve` for each test class, with accounts.

irctest starts a fresh server for each test class (as it does for ngIRCd or Ergo), on the
port it picked, with a history database of its own in a temporary folder. What a test class
asks of the server (TestCaseControllerConfig: registration before connecting, an email
required) becomes `prise chat serve` flags.

irctest registers the accounts its tests log in to through the controller. prise keeps
accounts in its history database, so this controller adds them the way an administrator
does, with `prise chat account add` on the database of the running server: a running server
reads accounts from the database at each login. (NickServ REGISTER would do too, but
irctest's long passwords do not fit in one 512-byte IRC line.)

With IRCTEST_SERVER_HOSTNAME and IRCTEST_SERVER_PORT set, it starts nothing and tests the
server there instead, as irctest's external-server controller does (scripts/irctest.sh's
core and ircv3 selections, which need no accounts; PRISE_HISTORY is then that server's
database, for registerUser).

Environment, set by scripts/irctest.sh: PRISE_BIN (the binary).
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from irctest.basecontrollers import BaseServerController, NotImplementedByController


class PriseController(BaseServerController):
    software_name = "prise"
    supported_sasl_mechanisms = {"PLAIN", "SCRAM-SHA-256"}
    supports_sts = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = None

    external = bool(os.environ.get("IRCTEST_SERVER_PORT"))

    def get_hostname_and_port(self):
        if self.external:
            return (os.environ["IRCTEST_SERVER_HOSTNAME"], int(os.environ["IRCTEST_SERVER_PORT"]))
        return super().get_hostname_and_port()

    def check_is_alive(self):
        if not self.external:
            super().check_is_alive()

    def run(self, hostname, port, *, password, ssl, run_services, faketime,
            websocket_hostname, websocket_port):
        if self.external:
            if websocket_hostname is not None or websocket_port is not None:
                raise NotImplementedByController("Websocket")
            if password is not None:
                raise NotImplementedByController("server password on an external server")
            self.history = Path(os.environ.get("PRISE_HISTORY", "/nonexistent"))
            self.hostname, self.port = self.get_hostname_and_port()
            self.port_open = True
            return
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS")
        if faketime:
            raise NotImplementedByController("faketime")
        assert self.proc is None
        self.hostname, self.port = hostname, port
        self.directory = Path(tempfile.mkdtemp(prefix="irctest-prise-"))
        self.history = self.directory / "chat.sqlite"
        command = [
            os.environ["PRISE_BIN"], "chat", "serve",
            "--listen", f"{hostname}:{port}",
            "--history", str(self.history),
            "--flood-rate", "0",
            "--server-name", "My.Little.Server",
            "--oper", "operuser:operpassword",
        ]
        if password is not None:
            command += ["--password", password]
        config = self.test_config
        if config.account_registration_before_connect:
            command += ["--register-before-connect"]
        if config.account_registration_requires_email:
            command += ["--register-email", "required"]
        self.proc = self.execute(command)
        self.wait_for_port()

    def wait_for_services(self):
        # Accounts are built into the server, as in Ergo: nothing to wait for.
        pass

    def registerUser(self, case, username, password=None):
        assert password
        env = dict(os.environ, PRISE_CHAT_PASSWORD=password)
        # A test may register a name twice: the account gets the new password.
        for command in ("add", "reset-password"):
            done = subprocess.run(
                [os.environ["PRISE_BIN"], "-q", "chat", "account", command,
                 "--history", str(self.history), username],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if done.returncode == 0:
                return
        raise RuntimeError(f"prise chat account: {done.stderr.decode()}")

    def kill(self):
        if self.external:
            return
        super().kill()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def get_irctest_controller_class():
    return PriseController
