// The browser client against a real `prise chat serve --web`, in Debian's Chromium driven by
// playwright-core: two pages and a native (TCP, JSON lines) client talk in rooms and in
// private; a message with markup shows as text; the pages reconnect by themselves after the
// server restarts. Run by crates/cli/tests/web.rs:
//
//   PRISE_BIN=target/debug/prise OUT_DIR=/tmp node web/tests/chat.mjs
//
// Prints one line per step and "ok" at the end; any failed check throws (exit 1).

import assert from 'node:assert/strict';
import path from 'node:path';

import { WAIT, step, startServer, stopServer, launch, native, openPage } from './support.mjs';

const outDir = process.env.OUT_DIR || '.';

async function say(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

const message = (page, text) => page.locator('#messages li', { hasText: text });

async function main() {
  let server = await startServer(0, 0);
  const url = `http://${server.web}/`;
  const browser = await launch();
  try {
    step('two pages pick their nicks');
    const alice = await openPage(browser, url, 'alice');
    const bob = await openPage(browser, url, 'bob');
    const carol = await native(server.chat, 'carol');

    step('join a room from the form and with /join');
    await alice.fill('#join-input', '#salon');
    await alice.press('#join-input', 'Enter');
    await alice.locator('#title', { hasText: '#salon' }).waitFor({ timeout: WAIT });
    await say(bob, '/join salon');
    await bob.locator('#title', { hasText: '#salon' }).waitFor({ timeout: WAIT });
    await alice.locator('#users li', { hasText: 'bob' }).waitFor({ timeout: WAIT });

    step('a message from one page reaches the other');
    await say(alice, 'bonjour from alice');
    await message(bob, '[alice] bonjour from alice').waitFor({ timeout: WAIT });
    // Timestamps are shown in local time, with the exact time kept in datetime.
    const stamp = await message(bob, 'bonjour from alice').locator('time').getAttribute('datetime');
    assert.match(stamp, /^\d{4}-\d\d-\d\dT/);

    step('the native client reaches the pages; an unread count shows on the room list');
    carol.send({ type: 'chat', to: '#general', text: 'hi from native' });
    const badge = alice.locator('#rooms button', { hasText: '#general' }).locator('.unread');
    await badge.waitFor({ timeout: WAIT });
    assert.equal(await badge.textContent(), '1');
    assert.equal(await badge.getAttribute('aria-label'), '1 unread');
    await alice.locator('#rooms button', { hasText: '#general' }).click();
    await message(alice, '[carol] hi from native').waitFor({ timeout: WAIT });
    assert.equal(await badge.count(), 0, 'read once shown');

    step('a page reaches the native client');
    await say(alice, 'hello native');
    const got = await carol.until((m) => m.type === 'chat' && m.text === 'hello native');
    assert.equal(got.from, 'alice');
    assert.equal(got.to, '#general');

    step('a private message opens a conversation');
    await say(bob, '/msg alice psst');
    const privateRoom = alice.locator('#rooms button', { hasText: '@bob' });
    await privateRoom.waitFor({ timeout: WAIT });
    await privateRoom.click();
    await message(alice, '[bob] psst').waitFor({ timeout: WAIT });
    carol.send({ type: 'private', to: 'alice', text: 'native psst' });
    await alice.locator('#rooms button', { hasText: '@carol' }).click({ timeout: WAIT });
    await message(alice, '[carol] native psst').waitFor({ timeout: WAIT });

    step('markup in a message is shown as text');
    await alice.locator('#rooms button', { hasText: '#salon' }).click();
    // bob's /msg took him to his conversation with alice: back to the room.
    await bob.locator('#rooms button', { hasText: '#salon' }).click();
    const hostile = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>';
    await say(bob, hostile);
    await message(alice, hostile).waitFor({ timeout: WAIT });
    assert.equal(await alice.evaluate(() => window.pwned), undefined);
    assert.equal(await alice.locator('#messages script, #messages img, #messages b').count(), 0);

    step('/me and /help');
    await say(alice, '/me waves');
    await message(bob, '* alice waves').waitFor({ timeout: WAIT });
    await say(alice, '/help');
    await message(alice, '/join ROOM [KEY]').waitFor({ timeout: WAIT });
    await say(alice, '/frobnicate');
    await message(alice, 'Unknown command /frobnicate').waitFor({ timeout: WAIT });

    step('/ban, /bans and /unban from the page; a banned native client cannot join');
    await say(alice, '/ban mallory');
    await message(alice, '* mallory!*@* is banned from #salon').waitFor({ timeout: WAIT });
    await message(bob, '* alice sets mode +b mallory!*@*').waitFor({ timeout: WAIT });
    await say(alice, '/bans');
    await message(alice, '* Banned from #salon: mallory!*@* (by alice)').waitFor({ timeout: WAIT });
    const mallory = await native(server.chat, 'mallory');
    mallory.send({ type: 'join', room: '#salon' });
    const refused = await mallory.until((m) => m.type === 'error');
    assert.equal(refused.code, 'banned');
    await say(alice, '/unban mallory');
    await message(alice, '* mallory!*@* is no longer banned from #salon').waitFor({ timeout: WAIT });
    mallory.send({ type: 'join', room: '#salon' });
    await mallory.until((m) => m.type === 'joined' && m.room === '#salon');
    mallory.close();

    step('a newcomer gets the room\'s history on join');
    const dave = await openPage(browser, url, 'dave');
    await say(dave, '/join #salon');
    await dave.locator('#title', { hasText: '#salon' }).waitFor({ timeout: WAIT });
    await message(dave, '[alice] bonjour from alice').waitFor({ timeout: WAIT });
    await message(dave, '* alice waves').waitFor({ timeout: WAIT });

    step('leaving a room takes it off the list');
    await say(dave, '/join #tmp');
    await dave.locator('#title', { hasText: '#tmp' }).waitFor({ timeout: WAIT });
    await dave.click('#leave');
    await dave.locator('#rooms button', { hasText: '#tmp' }).waitFor({ state: 'detached', timeout: WAIT });
    // Typed as the user likes: no '#', other case; the server's folding decides.
    await say(dave, '/join #Tmp2');
    await dave.locator('#title', { hasText: '#Tmp2' }).waitFor({ timeout: WAIT });
    await say(dave, '/part TMP2');
    await dave.locator('#rooms button', { hasText: '#Tmp2' }).waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await dave.evaluate(() => localStorage.getItem('prise.rooms')), '["#salon"]');
    // Nothing brings it back (our own part notice comes after the ack): once the answer to a
    // later request is in, so is the notice.
    await say(dave, '/rooms');
    await message(dave, '* Rooms: ').waitFor({ timeout: WAIT });
    assert.equal(await dave.locator('#rooms button', { hasText: '#tmp' }).count(), 0);
    await dave.context().close();

    step('a screenshot');
    await alice.screenshot({ path: path.join(outDir, 'web-chat.png') });
    // And the phone layout: the room list folds away behind its button.
    await alice.setViewportSize({ width: 390, height: 760 });
    assert.equal(await alice.locator('#menu').isVisible(), true);
    await alice.screenshot({ path: path.join(outDir, 'web-chat-phone.png') });
    const roomsBox = async () => (await alice.locator('#sidebar').boundingBox()).x;
    assert.ok((await roomsBox()) < 0, 'the room list is folded away');
    await alice.click('#menu');
    assert.equal(await alice.getAttribute('#menu', 'aria-expanded'), 'true');
    assert.equal(await roomsBox(), 0, 'the room list slides in');
    await alice.keyboard.press('Escape');
    assert.ok((await roomsBox()) < 0, 'Escape folds it again');
    assert.equal(await alice.getAttribute('#menu', 'aria-expanded'), 'false');
    await alice.setViewportSize({ width: 1100, height: 700 });

    step('the keyboard switches conversations');
    await alice.focus('#input');
    await alice.keyboard.press('Alt+ArrowDown');
    await alice.locator('#title', { hasText: '@bob' }).waitFor({ timeout: WAIT });
    await alice.keyboard.press('Alt+ArrowUp');
    await alice.locator('#title', { hasText: '#salon' }).waitFor({ timeout: WAIT });

    step('the server restarts; the pages reconnect by themselves and rejoin their rooms');
    carol.close();
    const [chatPort, webPort] = [server.chat, server.web].map((a) => Number(a.slice(a.lastIndexOf(':') + 1)));
    await stopServer(server);
    await alice.locator('#status[data-state="waiting"]', { hasText: 'Reconnecting in' }).waitFor({ timeout: WAIT });
    server = await startServer(chatPort, webPort);
    await alice.locator('#status', { hasText: 'Connected as alice' }).waitFor({ timeout: 45_000 });
    await bob.locator('#status', { hasText: 'Connected as bob' }).waitFor({ timeout: 45_000 });
    await alice.locator('#users li', { hasText: 'bob' }).waitFor({ timeout: WAIT });
    await say(bob, 'after the restart');
    await message(alice, '[bob] after the restart').waitFor({ timeout: WAIT });
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
