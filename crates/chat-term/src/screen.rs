//! The full-screen chat client of `prise chat connect`, on ratatui.
//!
//! `App` is the whole client state and is pure: it takes [`Update`]s from the client library
//! and key presses, and says what to send. `draw` renders it. The terminal loop in [`run`]
//! only wires the two to crossterm, which keeps everything but that loop testable with
//! ratatui's `TestBackend`.
//!
//! Layout: conversations (rooms and private chats, with unread counts) on the left, messages
//! with times and colored nicks in the middle, the active room's members on the right, the
//! input line and a status line (connection state, reconnect countdown) at the bottom.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prise_chat::client::{Client, Update};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph, Wrap};
use ratatui::Frame;
use serde_json::{json, Value};

/// Lines kept per conversation.
const SCROLLBACK: usize = 2000;

/// One line in a conversation.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    time: String,
    nick: Option<String>,
    text: String,
}

#[derive(Debug)]
pub(crate) struct Conversation {
    name: String,
    entries: Vec<Entry>,
    unread: usize,
}

/// Connection state for the status line.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    Connecting,
    Connected(String),
    Reconnecting { reason: String, at: Instant },
    Gone(String),
}

/// The client's state.
#[derive(Debug)]
pub(crate) struct App {
    addr: String,
    pub(crate) conversations: Vec<Conversation>,
    pub(crate) active: usize,
    members: BTreeMap<String, Vec<String>>,
    pub(crate) input: String,
    sent: Vec<String>,
    recall: Option<usize>,
    /// Lines scrolled up from the bottom of the active conversation.
    scroll: usize,
    pub(crate) status: Status,
    pub(crate) quit: bool,
}

fn clock(ts: Option<&str>) -> String {
    ts.and_then(|t| t.get(11..16)).unwrap_or("     ").to_owned()
}

/// `HH:MM` UTC now, for our own lines (the server does not echo them back).
fn now() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    clock(Some(&stamp))
}

