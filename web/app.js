// prise chat in the browser: the native JSON protocol (docs/PROTOCOL-chat.md) over a
// WebSocket, one JSON object per message. Everything shown is set with textContent, never as
// HTML: a message is text whatever it contains.
'use strict';

const $ = (id) => document.getElementById(id);

const HELP = [
  'Commands:',
  '  /nick NAME (or /nom NAME)   change your name',
  '  /join ROOM [KEY]            join a room (created if new: you are its operator)',
  '  /part [ROOM]                leave a room (the current one by default)',
  '  /msg NICK TEXT              private message',
  '  /me TEXT                    action: * you TEXT',
  '  /topic [TEXT]               show or set the current room\'s topic',
  '  /kick NICK [REASON]         put someone out of the current room (operators)',
  '  /invite NICK [ROOM]         invite someone to the current room (or ROOM)',
  '  /ban MASK, /unban MASK      ban nick!user@host (wildcards; a bare nick is nick!*@*)',
  '  /bans                       the current room\'s bans',
  '  /op NICK, /deop NICK        make someone an operator of the current room, or not',
  '  /who [ROOM]                 who is in the room',
  '  /rooms                      list rooms',
  '  /history [N]                the last N messages of the current room',
  '  /login [ACCOUNT] PASSWORD   log in (or use the form above); /logout to stop',
  '  /register PASSWORD [EMAIL]  make your nick an account',
  '  /register-room [ROOM]       keep a room you operate (operators, topic, modes, bans)',
  '  /unregister-room [ROOM]     stop keeping it; /room-info [ROOM] says who registered it',
  '  /quit [REASON]              leave (the page stops reconnecting)',
  'Any other line is said in the current conversation. Alt+Up and Alt+Down switch conversations.',
];

const state = {
  ws: null,
  nick: localStorage.getItem('prise.nick') || '',
  me: '',
  // key ('#room' or '@nick', folded) -> {key, name, kind, messages, users, unread, topic}
  convs: new Map(),
  current: null,
  // Rooms to join again after a reconnect (beyond the server's default room).
  rooms: new Set(JSON.parse(localStorage.getItem('prise.rooms') || '[]')),
  retry: 0,
  timer: null,
  countdown: null,
  quitting: false,
  ref: 0,
  pending: new Map(), // ref -> what to do with the answer (`.fail` for an error)
  account: null, // the account logged in to
};

// The server's folding (RFC 1459): ASCII lower case, and []\~ the same as {}|^.
const fold = (s) => s.replace(/[A-Z[\]\\~]/g, (c) => ({ '[': '{', ']': '}', '\\': '|', '~': '^' }[c] || c.toLowerCase()));
// A room as the server names it: `salon` is `#salon`.
const roomName = (s) => (s.startsWith('#') ? s : `#${s}`);

function saveRooms() {
  localStorage.setItem('prise.rooms', JSON.stringify([...state.rooms]));
}

function conv(name, kind) {
  const key = fold(name);
  let c = state.convs.get(key);
  if (!c) {
    c = { key, name, kind, messages: [], users: new Set(), ops: new Set(), unread: 0, topic: '', joined: kind === 'room' };
    state.convs.set(key, c);
    renderRooms();
  }
  return c;
}

// ---- the connection -------------------------------------------------------------------

function setStatus(kind, text) {
  const s = $('status');
  s.dataset.state = kind;
  s.textContent = text;
  $('reconnect').hidden = kind !== 'waiting' && kind !== 'closed';
}

function connect() {
  clearTimeout(state.timer);
  clearInterval(state.countdown);
  setStatus('connecting', 'Connecting…');
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => {
    const hello = { type: 'hello', versions: [1] };
    if (state.nick) hello.nick = state.nick;
    // A server run with --password: asked once, kept for this tab only.
    const password = sessionStorage.getItem('prise.server-password');
    if (password) hello.password = password;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    for (const c of state.convs.values()) if (c.kind === 'room') c.joined = false;
    if (state.quitting) {
      setStatus('closed', 'Disconnected (you quit). Reload the page to come back.');
      return;
    }
    // 1 s, 2 s, 4 s... up to 30 s, with some jitter so a restarted server is not hit at once.
    const base = Math.min(30, 2 ** state.retry);
    const wait = Math.max(1, Math.round(base * (0.75 + Math.random() * 0.5)));
    state.retry += 1;
    let left = wait;
    setStatus('waiting', `Disconnected. Reconnecting in ${left} s…`);
    state.countdown = setInterval(() => {
      left -= 1;
      if (left > 0) setStatus('waiting', `Disconnected. Reconnecting in ${left} s…`);
    }, 1000);
    state.timer = setTimeout(connect, wait * 1000);
  };
}

