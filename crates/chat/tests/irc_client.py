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
    check(alice, words(names)[-1] == "alice", "353 lists alice")
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
    alice.send("MODE #py +k secret")
    alice.numeric("472", "unsupported channel mode")

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