impl App {
    pub(crate) fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            conversations: vec![Conversation {
                name: "*server*".into(),
                entries: Vec::new(),
                unread: 0,
            }],
            active: 0,
            members: BTreeMap::new(),
            input: String::new(),
            sent: Vec::new(),
            recall: None,
            scroll: 0,
            status: Status::Connecting,
            quit: false,
        }
    }

    fn conversation(&mut self, name: &str) -> usize {
        if let Some(i) = self
            .conversations
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
        {
            return i;
        }
        self.conversations.push(Conversation {
            name: name.to_owned(),
            entries: Vec::new(),
            unread: 0,
        });
        self.conversations.len() - 1
    }

    fn push(&mut self, target: usize, entry: Entry) {
        let conversation = &mut self.conversations[target];
        conversation.entries.push(entry);
        if conversation.entries.len() > SCROLLBACK {
            conversation.entries.remove(0);
        }
        if target != self.active {
            conversation.unread += 1;
        }
    }

    fn notice(&mut self, target: usize, text: String) {
        self.push(
            target,
            Entry {
                time: String::new(),
                nick: None,
                text,
            },
        );
    }

    fn active_name(&self) -> Option<&str> {
        (self.active > 0).then(|| self.conversations[self.active].name.as_str())
    }

    /// Take an update from the client library.
    pub(crate) fn on_update(&mut self, update: Update) {
        match update {
            Update::Connected { nick } => {
                self.notice(0, format!("connected to {} as {nick}", self.addr));
                self.status = Status::Connected(nick);
            }
            Update::Disconnected {
                reason,
                retry_in: Some(wait),
            } => {
                self.notice(0, format!("disconnected: {reason}"));
                self.status = Status::Reconnecting {
                    reason,
                    at: Instant::now() + wait,
                };
            }
            Update::Disconnected {
                reason,
                retry_in: None,
            } => self.status = Status::Gone(reason),
            Update::Message(v) => self.on_message(&v),
        }
    }

    fn on_message(&mut self, v: &Value) {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        match v["type"].as_str().unwrap_or_default() {
            "chat" => {
                let target = self.conversation(&s("to"));
                self.push(target, message_entry(v));
            }
            "private" => {
                let target = self.conversation(&s("from"));
                self.push(target, message_entry(v));
            }
            "joined" => {
                let room = s("room");
                let target = self.conversation(&room);
                let users: Vec<String> = v["users"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                self.members.insert(room.to_lowercase(), users);
                for m in v["history"].as_array().into_iter().flatten() {
                    self.push(target, message_entry(m));
                }
                if !s("topic").is_empty() {
                    self.notice(target, format!("topic: {}", s("topic")));
                }
                self.conversations[target].unread = 0;
                self.active = target;
                self.scroll = 0;
            }
            "join" | "part" => {
                let room = s("room");
                let target = self.conversation(&room);
                let nick = s("nick");
                let members = self.members.entry(room.to_lowercase()).or_default();
                if v["type"] == "join" {
                    members.push(nick.clone());
                    members.sort_by_key(|n| n.to_lowercase());
                    self.notice(target, format!("{nick} joined"));
                } else {
                    members.retain(|n| n != &nick);
                    self.notice(target, format!("{nick} left"));
                }
            }
            "kick" => {
                let room = s("room");
                let target = self.conversation(&room);
                let nick = s("nick");
                if let Some(members) = self.members.get_mut(&room.to_lowercase()) {
                    members.retain(|n| n != &nick);
                }
                let reason = match s("reason") {
                    r if r.is_empty() => String::new(),
                    r => format!(" ({r})"),
                };
                self.notice(target, format!("{} put {nick} out{reason}", s("by")));
            }
            "mode" => {
                let target = self.conversation(&s("room"));
                let args: Vec<&str> = v["args"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let text = format!("{} set mode {} {}", s("by"), s("modes"), args.join(" "));
                self.notice(target, text.trim_end().to_owned());
            }
            "invite" => {
                let target = self.active;
                self.notice(
                    target,
                    format!(
                        "{} invites you to {}: /join {}",
                        s("by"),
                        s("room"),
                        s("room")
                    ),
                );
            }
            "quit" | "nick" => {
                let (old, new) = if v["type"] == "quit" {
                    (s("nick"), None)
                } else {
                    (s("old"), Some(s("new")))
                };
                let rooms: Vec<String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.contains(&old))
                    .map(|(r, _)| r.clone())
                    .collect();
                for room in rooms {
                    if let Some(members) = self.members.get_mut(&room) {
                        members.retain(|n| n != &old);
                        if let Some(new) = &new {
                            members.push(new.clone());
                            members.sort_by_key(|n| n.to_lowercase());
                        }
                    }
                    let target = self.conversation(&room);
                    let text = match &new {
                        Some(new) => format!("{old} is now known as {new}"),
                        None => format!("{old} quit"),
                    };
                    self.notice(target, text);
                }
            }
            "topic" => {
                let target = self.conversation(&s("room"));
                self.notice(target, format!("{} set the topic: {}", s("by"), s("topic")));
            }
            // register, login (also --account's), logout.
            "ack" if v.get("account").is_some() => match v["account"].as_str() {
                Some(account) => self.notice(0, format!("you are logged in as {account}")),
                None => self.notice(0, "you are logged out".to_owned()),
            },
            "ack" if v.get("old").is_some() => {
                self.status = Status::Connected(s("nick"));
                self.notice(0, format!("you are now known as {}", s("nick")));
            }
            "ack" if v.get("room").is_some() && v.get("topic").is_none() => {
                // A part: close the conversation.
                let room = s("room");
                if let Some(i) = self
                    .conversations
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(&room))
                {
                    self.conversations.remove(i);
                    self.active = self.active.min(self.conversations.len() - 1);
                }
            }
            "error" | "system" => {
                let target = self.active;
                self.notice(target, s("text"));
            }
            "users" => {
                let users: Vec<&str> = v["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let target = self.active;
                self.notice(
                    target,
                    format!(
                        "{} ({}): {}",
                        v["room"].as_str().unwrap_or("online"),
                        users.len(),
                        users.join(", ")
                    ),
                );
            }
            "rooms" => {
                let target = self.active;
                for r in v["rooms"].as_array().into_iter().flatten() {
                    self.notice(
                        target,
                        format!(
                            "{} ({}) {}",
                            r["name"].as_str().unwrap_or_default(),
                            r["users"],
                            r["topic"].as_str().unwrap_or_default()
                        ),
                    );
                }
            }
            "bans" => {
                if let Some(line) = crate::commands::bans_line(v) {
                    let target = self.conversation(&s("room"));
                    self.notice(target, line.trim_start_matches("* ").to_owned());
                }
            }
            "room_info" => {
                if let Some(line) = crate::commands::room_info_line(v) {
                    let target = self.conversation(&s("room"));
                    self.notice(target, line.trim_start_matches("* ").to_owned());
                }
            }
            "history" => {
                let target = self.conversation(&s("room"));
                for m in v["messages"].as_array().into_iter().flatten() {
                    self.push(target, message_entry(m));
                }
            }
            _ => {}
        }
    }

    /// Take a key press; returns a request to send, if any.
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Option<Value> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c' | 'd') if ctrl => {
                self.quit = true;
                return Some(json!({"type": "quit"}));
            }
            KeyCode::Char(c) => self.input.push(c),
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Tab | KeyCode::Right if key.code == KeyCode::Tab || ctrl => self.switch(1),
            KeyCode::BackTab | KeyCode::Left if key.code == KeyCode::BackTab || ctrl => {
                self.switch(-1)
            }
            KeyCode::PageUp => self.scroll = self.scroll.saturating_add(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Up => {
                let at = self.recall.map_or(self.sent.len(), |i| i).checked_sub(1)?;
                self.recall = Some(at);
                self.input = self.sent[at].clone();
            }
            KeyCode::Down => {
                let at = self.recall? + 1;
                if at < self.sent.len() {
                    self.recall = Some(at);
                    self.input = self.sent[at].clone();
                } else {
                    self.recall = None;
                    self.input.clear();
                }
            }
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        None
    }

    fn switch(&mut self, step: isize) {
        let n = self.conversations.len() as isize;
        self.active = usize::try_from((self.active as isize + step).rem_euclid(n)).unwrap_or(0);
        self.conversations[self.active].unread = 0;
        self.scroll = 0;
    }

    fn submit(&mut self) -> Option<Value> {
        let line = std::mem::take(&mut self.input);
        self.recall = None;
        if line.trim().is_empty() {
            return None;
        }
        self.sent.push(line.clone());
        let active = self.active_name().map(str::to_owned);
        // In a private conversation, plain lines go to that person.
        if let Some(name) = active.as_deref().filter(|n| !n.starts_with('#')) {
            if !line.starts_with('/') {
                let target = self.active;
                let nick = match &self.status {
                    Status::Connected(nick) => nick.clone(),
                    _ => "you".into(),
                };
                self.push(
                    target,
                    Entry {
                        time: now(),
                        nick: Some(nick),
                        text: line.clone(),
                    },
                );
                return Some(json!({"type": "private", "to": name, "text": line}));
            }
        }
        match crate::commands::request(&line, active.as_deref().filter(|n| n.starts_with('#'))) {
            Ok(Some(req)) => {
                if req["type"] == "quit" {
                    self.quit = true;
                }
                // Our own messages: the server does not echo them back, so show them now.
                if req["type"] == "chat" || req["type"] == "private" {
                    let to = req["to"].as_str().unwrap_or_default().to_owned();
                    let target = self.conversation(&to);
                    let nick = match &self.status {
                        Status::Connected(nick) => nick.clone(),
                        _ => "you".into(),
                    };
                    let text = req["text"].as_str().unwrap_or_default();
                    let text = if req["action"] == true {
                        format!("* {nick} {text}")
                    } else {
                        text.to_owned()
                    };
                    self.push(
                        target,
                        Entry {
                            time: now(),
                            nick: (req["action"] != true).then_some(nick),
                            text,
                        },
                    );
                }
                Some(req)
            }
            Ok(None) => None,
            Err(message) => {
                let target = self.active;
                self.notice(target, message);
                None
            }
        }
    }
}

