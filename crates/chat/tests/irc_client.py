#!/usr/bin/env python3
"""An IRC client written with Python's standard library only, against prise chat.

Usage: irc_client.py HOST PORT. Exits 0 when every reply matched; otherwise prints what it
expected and the lines it saw, and exits 1. Run by crates/chat/tests/irc.rs.
"""

import socket
import sys
import time

WAIT = 10.0


class Irc:
    def __init__(self, host, port, name):
        self.name = name
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.buf = b""
        self.seen = []

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def line(self):
        """The next line without CRLF, or None at end of stream."""
        deadline = time.monotonic() + WAIT
        while b"\r\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                fail(self, "timed out waiting for a line")
            if not data:
                return None
            self.buf += data
        raw, self.buf = self.buf.split(b"\r\n", 1)
        text = raw.decode()
        self.seen = (self.seen + [text])[-30:]
        return text

    def expect(self, pred, what):
        """Read lines until one satisfies pred; return it."""
        while True:
            line = self.line()
            if line is None:
                fail(self, f"connection closed while waiting for {what}")
            if pred(line):
                return line

    def numeric(self, code, what=""):
        return self.expect(lambda l: words(l)[1:2] == [code], f"numeric {code} {what}")

    def closed(self):
        while True:
            line = self.line()
            if line is None:
                return
            self.seen.append(line)


def words(line):
    """Drop tags, then split off the trailing parameter."""
    if line.startswith("@"):
        line = line.split(" ", 1)[1]
    head, _, trailing = line.partition(" :")
    return head.split() + ([trailing] if _ else [])


def fail(client, message):
    print(f"FAIL ({client.name}): {message}", file=sys.stderr)
    for line in client.seen:
        print(f"  {client.name} saw: {line}", file=sys.stderr)
    sys.exit(1)


def check(client, cond, message):
    if not cond:
        fail(client, message)


def register(client, nick, caps=()):
    client.send("CAP LS 302")
    ls = client.expect(lambda l: " CAP " in l and " LS " in l, "CAP LS")
    for cap in ("server-time", "echo-message", "draft/chathistory"):
        check(client, cap in ls, f"CAP LS offers {cap}")
    if caps:
        client.send("CAP REQ :" + " ".join(caps))
        ack = client.expect(lambda l: " CAP " in l, "CAP ACK")
        check(client, " ACK " in ack, "requested caps acknowledged")
    client.send(f"NICK {nick}")
    client.send(f"USER {nick} 0 * :{nick.title()} Test")
    client.send("CAP END")
    welcome = client.numeric("001")
    check(client, words(welcome)[2] == nick, "001 names the nick")
    for code in ("002", "003", "004"):
        client.numeric(code)
    isupport = client.numeric("005")
    for token in ("CASEMAPPING=rfc1459", "CHANTYPES=#", "NICKLEN=30", "NETWORK=prise"):
        check(client, token in isupport, f"005 has {token}")
    client.numeric("251")
    client.numeric("255")
    client.expect(lambda l: words(l)[1] in ("376", "422"), "end of MOTD or 422")


def mode_line(client, what):
    return client.expect(lambda l: words(l)[1:2] == ["MODE"], what)


