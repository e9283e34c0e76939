"""Drive a prise ftp server with Python's ftplib, as a user's script would.

    python3 ftplib_client.py HOST PORT USER PASSWORD CAFILE|- OUT.json

Every step's visible result goes into OUT.json for the Rust test to check; byte comparisons
are made here (the data never leaves this process otherwise).
"""

import ftplib
import hashlib
import io
import json
import os
import socket
import ssl
import sys

host, port, user, password, cafile, out = sys.argv[1:7]
port = int(port)
seen = {}
payload = os.urandom(3 * 1024 * 1024 + 17)


def fetch(ftp, name, rest=None):
    buf = io.BytesIO()
    ftp.retrbinary("RETR " + name, buf.write, blocksize=65536, rest=rest)
    return buf.getvalue()


def session(ftp, tag):
    s = seen[tag] = {}
    s["pwd"] = ftp.pwd()
    s["mkd"] = ftp.mkd("work dir")
    ftp.cwd("work dir")
    s["pwd_after_cwd"] = ftp.pwd()
    s["stor"] = ftp.storbinary("STOR data.bin", io.BytesIO(payload))
    s["size"] = ftp.size("data.bin")
    s["retr_same"] = fetch(ftp, "data.bin") == payload
    # Resume a download from an offset (REST then RETR).
    s["rest_same"] = fetch(ftp, "data.bin", rest=1000000) == payload[1000000:]
    # Resume an upload: APPE the rest of a file that has its first part.
    ftp.storbinary("STOR part.bin", io.BytesIO(payload[:123456]))
    ftp.storbinary("APPE part.bin", io.BytesIO(payload[123456:]))
    s["appe_same"] = fetch(ftp, "part.bin") == payload
    # REST + STOR: rewrite from an offset.
    ftp.storbinary("STOR rest.bin", io.BytesIO(b"x" * 5000))
    ftp.storbinary("STOR rest.bin", io.BytesIO(payload[2000:]), rest=2000)
    got = fetch(ftp, "rest.bin")
    s["rest_stor_same"] = got == b"x" * 2000 + payload[2000:]
    lines = []
    ftp.retrlines("LIST", lines.append)
    s["list"] = lines
    s["nlst"] = sorted(ftp.nlst())
    s["mlsd"] = {name: facts for name, facts in ftp.mlsd()}
    s["mdtm"] = ftp.sendcmd("MDTM data.bin")
    s["mfmt"] = ftp.sendcmd("MFMT 20200102030405 data.bin")
    s["mdtm_after_mfmt"] = ftp.sendcmd("MDTM data.bin")
    s["mlst"] = ftp.sendcmd("MLST data.bin")
    s["rnfr"] = ftp.sendcmd("RNFR part.bin")
    s["rnto"] = ftp.sendcmd("RNTO renamed.bin")
    s["after_rename"] = sorted(ftp.nlst())
    s["dele"] = [ftp.delete(n) for n in ["renamed.bin", "rest.bin"]]
    # EPSV: ftplib uses it for IPv6 only; ask for it by making ftplib think so.
    ftp.af = socket.AF_INET6
    s["epsv_same"] = fetch(ftp, "data.bin") == payload
    ftp.af = socket.AF_INET
    # Active mode (PORT).
    ftp.set_pasv(False)
    s["port_same"] = fetch(ftp, "data.bin") == payload
    ftp.set_pasv(True)
    ftp.delete("data.bin")
    ftp.cwd("..")
    s["rmd"] = ftp.rmd("work dir")
    s["feat"] = ftp.sendcmd("FEAT")
    s["syst"] = ftp.sendcmd("SYST")
    for cmd in ["SITE CHMOD 777 x", "XYZZY", "RETR ../../etc/passwd", "CWD ../..", "MODE B"]:
        try:
            ftp.sendcmd(cmd)
            s[cmd] = "accepted"
        except ftplib.error_perm as e:
            s[cmd] = str(e)
    s["quit"] = ftp.quit()


ftp = ftplib.FTP()
ftp.connect(host, port, timeout=20)
seen["welcome"] = ftp.getwelcome()
if cafile == "-":
    ftp.login(user, password)
    session(ftp, "plain")
else:
    # A named user must not log in before TLS.
    try:
        ftp.login(user, password)
        seen["plain_login"] = "accepted"
    except ftplib.error_perm as e:
        seen["plain_login"] = str(e)
    ftp.close()
    context = ssl.create_default_context(cafile=cafile)
    ftps = ftplib.FTP_TLS(context=context)
    ftps.connect(host, port, timeout=20)
    ftps.login(user, password)
    ftps.prot_p()
    session(ftps, "tls")

with open(out, "w") as f:
    json.dump(seen, f, indent=1)