fn message_entry(m: &Value) -> Entry {
    let from = m["from"].as_str().unwrap_or_default().to_owned();
    let text = m["text"].as_str().unwrap_or_default().to_owned();
    let time = clock(m["ts"].as_str());
    if m["action"] == true {
        Entry {
            time,
            nick: None,
            text: format!("* {from} {text}"),
        }
    } else {
        Entry {
            time,
            nick: Some(from),
            text,
        }
    }
}

/// A stable color per nick, so a person is recognisable down the page.
fn nick_color(nick: &str) -> Color {
    const COLORS: [Color; 6] = [
        Color::Cyan,
        Color::Green,
        Color::Yellow,
        Color::Magenta,
        Color::Blue,
        Color::Red,
    ];
    let hash = nick.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    COLORS[hash % COLORS.len()]
}

/// Render the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App) {
    let [main, input_area, status_area] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [list_area, messages_area, members_area] = Layout::horizontal([
        Constraint::Length(20),
        Constraint::Min(20),
        Constraint::Length(18),
    ])
    .areas(main);

    let items: Vec<ListItem<'_>> = app
        .conversations
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut text = c.name.clone();
            if c.unread > 0 {
                text.push_str(&format!(" ({})", c.unread));
            }
            let style = if i == app.active {
                Style::default().add_modifier(Modifier::REVERSED)
            } else if c.unread > 0 {
                Style::default().add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            ListItem::new(text).style(style)
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::ALL).title("rooms")),
        list_area,
    );

    let conversation = &app.conversations[app.active];
    let height = usize::from(messages_area.height.saturating_sub(2));
    let end = conversation.entries.len().saturating_sub(app.scroll);
    let start = end.saturating_sub(height);
    let lines: Vec<Line<'_>> = conversation.entries[start..end]
        .iter()
        .map(|e| {
            let mut spans = vec![Span::styled(
                format!("{} ", e.time),
                Style::default().fg(Color::DarkGray),
            )];
            match &e.nick {
                Some(nick) => {
                    spans.push(Span::styled(
                        format!("[{nick}] "),
                        Style::default()
                            .fg(nick_color(nick))
                            .add_modifier(Modifier::BOLD),
                    ));
                    spans.push(Span::raw(e.text.clone()));
                }
                None => spans.push(Span::styled(
                    e.text.clone(),
                    Style::default().fg(Color::Gray),
                )),
            }
            Line::from(spans)
        })
        .collect();
    let title = if app.scroll > 0 {
        format!("{} (scrolled up {})", conversation.name, app.scroll)
    } else {
        conversation.name.clone()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        messages_area,
    );

    let members: Vec<ListItem<'_>> = app
        .members
        .get(&conversation.name.to_lowercase())
        .into_iter()
        .flatten()
        .map(|n| ListItem::new(n.clone()).style(Style::default().fg(nick_color(n))))
        .collect();
    let count = members.len();
    frame.render_widget(
        List::new(members).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!("members ({count})")),
        ),
        members_area,
    );

    frame.render_widget(
        Paragraph::new(app.input.as_str()).block(
            Block::default()
                .borders(Borders::ALL)
                .title("message (/help for commands)"),
        ),
        input_area,
    );
    let status = match &app.status {
        Status::Connecting => format!("connecting to {}...", app.addr),
        Status::Connected(nick) => format!(
            "connected to {} as {nick} | Tab: next room  PgUp/PgDn: scroll  Ctrl-C: quit",
            app.addr
        ),
        Status::Reconnecting { reason, at } => {
            let left = at.saturating_duration_since(Instant::now());
            format!(
                "disconnected ({reason}); reconnecting in {:.0} s",
                left.as_secs_f64().ceil()
            )
        }
        Status::Gone(reason) => format!("disconnected: {reason}"),
    };
    let style = match app.status {
        Status::Connected(_) => Style::default().fg(Color::Green),
        _ => Style::default().fg(Color::Yellow),
    };
    frame.render_widget(Paragraph::new(status).style(style), status_area);
    let cursor_x = input_area.x
        + 1
        + u16::try_from(app.input.chars().count())
            .unwrap_or(u16::MAX)
            .min(input_area.width.saturating_sub(3));
    frame.set_cursor_position((cursor_x, input_area.y + 1));
}