def operators(host, port, alice, bob):
    """Channel operators, modes, KICK, INVITE, user modes, away-notify, OPER/KILL/WALLOPS."""
    carol = Irc(host, port, "carol")
    register(carol, "carol", caps=("multi-prefix", "away-notify"))
    carol.send("JOIN #py")
    carol.numeric("366")

    # The first member is the operator; the others are not.
    alice.send("WHO #py")
    flags = {words(l)[7]: words(l)[8] for l in (alice.numeric("352"), alice.numeric("352"), alice.numeric("352"))}
    alice.numeric("315")
    check(alice, flags == {"alice": "H@", "bob": "H", "carol": "H"}, f"WHO flags: {flags}")
    alice.send("MODE #py")
    modes = alice.numeric("324")
    check(alice, words(modes)[4:] == ["+nt"], f"a new channel is +nt: {modes}")
    bob.send("TOPIC #py :bob was here")
    bob.numeric("482", "TOPIC in a +t channel by a non-operator")
    bob.send("KICK #py alice")
    bob.numeric("482", "KICK by a non-operator")
    bob.send("MODE #py +m")
    bob.numeric("482", "MODE change by a non-operator")

    # Voice and moderation.
    alice.send("MODE #py +v bob")
    for c in (alice, bob, carol):
        line = mode_line(c, "+v bob")
        check(c, words(line) == [":alice!~alice@prise", "MODE", "#py", "+v", "bob"], f"MODE +v: {line}")
    alice.send("MODE #py +m")
    mode_line(carol, "+m")
    carol.send("PRIVMSG #py :can anyone hear me")
    carol.numeric("404", "unvoiced in a moderated channel")
    bob.send("PRIVMSG #py :voiced, so heard")
    heard = carol.expect(lambda l: "PRIVMSG" in words(l), "bob's voiced message")
    check(carol, words(heard)[-1] == "voiced, so heard", "a voiced member talks in +m")
    alice.send("MODE #py -m+o bob")
    line = mode_line(carol, "-m+o bob")
    check(carol, words(line)[3:] == ["-m+o", "bob"], f"two changes in one MODE: {line}")

    # multi-prefix: all prefixes for carol, the highest for alice.
    carol.send("NAMES #py")
    names = carol.numeric("353")
    check(carol, "@+bob" in words(names)[-1].split(), f"multi-prefix NAMES: {names}")
    carol.numeric("366")
    alice.send("NAMES #py")
    names = alice.numeric("353")
    check(alice, sorted(words(names)[-1].split()) == ["@alice", "@bob", "carol"], f"NAMES: {names}")
    alice.numeric("366")

    # KICK: everyone sees it, the kicked user is out.
    alice.send("KICK #py carol :behave")
    for c in (alice, bob, carol):
        kick = c.expect(lambda l: "KICK" in words(l), "KICK")
        check(c, words(kick) == [":alice!~alice@prise", "KICK", "#py", "carol", "behave"], f"KICK: {kick}")
    carol.send("PRIVMSG #py :still here?")
    carol.numeric("404", "a kicked user cannot send to a +n channel")

    # Invite-only: 473, then INVITE lets carol in.
    alice.send("MODE #py +i")
    mode_line(bob, "+i")
    carol.send("JOIN #py")
    carol.numeric("473", "JOIN of an invite-only channel")
    bob.send("INVITE carol #py")
    inviting = bob.numeric("341")
    check(bob, words(inviting)[3:] == ["carol", "#py"], f"341: {inviting}")
    invite = carol.expect(lambda l: "INVITE" in words(l), "INVITE")
    check(carol, words(invite) == [":bob!~bob@prise", "INVITE", "carol", "#py"], f"INVITE: {invite}")
    carol.send("JOIN #py")
    joined = carol.expect(lambda l: "JOIN" in words(l), "JOIN after INVITE")
    check(carol, words(joined)[-1] == "#py", "invited user joins")
    bob.send("INVITE carol #py")
    bob.numeric("443", "INVITE of a member")

    # Key: 475 without it, in with it; members see the key in 324.
    alice.send("MODE #py -i+k sesame")
    line = mode_line(carol, "-i+k")
    check(carol, words(line)[3:] == ["-i+k", "sesame"], f"MODE -i+k: {line}")
    dave = Irc(host, port, "dave")
    register(dave, "dave")
    dave.send("JOIN #py")
    dave.numeric("475", "JOIN without the key")
    dave.send("JOIN #py wrong")
    dave.numeric("475", "JOIN with a wrong key")
    carol.send("MODE #py")
    modes = carol.numeric("324")
    check(carol, words(modes)[4:] == ["+knt", "sesame"], f"324 with key: {modes}")
    dave.send("MODE #py")
    modes = dave.numeric("324")
    check(dave, words(modes)[4:] == ["+knt", "*"], f"324 hides the key from non-members: {modes}")

    # Limit: 471 when full.
    alice.send("MODE #py -k+l sesame 3")
    line = mode_line(carol, "-k+l")
    check(carol, words(line)[3:] == ["-k+l", "*", "3"], f"MODE -k+l: {line}")
    dave.send("JOIN #py")
    dave.numeric("471", "JOIN of a full channel")
    alice.send("MODE #py +l many")
    alice.numeric("696", "a limit that is not a number")
    alice.send("MODE #py -l")
    mode_line(carol, "-l")

    # Errors on targets.
    alice.send("KICK #py nobody")
    alice.numeric("401", "KICK of nobody")
    alice.send("KICK #py dave")
    alice.numeric("441", "KICK of a non-member")
    alice.send("MODE #py +o dave")
    alice.numeric("441", "+o of a non-member")
    alice.send("KICK #py")
    alice.numeric("461", "KICK without a nick")

    # Secret: hidden from non-members in LIST, NAMES and WHOIS.
    alice.send("MODE #py +s")
    mode_line(carol, "+s")
    dave.send("LIST")
    listed = []
    while True:
        line = dave.expect(lambda l: words(l)[1] in ("322", "323"), "LIST")
        if words(line)[1] == "323":
            break
        listed.append(words(line)[3])
    check(dave, "#py" not in listed, f"a secret channel is not listed: {listed}")
    dave.send("NAMES #py")
    end = dave.numeric("366", "NAMES of a secret channel")
    check(dave, not any(words(l)[1] == "353" for l in dave.seen[-3:]), "no 353 for a secret channel")
    dave.send("WHOIS bob")
    dave.numeric("311")
    channels = dave.expect(lambda l: words(l)[1] in ("319", "318"), "WHOIS end")
    check(dave, words(channels)[1] == "318" or "#py" not in words(channels)[-1], f"WHOIS hides #py: {channels}")
    alice.send("NAMES #py")
    names = alice.numeric("353")
    check(alice, words(names)[3] == "@", f"353 marks a secret channel with @: {names}")

    # User mode i: WHO * from someone sharing no channel does not list the invisible user.
    dave.send("MODE dave +i")
    own = dave.expect(lambda l: "MODE" in words(l), "own user MODE")
    check(dave, words(own)[-1] == "+i", f"user MODE +i: {own}")
    dave.send("MODE dave")
    umode = dave.numeric("221")
    check(dave, words(umode)[-1] == "+i", f"221: {umode}")
    dave.send("MODE dave +x")
    dave.numeric("501", "unknown user mode")
    bob.send("MODE dave +i")
    bob.numeric("502", "MODE of another user")
    alice.send("WHO *")
    listed = []
    while True:
        line = alice.expect(lambda l: words(l)[1] in ("352", "315"), "WHO *")
        if words(line)[1] == "315":
            break
        listed.append(words(line)[7])
    check(alice, "bob" in listed and "dave" not in listed, f"WHO * hides the invisible: {listed}")
    dave.send("WHO dave")
    self_who = dave.numeric("352")
    check(dave, words(self_who)[7] == "dave", "WHO shows the invisible user to themselves")
    dave.numeric("315")

    # away-notify: carol asked for it and sees bob go away and come back.
    bob.send("AWAY :brb")
    bob.numeric("306")
    away = carol.expect(lambda l: "AWAY" in words(l), "AWAY notification")
    check(carol, words(away) == [":bob!~bob@prise", "AWAY", "brb"], f"away-notify: {away}")
    bob.send("AWAY")
    bob.numeric("305")
    back = carol.expect(lambda l: "AWAY" in words(l), "back notification")
    check(carol, words(back) == [":bob!~bob@prise", "AWAY"], f"away-notify back: {back}")

    # Server operators: OPER, WALLOPS, KILL.
    dave.send("OPER admin wrong")
    dave.numeric("464", "OPER with a wrong password")
    dave.send("KILL carol :nope")
    dave.numeric("481", "KILL by a non-operator")
    dave.send("WALLOPS :nope")
    dave.numeric("481", "WALLOPS by a non-operator")
    dave.send("OPER admin s3cret")
    dave.numeric("381", "OPER")
    umode = dave.expect(lambda l: "MODE" in words(l), "MODE +o after OPER")
    check(dave, "o" in words(umode)[-1], f"OPER sets +o: {umode}")
    bob.send("MODE bob +w")
    bob.expect(lambda l: "MODE" in words(l), "own MODE +w")
    dave.send("WALLOPS :maintenance at noon")
    for c in (dave, bob):
        wallops = c.expect(lambda l: "WALLOPS" in words(l), "WALLOPS")
        check(c, words(wallops) == [":dave!~dave@prise", "WALLOPS", "maintenance at noon"], f"WALLOPS: {wallops}")
    alice.send("WHOIS dave")
    alice.numeric("313", "WHOIS of an operator")
    alice.numeric("318")
    alice.send("LUSERS")
    ops = alice.numeric("252")
    check(alice, words(ops)[3] == "1", f"252 counts one operator: {ops}")
    dave.send("KILL carol :spamming")
    error = carol.expect(lambda l: l.startswith("ERROR"), "ERROR after KILL")
    check(carol, "Killed (dave (spamming))" in error, f"ERROR gives the kill: {error}")
    carol.closed()
    quit_line = alice.expect(lambda l: "QUIT" in words(l), "carol's QUIT")
    check(alice, words(quit_line) == [":carol!~carol@prise", "QUIT", "Killed (dave (spamming))"], f"QUIT after KILL: {quit_line}")
    dave.send("QUIT")
    dave.expect(lambda l: l.startswith("ERROR"), "ERROR")
    dave.closed()
    alice.send("MODE #py -s")
    mode_line(alice, "-s")