function send(obj, then) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    system(state.current, '! Not connected; try again once connected.', 'error');
    return false;
  }
  if (then) {
    state.ref += 1;
    obj.ref = state.ref;
    state.pending.set(state.ref, then);
  }
  state.ws.send(JSON.stringify(obj));
  return true;
}

// ---- what the server says ---------------------------------------------------------------

function handle(msg) {
  const then = msg.ref !== undefined ? state.pending.get(msg.ref) : undefined;
  if (then) state.pending.delete(msg.ref);
  switch (msg.type) {
    case 'welcome':
      state.me = msg.nick;
      state.retry = 0;
      setStatus('connected', `Connected as ${msg.nick}`);
      $('nick-input').value = msg.nick;
      // The session cookie (HttpOnly: never seen here) logged the connection in, or not.
      showAccount(msg.account || null);
      for (const line of String(msg.motd || '').split('\n')) if (line) system(null, line);
      for (const room of state.rooms) send({ type: 'join', room });
      break;
    case 'joined': {
      const c = conv(msg.room, 'room');
      c.joined = true;
      c.topic = msg.topic || '';
      c.users = new Set(msg.users || []);
      c.ops = new Set(msg.ops || []);
      // History on join; after a reconnect, only what came after what is already shown.
      const last = c.messages.filter((m) => !m.system).map((m) => m.ts).sort().pop() || '';
      for (const m of msg.history || []) if (m.ts > last) addChat(c, m, true);
      if (!then && last) system(c.key, `* Back in ${msg.room}`);
      // A room the user asked for is joined again after a reconnect (the default room is
      // joined by the server itself).
      if (then && ![...state.rooms].some((r) => fold(r) === fold(msg.room))) {
        state.rooms.add(msg.room);
        saveRooms();
      }
      if (!state.current || then) show(c.key);
      else if (state.current === c.key) render();
      renderRooms();
      break;
    }
    case 'chat': addChat(conv(msg.to, 'room'), msg, false); break;
    case 'private': {
      const other = fold(msg.from) === fold(state.me) ? msg.to : msg.from;
      addChat(conv('@' + other, 'private'), msg, false);
      break;
    }
    case 'ack':
    case 'bans':
      if (then) then(msg);
      break;
    case 'join': {
      const c = conv(msg.room, 'room');
      c.users.add(msg.nick);
      system(c.key, `* ${msg.nick} joined ${msg.room}`);
      break;
    }
    case 'part': {
      // Our own leaving may come after the ack that closed the conversation: not reopened.
      const c = state.convs.get(fold(msg.room));
      if (!c) break;
      c.users.delete(msg.nick);
      c.ops.delete(msg.nick);
      system(c.key, `* ${msg.nick} left ${msg.room}${msg.reason ? ` (${msg.reason})` : ''}`);
      break;
    }
    case 'quit':
      for (const c of state.convs.values()) {
        if (c.users.delete(msg.nick)) system(c.key, `* ${msg.nick} quit${msg.reason ? ` (${msg.reason})` : ''}`);
      }
      break;
    case 'nick': {
      if (fold(msg.old) === fold(state.me)) {
        state.me = msg.new;
        setStatus('connected', `Connected as ${msg.new}`);
        $('nick-input').value = msg.new;
      }
      for (const c of state.convs.values()) {
        if (c.users.delete(msg.old)) {
          c.users.add(msg.new);
          system(c.key, `* ${msg.old} is now known as ${msg.new}`);
        }
      }
      break;
    }
    case 'topic': {
      const c = state.convs.get(fold(msg.room));
      if (!c) break;
      c.topic = msg.topic;
      system(c.key, `* ${msg.by} set the topic: ${msg.topic}`);
      break;
    }
    case 'kick': {
      const c = state.convs.get(fold(msg.room));
      if (!c) break;
      c.users.delete(msg.nick);
      if (fold(msg.nick) === fold(state.me)) {
        c.joined = false;
        state.rooms.delete(msg.room); saveRooms();
      }
      system(c.key, `* ${msg.by} put ${msg.nick} out of ${msg.room}${msg.reason ? ` (${msg.reason})` : ''}`);
      break;
    }
    case 'mode':
      system(msg.room, `* ${msg.by} sets mode ${msg.modes} ${(msg.args || []).join(' ')}`.trim());
      break;
    case 'invite':
      system(null, `* ${msg.by} invites you to ${msg.room}: /join ${msg.room}`);
      break;
    case 'users':
      system(null, msg.room ? `* In ${msg.room}: ${msg.users.join(', ')}` : `* Connected: ${msg.users.join(', ')}`);
      break;
    case 'rooms':
      system(null, `* Rooms: ${msg.rooms.map((r) => `${r.name} (${r.users})${r.topic ? ': ' + r.topic : ''}`).join(', ') || 'none'}`);
      break;
    case 'history': {
      const c = conv(msg.room, 'room');
      const seen = new Set(c.messages.filter((m) => m.id).map((m) => m.id));
      const older = (msg.messages || []).filter((m) => !seen.has(m.id)).map((m) => chatItem(m));
      c.messages = older.concat(c.messages);
      if (state.current === c.key) render();
      break;
    }
    case 'system':
      system(null, msg.text);
      break;
    case 'error':
      system(state.current, `! ${msg.text}`, 'error');
      if (then && then.fail) then.fail(msg);
      if (msg.code === 'bad_password') {
        const password = window.prompt('This chat server asks for a password:');
        if (password) {
          sessionStorage.setItem('prise.server-password', password);
          state.retry = 0;
        } else {
          sessionStorage.removeItem('prise.server-password');
        }
      }
      break;
    case 'ping':
      send({ type: 'pong', token: msg.token });
      break;
    default:
      break;
  }
  if (state.current) renderUsers();
}