/// Run the full-screen client until the user quits.
pub async fn run(mut client: Client, addr: &str) -> std::io::Result<()> {
    // Keys are read on their own thread: crossterm's read blocks.
    let (keys_tx, mut keys) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || loop {
        match event::read() {
            Ok(Event::Key(key)) => {
                if keys_tx.blocking_send(key).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    });
    let mut terminal = ratatui::init();
    let mut app = App::new(addr);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let result = loop {
        if let Err(e) = terminal.draw(|f| draw(f, &app)) {
            break Err(e);
        }
        tokio::select! {
            update = client.next() => match update {
                Some(update) => app.on_update(update),
                None => break Ok(()),
            },
            key = keys.recv() => {
                let Some(key) = key else { break Ok(()) };
                if let Some(request) = app.on_key(key) {
                    if client.send(request).await.is_err() {
                        break Ok(());
                    }
                }
                if app.quit {
                    break Ok(());
                }
            }
            // Redraw the reconnect countdown.
            _ = tick.tick() => {}
        }
    };
    ratatui::restore();
    if app.quit {
        client.quit("").await;
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(app: &App) -> String {
        let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
        terminal.draw(|f| draw(f, app)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, text: &str) -> Option<Value> {
        for c in text.chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Enter))
    }

    #[test]
    fn renders_messages_members_unread_and_status() {
        let mut app = App::new("127.0.0.1:7070");
        app.on_update(Update::Connected {
            nick: "alice".into(),
        });
        app.on_update(Update::Message(json!({"type": "joined", "room": "#general", "topic": "Bienvenue", "users": ["alice", "bob"], "history": [
            {"id": 1, "ts": "2026-11-24T09:15:00.000Z", "from": "bob", "to": "#general", "text": "earlier", "action": false}
        ]})));
        app.on_update(Update::Message(json!({"type": "chat", "id": 2, "ts": "2026-11-24T09:16:00.000Z", "from": "bob", "to": "#general", "text": "salut alice", "action": false})));
        app.on_update(Update::Message(json!({"type": "private", "id": 3, "ts": "2026-11-24T09:17:00.000Z", "from": "carol", "to": "alice", "text": "psst", "action": false})));
        let text = screen(&app);
        assert!(text.contains("09:16 [bob] salut alice"), "{text}");
        assert!(
            text.contains("09:15 [bob] earlier"),
            "history replayed: {text}"
        );
        assert!(text.contains("topic: Bienvenue"), "{text}");
        assert!(
            text.contains("carol (1)"),
            "unread count on the private conversation: {text}"
        );
        assert!(text.contains("members (2)"), "{text}");
        assert!(
            text.contains("connected to 127.0.0.1:7070 as alice"),
            "{text}"
        );
        // Tab to the next conversation clears its unread count and shows it.
        app.on_key(key(KeyCode::Tab));
        let text = screen(&app);
        assert!(text.contains("[carol] psst"), "{text}");
        assert!(!text.contains("carol (1)"), "{text}");
    }

    #[test]
    fn typing_sends_requests_and_shows_own_lines() {
        let mut app = App::new("x:1");
        app.on_update(Update::Connected {
            nick: "alice".into(),
        });
        app.on_update(Update::Message(json!({"type": "joined", "room": "#general", "topic": "", "users": ["alice"], "history": []})));
        let req = typed(&mut app, "hello there").unwrap();
        assert_eq!(
            req,
            json!({"type": "chat", "to": "#general", "text": "hello there"})
        );
        assert!(screen(&app).contains("[alice] hello there"));
        assert_eq!(
            typed(&mut app, "/nom bob").unwrap(),
            json!({"type": "nick", "nick": "bob"})
        );
        assert_eq!(
            typed(&mut app, "/join salon").unwrap(),
            json!({"type": "join", "room": "salon"})
        );
        assert!(typed(&mut app, "/bogus").is_none());
        assert!(screen(&app).contains("unknown command /bogus"));
        // Input history: Up recalls the last line sent.
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.input, "/bogus");
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.input, "/join salon");
    }

    #[test]
    fn status_line_shows_the_reconnect_countdown() {
        let mut app = App::new("h:1");
        app.on_update(Update::Connected {
            nick: "alice".into(),
        });
        app.on_update(Update::Disconnected {
            reason: "the server closed the connection".into(),
            retry_in: Some(Duration::from_secs(3)),
        });
        let text = screen(&app);
        assert!(
            text.contains("disconnected (the server closed the connection); reconnecting in 3 s"),
            "{text}"
        );
    }

    #[test]
    fn page_up_scrolls_back() {
        let mut app = App::new("h:1");
        app.on_update(Update::Message(
            json!({"type": "joined", "room": "#r", "topic": "", "users": [], "history": []}),
        ));
        for i in 0..100 {
            app.on_update(Update::Message(json!({"type": "chat", "ts": "2026-11-24T10:00:00.000Z", "from": "bot", "to": "#r", "text": format!("line {i}")})));
        }
        assert!(screen(&app).contains("line 99"));
        app.on_key(key(KeyCode::PageUp));
        app.on_key(key(KeyCode::PageUp));
        let text = screen(&app);
        assert!(
            !text.contains("line 99") && text.contains("line 79"),
            "{text}"
        );
        assert!(text.contains("scrolled up 20"));
    }
}
