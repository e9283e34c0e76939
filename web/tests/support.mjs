// What the browser tests share: the server, a native client, the browser. See chat.mjs and
// accounts.mjs (run by crates/cli/tests/web.rs).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const prise = process.env.PRISE_BIN;
assert.ok(prise, 'PRISE_BIN must name the prise binary');
export const WAIT = 15_000;

export function step(text) {
  console.log(`step: ${text}`);
}

// The server, on given ports (0: any), ready once both announce lines are out.
export async function startServer(chatPort, webPort, args = ['--no-history']) {
  const proc = spawn(prise, [
    '-q', 'chat', 'serve', ...args,
    '--listen', `127.0.0.1:${chatPort}`,
    '--web', `127.0.0.1:${webPort}`,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: proc.stdout });
  const found = {};
  for await (const line of lines) {
    const m = line.match(/^(chat|web) listening on (.+)$/);
    if (m) found[m[1]] = m[2];
    if (found.chat && found.web) break;
  }
  assert.ok(found.chat && found.web, 'no announce lines');
  return { proc, chat: found.chat, web: found.web };
}

export async function stopServer(server) {
  const exited = new Promise((resolve) => server.proc.once('exit', resolve));
  server.proc.kill('SIGTERM');
  await exited;
}

// Debian's Chromium, headless; playwright-core downloads no browser of its own.
export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

// A native client: JSON lines over TCP.
export async function native(addr, nick) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const socket = net.connect(port, host);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const seen = [];
  const waiters = [];
  readline.createInterface({ input: socket }).on('line', (line) => {
    const msg = JSON.parse(line);
    seen.push(msg);
    for (const w of [...waiters]) if (w.pred(msg)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(msg); }
  });
  const client = {
    send: (obj) => socket.write(JSON.stringify(obj) + '\n'),
    until: (pred) => new Promise((resolve, reject) => {
      const hit = seen.find(pred);
      if (hit) { seen.splice(seen.indexOf(hit), 1); return resolve(hit); }
      const timer = setTimeout(() => reject(new Error(`native client: nothing matched in time; seen ${JSON.stringify(seen)}`)), WAIT);
      waiters.push({ pred, resolve: (m) => { clearTimeout(timer); seen.splice(seen.indexOf(m), 1); resolve(m); } });
    }),
    close: () => socket.destroy(),
  };
  client.send({ type: 'hello', versions: [1], nick });
  await client.until((m) => m.type === 'joined');
  return client;
}

// A page in its own browser context (its own cookies), connected, with `nick` chosen.
export async function openPage(browser, url, nick) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => { throw new Error(`page error: ${e.message}`); });
  await page.goto(url);
  await page.locator('#status', { hasText: 'Connected as Invite' }).waitFor({ timeout: WAIT });
  // Pick a nick.
  await page.fill('#nick-input', nick);
  await page.press('#nick-input', 'Enter');
  await page.locator('#status', { hasText: `Connected as ${nick}` }).waitFor({ timeout: WAIT });
  return page;
}