function chatItem(m) {
  return { id: m.id, ts: m.ts, from: m.from, text: m.text, action: !!m.action, mine: fold(m.from || '') === fold(state.me) };
}

function addChat(c, m, quiet) {
  c.messages.push(chatItem(m));
  if (c.messages.length > 1000) c.messages.splice(0, c.messages.length - 1000);
  if (state.current === c.key) append(c.messages[c.messages.length - 1]);
  else if (!quiet) { c.unread += 1; renderRooms(); }
}

function system(key, text, cls) {
  const c = key ? state.convs.get(fold(key)) : state.convs.get(state.current);
  const item = { ts: new Date().toISOString(), text, system: cls || 'system' };
  if (!c) { pendingSystem.push(item); return; }
  c.messages.push(item);
  if (state.current === c.key) append(item);
}
const pendingSystem = [];

// ---- rendering --------------------------------------------------------------------------

function timeOf(ts) {
  const d = new Date(ts);
  const el = document.createElement('time');
  el.dateTime = ts;
  el.textContent = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  el.title = d.toLocaleString();
  return el;
}

function line(item) {
  const li = document.createElement('li');
  li.append(timeOf(item.ts));
  if (item.system) {
    li.className = item.system;
    li.append(document.createTextNode(item.text));
    return li;
  }
  if (item.mine) li.classList.add('mine');
  if (item.action) {
    li.append(document.createTextNode(`* ${item.from} ${item.text}`));
  } else {
    const who = document.createElement('span');
    who.className = 'nick';
    who.textContent = `[${item.from}] `;
    li.append(who, document.createTextNode(item.text));
  }
  return li;
}

function append(item) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(line(item));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function render() {
  const c = state.convs.get(state.current);
  const list = $('messages');
  list.replaceChildren(...(c ? c.messages.map(line) : []));
  list.scrollTop = list.scrollHeight;
  $('title').textContent = c ? c.name : '…';
  $('topic').textContent = c ? c.topic : '';
  $('leave').hidden = !c;
  $('leave').textContent = c && c.kind === 'room' ? `Leave ${c.name}` : 'Close';
  renderUsers();
}

