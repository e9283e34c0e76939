"""irctest controller for prise: irctest's external-server controller, plus accounts.

irctest registers the accounts its SASL tests log in to through the controller. prise keeps
accounts in its history database, so this controller adds them the way an administrator
does, with `prise chat account add` on the database of the server under test: a running
server reads accounts from the database at each login. (NickServ REGISTER would do too, but
irctest's long passwords do not fit in one 512-byte IRC line.)

Environment, set by scripts/irctest.sh: PRISE_BIN (the binary), PRISE_HISTORY (the server's
database file).
"""

import os
import subprocess

from irctest.controllers.external_server import ExternalServerController


class PriseController(ExternalServerController):
    software_name = "prise"
    supported_sasl_mechanisms = {"PLAIN"}

    def wait_for_services(self):
        # Accounts are built into the server, as in Ergo: nothing to wait for.
        pass

    def registerUser(self, case, username, password=None):
        assert password
        env = dict(os.environ, PRISE_CHAT_PASSWORD=password)
        # The tests share one server: an account of an earlier test gets its new password.
        for command in ("add", "reset-password"):
            done = subprocess.run(
                [os.environ["PRISE_BIN"], "-q", "chat", "account", command,
                 "--history", os.environ["PRISE_HISTORY"], username],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if done.returncode == 0:
                return
        raise RuntimeError(f"prise chat account: {done.stderr.decode()}")


def get_irctest_controller_class():
    return PriseController
