// Accounts in the browser, against a real `prise chat serve --web --history FILE` in Debian's
// Chromium: sign up from the page, the session kept in an HttpOnly, SameSite=Strict cookie
// (never visible to the page's script), a reload logged in without the password, a wrong
// password refused and the right one accepted on another page, log-out, and the session
// surviving a server restart; and a server password asked by a prompt. An IRC client checks what the server believes (WHOIS 330). Run by
// crates/cli/tests/web.rs:
//
//   PRISE_BIN=target/debug/prise OUT_DIR=/tmp node web/tests/accounts.mjs
//
// Prints one line per step and "ok" at the end; any failed check throws (exit 1).

import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { WAIT, step, startServer, stopServer, launch, openPage } from './support.mjs';

const outDir = process.env.OUT_DIR || '.';

// WHOIS over IRC: the account `nick` is logged in to, or null.
async function accountOf(addr, nick) {
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  const socket = net.connect(port, '127.0.0.1');
  const lines = readline.createInterface({ input: socket });
  const asker = `asker${Math.floor(Math.random() * 1e6)}`;
  socket.write(`NICK ${asker}\r\nUSER a 0 * :a\r\n`);
  let account = null;
  const timer = setTimeout(() => socket.destroy(new Error('no WHOIS answer in time')), WAIT);
  try {
    for await (const line of lines) {
      if (line.includes(' 001 ')) socket.write(`WHOIS ${nick}\r\n`);
      const m = line.match(/ 330 \S+ (\S+) (\S+) :/);
      if (m && m[1].toLowerCase() === nick.toLowerCase()) account = m[2];
      if (line.includes(' 318 ')) break;
    }
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
  return account;
}

const loggedIn = (page, account) =>
  page.locator('#account-name', { hasText: `Logged in as ${account}` }).waitFor({ timeout: WAIT });

async function main() {
  const history = path.join(outDir, 'accounts.sqlite');
  let server = await startServer(0, 0, ['--history', history]);
  const url = `http://${server.web}/`;
  const browser = await launch();
  try {
    step('sign up from the page: the account is the nick');
    const alice = await openPage(browser, url, 'alice');
    assert.equal(await alice.locator('#login-form').isVisible(), true);
    await alice.fill('#password-input', 'short');
    await alice.click('#signup');
    await alice.locator('#account-error', { hasText: 'a password is 8 to 1024 bytes' }).waitFor({ timeout: WAIT });
    await alice.fill('#password-input', 'alice-secret');
    await alice.click('#signup');
    await loggedIn(alice, 'alice');
    assert.equal(await alice.inputValue('#password-input'), '', 'the password is not kept in the form');
    assert.equal(await accountOf(server.chat, 'alice'), 'alice');

    step('the session is an HttpOnly, SameSite=Strict cookie the script cannot read');
    const cookies = await alice.context().cookies();
    const session = cookies.find((c) => c.name === 'prise_session');
    assert.ok(session, `no session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(session.value.length >= 43);
    assert.equal(await alice.evaluate(() => document.cookie.includes('prise_session')), false);
    const stored = await alice.evaluate(() => JSON.stringify(localStorage));
    assert.ok(!stored.includes('alice-secret') && !stored.includes(session.value), stored);

    step('a reload is logged in without the password');
    await alice.reload();
    await alice.locator('#status', { hasText: 'Connected as alice' }).waitFor({ timeout: WAIT });
    await loggedIn(alice, 'alice');
    assert.equal(await alice.locator('#login-form').isVisible(), false);
    assert.equal(await accountOf(server.chat, 'alice'), 'alice');

    step('another page: a wrong password is refused, the right one logs in');
    const bob = await openPage(browser, url, 'bob');
    // Its own rename shows in the member list (no stale guest name).
    await bob.locator('#users li', { hasText: 'bob' }).waitFor({ timeout: WAIT });
    assert.equal(await bob.locator('#users li', { hasText: 'Invite' }).count(), 0);
    await bob.fill('#account-input', 'alice');
    await bob.fill('#password-input', 'not-her-password');
    await bob.press('#password-input', 'Enter');
    await bob.locator('#account-error', { hasText: 'wrong account name or password' }).waitFor({ timeout: WAIT });
    assert.equal(await accountOf(server.chat, 'bob'), null);
    await bob.fill('#password-input', 'alice-secret');
    await bob.press('#password-input', 'Enter');
    await loggedIn(bob, 'alice');
    assert.equal(await accountOf(server.chat, 'bob'), 'alice');

    step('log out: the session ends, the cookie goes, a reload is a guest');
    await alice.click('#logout');
    await alice.locator('#login-form').waitFor({ state: 'visible', timeout: WAIT });
    assert.equal(await accountOf(server.chat, 'alice'), null);
    const after = (await alice.context().cookies()).find((c) => c.name === 'prise_session');
    assert.equal(after, undefined, 'the cookie is removed');
    await alice.reload();
    await alice.locator('#status', { hasText: 'Connected as' }).waitFor({ timeout: WAIT });
    assert.equal(await alice.locator('#login-form').isVisible(), true);
    // The old token no longer logs in, even sent by hand.
    const replay = await alice.evaluate(async (token) => {
      const res = await fetch('/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
      return res.status;
    }, session.value);
    assert.equal(replay, 401);

    step('the server restarts; the other page comes back still logged in');
    await bob.screenshot({ path: path.join(outDir, 'web-accounts.png') });
    const [chatPort, webPort] = [server.chat, server.web].map((a) => Number(a.slice(a.lastIndexOf(':') + 1)));
    await stopServer(server);
    await bob.locator('#status[data-state="waiting"]').waitFor({ timeout: WAIT });
    server = await startServer(chatPort, webPort, ['--history', history]);
    await bob.locator('#status', { hasText: 'Connected as bob' }).waitFor({ timeout: 45_000 });
    await loggedIn(bob, 'alice');
    assert.equal(await accountOf(server.chat, 'bob'), 'alice');

    step('a server with --password: the page asks for it, again after a wrong one, then connects');
    const gated = await startServer(0, 0, ['--no-history', '--password', 'door-key']);
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const answers = ['wrong-key', 'door-key'];
      const asked = [];
      page.on('dialog', (d) => { asked.push(d.message()); d.accept(answers.shift() || ''); });
      await page.goto(`http://${gated.web}/`);
      await page.locator('#status', { hasText: 'Connected as Invite' }).waitFor({ timeout: 45_000 });
      assert.deepEqual(asked, ['This chat server asks for a password:', 'This chat server asks for a password:']);
      await context.close();
    } finally {
      await stopServer(gated);
    }
    console.log('ok');
  } finally {
    await browser.close();
    server.proc.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