function renderUsers() {
  const c = state.convs.get(state.current);
  const users = c ? [...c.users].sort((a, b) => a.localeCompare(b)) : [];
  $('users').replaceChildren(...users.map((u) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = (c.ops.has(u) ? '@' : '') + u;
    b.setAttribute('aria-label', `Talk privately with ${u}`);
    b.onclick = () => show(conv('@' + u, 'private').key);
    li.append(b);
    return li;
  }));
}

function renderRooms() {
  const items = [...state.convs.values()].sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'room' ? -1 : 1));
  $('rooms').replaceChildren(...items.map((c) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.key = c.key;
    const name = document.createElement('span');
    name.textContent = c.name;
    b.append(name);
    if (c.unread) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(c.unread);
      badge.setAttribute('aria-label', `${c.unread} unread`);
      b.append(badge);
    }
    if (c.key === state.current) b.setAttribute('aria-current', 'true');
    b.onclick = () => { show(c.key); closeMenu(); $('input').focus(); };
    li.append(b);
    return li;
  }));
}

function show(key) {
  const c = state.convs.get(key);
  if (!c) return;
  state.current = key;
  c.unread = 0;
  while (pendingSystem.length) c.messages.push(pendingSystem.shift());
  renderRooms();
  render();
}

// ---- what the user types ----------------------------------------------------------------

function say(text, action) {
  const c = state.convs.get(state.current);
  if (!c) return;
  if (c.kind === 'private') {
    const to = c.name.slice(1);
    send({ type: 'private', to, text, action }, (ack) => addChat(c, { id: ack.id, ts: ack.ts, from: state.me, text, action }, true));
  } else {
    send({ type: 'chat', to: c.name, text, action }, (ack) => addChat(c, { id: ack.id, ts: ack.ts, from: state.me, text, action }, true));
  }
}