def main():
    host, port = sys.argv[1], int(sys.argv[2])

    alice = Irc(host, port, "alice")
    # Commands before registration are refused with 451; CAP REQ of an unknown cap gets NAK.
    alice.send("CAP LS 302")
    alice.expect(lambda l: " CAP * LS " in l, "CAP LS")
    alice.send("JOIN #py")
    alice.numeric("451", "for JOIN before registration")
    alice.send("CAP REQ :no-such-cap")
    nak = alice.expect(lambda l: " CAP " in l, "CAP NAK")
    check(alice, " NAK " in nak, "unknown cap refused with NAK")
    alice.send("NICK")
    alice.numeric("431", "for NICK without a nick")
    alice.send("NICK 9bad")
    alice.numeric("432", "for an invalid nick")
    register(alice, "alice", caps=("server-time",))

    # A second client asking for a taken nick gets 433, then registers with another.
    bob = Irc(host, port, "bob")
    bob.send("NICK ALICE")
    bob.send("USER bob 0 * :Bob")
    taken = bob.numeric("433", "for a taken nick (case-insensitive)")
    check(bob, "ALICE" in taken, "433 names the nick")
    bob.send("NICK bob")
    bob.numeric("001")
    bob.numeric("005")
    bob.expect(lambda l: words(l)[1] in ("376", "422"), "end of MOTD")

    alice.send("USER again 0 * :x")
    alice.numeric("462", "for USER after registration")
    alice.send("JOIN")
    alice.numeric("461", "for JOIN without a channel")

    # Join: own JOIN (tagged with server-time), names, end of names.
    alice.send("JOIN #py")
    joined = alice.expect(lambda l: "JOIN" in words(l), "own JOIN")
    check(alice, joined.startswith("@time="), "server-time tag on own JOIN")
    check(alice, words(joined)[0] == ":alice!~alice@prise", "JOIN prefix nick!user@host")
    names = alice.numeric("353")
    check(alice, words(names)[-1] == "@alice", "353 lists alice as operator: she made #py")
    alice.numeric("366")
    bob.send("JOIN #py")
    bob.numeric("366")
    seen = alice.expect(lambda l: "JOIN" in words(l), "bob's JOIN")
    check(alice, words(seen)[0].startswith(":bob!"), "alice sees bob join")

    # Messages both ways, with the sender's prefix.
    alice.send("PRIVMSG #py :hello from alice")
    got = bob.expect(lambda l: "PRIVMSG" in words(l), "alice's message")
    check(bob, words(got) == [":alice!~alice@prise", "PRIVMSG", "#py", "hello from alice"], f"message as sent: {got}")
    bob.send("PRIVMSG #py :\x01ACTION waves\x01")
    got = alice.expect(lambda l: "PRIVMSG" in words(l), "bob's action")
    check(alice, words(got)[-1] == "\x01ACTION waves\x01", "CTCP ACTION kept")
    bob.send("PRIVMSG alice :psst")
    got = alice.expect(lambda l: "PRIVMSG" in words(l), "private message")
    check(alice, words(got)[2:] == ["alice", "psst"], "private message to alice")

    # Message errors.
    alice.send("PRIVMSG")
    alice.numeric("411", "no recipient")
    alice.send("PRIVMSG #py")
    alice.numeric("412", "no text")
    alice.send("PRIVMSG nobody :hi")
    alice.numeric("401", "no such nick")
    alice.send("PRIVMSG #nowhere :hi")
    alice.numeric("403", "no such channel")
    alice.send("PART #nowhere")
    alice.numeric("403", "PART of a channel that does not exist")
    bob.send("JOIN #bobonly")
    bob.numeric("366")
    alice.send("PRIVMSG #bobonly :let me in")
    alice.numeric("404", "cannot send to a channel one is not in")
    alice.send("PART #bobonly")
    alice.numeric("442", "PART of a channel one is not in")
    alice.send("FROBNICATE")
    alice.numeric("421", "unknown command")
    alice.send("MODE #py +z")
    alice.numeric("472", "unknown channel mode")

    # Topic, names, who, whois, list.
    alice.send("TOPIC #py :python talks here")
    bob.expect(lambda l: "TOPIC" in words(l) and words(l)[-1] == "python talks here", "TOPIC")
    alice.send("TOPIC #py")
    topic = alice.numeric("332")
    check(alice, words(topic)[-1] == "python talks here", "332 gives the topic")
    alice.send("WHO #py")
    who = [alice.numeric("352")]
    who.append(alice.numeric("352"))
    alice.numeric("315")
    check(alice, sorted(words(l)[7] for l in who) == ["alice", "bob"], "WHO lists both")
    alice.send("WHOIS bob")
    whois = alice.numeric("311")
    check(alice, words(whois)[3:6] == ["bob", "~bob", "prise"], f"311: {whois}")
    channels = alice.numeric("319")
    check(alice, "#py" in words(channels)[-1], "319 lists #py")
    alice.numeric("318")
    alice.send("WHOIS nobody")
    alice.numeric("401", "WHOIS of nobody")
    alice.numeric("318")
    alice.send("LIST")
    listed = alice.expect(lambda l: words(l)[1] == "322" and words(l)[3] == "#py", "322 for #py")
    check(alice, words(listed)[4] == "2", "LIST counts 2 users")
    alice.numeric("323")

    operators(host, port, alice, bob)

    # Away: a private message to an away user answers 301.
    alice.send("AWAY :lunch")
    alice.numeric("306")
    bob.send("PRIVMSG alice :are you there?")
    away = bob.numeric("301")
    check(bob, words(away)[-1] == "lunch", "301 gives the away message")
    alice.send("AWAY")
    alice.numeric("305")

    # Nick change: echoed to alice, seen by bob.
    alice.send("NICK alice2")
    own = alice.expect(lambda l: "NICK" in words(l), "own NICK")
    check(alice, words(own)[0].startswith(":alice!") and words(own)[-1] == "alice2", f"NICK echo: {own}")
    seen = bob.expect(lambda l: "NICK" in words(l), "alice's NICK")
    check(bob, words(seen)[-1] == "alice2", "bob sees the new nick")

    # Bad input: an over-long line gets 417 and the connection goes on; PING still answers.
    alice.send("PRIVMSG #py :" + "x" * 600)
    alice.numeric("417", "line too long")
    alice.send_raw(b"PRIVMSG #py :\xff\xfe\r\n")
    alice.expect(lambda l: "FAIL" in l and "INVALID_UTF8" in l, "FAIL for invalid UTF-8")
    alice.send("PING :still-here")
    pong = alice.expect(lambda l: "PONG" in words(l), "PONG")
    check(alice, words(pong)[-1] == "still-here", "PONG echoes the token")

    # Part and quit.
    alice.send("PART #py :done")
    part = bob.expect(lambda l: "PART" in words(l), "alice's PART")
    check(bob, words(part)[-1] == "done", "PART reason")
    bob.send("QUIT :bye now")
    error = bob.expect(lambda l: l.startswith("ERROR"), "ERROR on QUIT")
    check(bob, "bye now" in error, "ERROR carries the reason")
    bob.closed()

    # The nick is free the moment its connection closes.
    again = Irc(host, port, "bob-again")
    again.send("NICK bob")
    again.send("USER bob 0 * :Bob")
    again.numeric("001", "bob's nick is free again")
    again.send("QUIT")
    again.expect(lambda l: l.startswith("ERROR"), "ERROR")
    alice.send("QUIT")
    alice.expect(lambda l: l.startswith("ERROR"), "ERROR")
    print("ok")


if __name__ == "__main__":
    main()