function command(text) {
  const [head, ...restParts] = text.slice(1).split(' ');
  const rest = restParts.join(' ').trim();
  const cmd = head.toLowerCase();
  const c = state.convs.get(state.current);
  const room = c && c.kind === 'room' ? c.name : null;
  switch (cmd) {
    case 'nick': case 'nom':
      if (!rest) return system(state.current, '! Usage: /nick NewName', 'error');
      return setNick(rest);
    case 'join': {
      if (!rest) return system(state.current, '! Usage: /join ROOM [KEY]', 'error');
      const [r, key] = rest.split(' ');
      return send({ type: 'join', room: r, key }, () => {});
    }
    case 'part': case 'leave':
      return leave(rest ? roomName(rest.split(' ')[0]) : room);
    case 'msg': case 'query': case 'tell': {
      const [to, ...words] = rest.split(' ');
      const body = words.join(' ').trim();
      if (!to || !body) return system(state.current, '! Usage: /msg NICK TEXT', 'error');
      const p = conv('@' + to, 'private');
      return send({ type: 'private', to, text: body }, (ack) => { addChat(p, { id: ack.id, ts: ack.ts, from: state.me, text: body }, true); show(p.key); });
    }
    case 'me':
      if (!rest) return system(state.current, '! Usage: /me TEXT', 'error');
      return say(rest, true);
    case 'topic':
      if (!room) return system(state.current, '! /topic works in a room', 'error');
      return send(rest ? { type: 'topic', room, topic: rest } : { type: 'topic', room }, (ack) => system(room, `* Topic of ${room}: ${ack.topic || '(none)'}`));
    case 'kick': {
      const [nick, ...why] = rest.split(' ');
      if (!nick || !room) return system(state.current, '! Usage: /kick NICK [REASON] (in a room)', 'error');
      return send({ type: 'kick', room, nick, reason: why.join(' ') }, () => {});
    }
    case 'ban': case 'unban':
      if (!rest || !room) return system(state.current, `! Usage: /${cmd} MASK (in a room)`, 'error');
      return send({ type: cmd, room, mask: rest }, (ack) => system(room, cmd === 'ban' ? `* ${ack.mask} is banned from ${ack.room}` : `* ${ack.mask} is no longer banned from ${ack.room}`));
    case 'bans':
      if (!room) return system(state.current, '! /bans works in a room', 'error');
      return send({ type: 'bans', room }, (reply) => system(room, reply.bans.length ? `* Banned from ${reply.room}: ${reply.bans.map((b) => `${b.mask} (by ${b.by})`).join(', ')}` : `* Nobody is banned from ${reply.room}`));
    case 'op': case 'deop':
      if (!rest || !room) return system(state.current, `! Usage: /${cmd} NICK (in a room)`, 'error');
      return send({ type: cmd, room, nick: rest }, (ack) => system(room, cmd === 'op' ? `* ${ack.nick} is now an operator of ${ack.room}` : `* ${ack.nick} is no longer an operator of ${ack.room}`));
    case 'register-room': case 'unregister-room': case 'room-info': {
      const target = rest ? roomName(rest.split(' ')[0]) : room;
      if (!target) return system(state.current, `! Usage: /${cmd} ROOM`, 'error');
      const type = cmd.replace('-', '_');
      return send({ type, room: target }, (reply) => system(target,
        type === 'room_info' ? `* ${reply.room} is registered by ${reply.founder} since ${reply.registered}; operators: ${reply.ops.join(', ')}`
          : type === 'register_room' ? `* ${reply.room} is registered to your account: its operators, topic, modes and bans are kept`
            : `* ${reply.room} is no longer registered`));
    }
    case 'invite': {
      const [nick, r] = rest.split(' ');
      if (!nick || !(r || room)) return system(state.current, '! Usage: /invite NICK [ROOM]', 'error');
      return send({ type: 'invite', nick, room: r || room }, (ack) => system(state.current, `* Invited ${ack.nick} to ${ack.room}`));
    }
    case 'who': case 'users': case 'names':
      return send(rest === '*' ? { type: 'users' } : { type: 'users', room: rest || room || undefined });
    case 'rooms': case 'list':
      return send({ type: 'rooms' });
    case 'history': {
      if (!room) return system(state.current, '! /history works in a room', 'error');
      const n = parseInt(rest || '50', 10);
      return send({ type: 'history', room, limit: Number.isFinite(n) ? n : 50 });
    }
    case 'login': case 'identify': {
      const words = rest.split(' ').filter(Boolean);
      if (!words.length) return system(state.current, '! Usage: /login [ACCOUNT] PASSWORD', 'error');
      return words.length > 1 ? logIn(words[0], words.slice(1).join(' ')) : logIn('', words[0]);
    }
    case 'register': {
      const [password, email] = rest.split(' ');
      if (!password) return system(state.current, '! Usage: /register PASSWORD [EMAIL]', 'error');
      const then = (ack) => keep(ack);
      then.fail = accountFailed;
      return send(email ? { type: 'register', password, email, session: true } : { type: 'register', password, session: true }, then);
    }
    case 'logout':
      return logOut();
    case 'help': case 'aide': case '?':
      return HELP.forEach((l) => system(state.current, l));
    case 'quit': case 'exit':
      state.quitting = true;
      clearTimeout(state.timer);
      clearInterval(state.countdown);
      if (state.ws) send({ type: 'quit', reason: rest });
      else setStatus('closed', 'Disconnected (you quit). Reload the page to come back.');
      return undefined;
    default:
      return system(state.current, `! Unknown command /${head}. Type /help for the list.`, 'error');
  }
}

// This page's user is now `nick` (its own request acknowledged): the member lists follow.
function renamed(nick) {
  for (const c of state.convs.values()) if (c.users.delete(state.me)) c.users.add(nick);
  state.me = nick;
  state.nick = nick;
  localStorage.setItem('prise.nick', nick);
  setStatus('connected', `Connected as ${nick}`);
  $('nick-input').value = nick;
  renderUsers();
}

function setNick(nick) {
  state.nick = nick;
  localStorage.setItem('prise.nick', nick);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    send({ type: 'nick', nick }, (ack) => {
      renamed(ack.nick);
      system(state.current, `* You are now known as ${ack.nick}`);
    });
  }
}

// ---- accounts ----------------------------------------------------------------------------

function showAccount(account) {
  state.account = account;
  $('login-form').hidden = !!account;
  $('account').hidden = !account;
  $('account-name').textContent = account ? `Logged in as ${account}` : '';
  if (account) $('account-error').textContent = '';
}

function accountFailed(msg) {
  $('account-error').textContent = msg.text;
}

// A login or registration with `session`: its token becomes the HttpOnly cookie that logs
// the next connections in; the page keeps neither the token nor the password.
async function keep(ack) {
  $('password-input').value = '';
  showAccount(ack.account);
  system(state.current, `* You are logged in as ${ack.account}`);
  if (!ack.token) return;
  const res = await fetch('/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: ack.token }),
  });
  if (!res.ok) accountFailed({ text: 'Logged in, but the session could not be kept (reload logs out).' });
}

function logIn(account, password) {
  const then = (ack) => keep(ack);
  then.fail = accountFailed;
  const req = { type: 'login', password, session: true };
  if (account) req.account = account;
  send(req, then);
}

// Sign up: the account is named after the nick, so the nick changes first if it must.
function signUp(name, password) {
  const register = () => {
    const then = (ack) => keep(ack);
    then.fail = accountFailed;
    send({ type: 'register', password, session: true }, then);
  };
  if (!name || fold(name) === fold(state.me)) return register();
  const then = (ack) => { renamed(ack.nick); register(); };
  then.fail = accountFailed;
  send({ type: 'nick', nick: name }, then);
}

async function logOut() {
  send({ type: 'logout' });
  await fetch('/session', { method: 'DELETE' });
  showAccount(null);
  system(state.current, '* You are logged out');
}

function leave(name) {
  if (!name) return;
  const c = state.convs.get(fold(name));
  if (c && c.kind === 'private') {
    state.convs.delete(c.key);
  } else {
    send({ type: 'part', room: name }, (ack) => {
      // The server's own spelling of the room, whatever was typed.
      const left = ack.room || name;
      for (const r of [...state.rooms]) if (fold(r) === fold(left)) state.rooms.delete(r);
      saveRooms();
      state.convs.delete(fold(left));
      if (state.current === fold(left)) state.current = null;
      const next = state.convs.keys().next();
      if (!next.done) show(next.value); else render();
      renderRooms();
    });
    return;
  }
  if (state.current === c.key) {
    const next = state.convs.keys().next();
    state.current = null;
    if (!next.done) show(next.value); else render();
  }
  renderRooms();
}

function closeMenu() {
  $('sidebar').classList.remove('open');
  $('menu').setAttribute('aria-expanded', 'false');
}

function move(step) {
  const keys = [...document.querySelectorAll('#rooms button')].map((b) => b.dataset.key);
  if (!keys.length) return;
  const i = Math.max(0, keys.indexOf(state.current));
  show(keys[(i + step + keys.length) % keys.length]);
}

window.addEventListener('DOMContentLoaded', () => {
  $('nick-input').value = state.nick;
  $('send-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('input');
    const text = input.value;
    if (!text.trim()) return;
    input.value = '';
    if (text.startsWith('/') && !text.startsWith('//')) command(text);
    else say(text.startsWith('//') ? text.slice(1) : text, false);
  });
  $('nick-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const nick = $('nick-input').value.trim();
    if (nick) setNick(nick);
  });
  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = $('join-input').value.trim();
    if (r) { command(`/join ${r}`); $('join-input').value = ''; }
  });
  $('leave').addEventListener('click', () => {
    const c = state.convs.get(state.current);
    if (c) leave(c.name);
  });
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('account-error').textContent = '';
    logIn($('account-input').value.trim(), $('password-input').value);
  });
  $('signup').addEventListener('click', () => {
    $('account-error').textContent = '';
    if (!$('password-input').value) { accountFailed({ text: 'Choose a password first.' }); return; }
    signUp($('account-input').value.trim(), $('password-input').value);
  });
  $('logout').addEventListener('click', () => { logOut(); });
  $('reconnect').addEventListener('click', () => { state.retry = 0; state.quitting = false; connect(); });
  $('menu').addEventListener('click', () => {
    const open = $('sidebar').classList.toggle('open');
    $('menu').setAttribute('aria-expanded', String(open));
  });
  document.addEventListener('keydown', (e) => {
    if (e.altKey && e.key === 'ArrowUp') { e.preventDefault(); move(-1); }
    else if (e.altKey && e.key === 'ArrowDown') { e.preventDefault(); move(1); }
    else if (e.key === 'Escape') { closeMenu(); $('input').focus(); }
  });
  connect();
});
