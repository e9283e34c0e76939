//! The chat clients' slash commands, client side: a typed line becomes a native protocol
//! request (`/join #a` is `{"type":"join","room":"#a"}`), and some answers become lines. Pure,
//! shared by the line client (in the `prise` binary) and the full-screen one ([`crate::screen`]).

use serde_json::{json, Value};

/// A typed line as a native request: the text mode's commands, client side.
pub fn request(line: &str, current: Option<&str>) -> Result<Option<Value>, String> {
    let line = line.trim_end();
    if line.is_empty() {
        return Ok(None);
    }
    let room = || {
        current
            .map(str::to_owned)
            .ok_or("you are in no room; /join ROOM first")
    };
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Some(json!({"type": "chat", "to": room()?, "text": line})));
    };
    let (name, rest) = command
        .split_once(' ')
        .map_or((command, ""), |(n, r)| (n, r.trim()));
    let req = match (name.to_ascii_lowercase().as_str(), rest) {
        ("nick" | "nom", "") => return Err("usage: /nick NewName".into()),
        ("nick" | "nom", nick) => json!({"type": "nick", "nick": nick}),
        ("join", "") => return Err("usage: /join ROOM [KEY]".into()),
        ("join", rest) => match rest.split_once(' ') {
            Some((room, key)) => json!({"type": "join", "room": room, "key": key.trim()}),
            None => json!({"type": "join", "room": rest}),
        },
        ("kick", "") => return Err("usage: /kick NICK [REASON]".into()),
        ("kick", rest) => {
            let (nick, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            json!({"type": "kick", "room": room()?, "nick": nick, "reason": reason.trim()})
        }
        ("invite", "") => return Err("usage: /invite NICK [ROOM]".into()),
        ("invite", rest) => match rest.split_once(' ') {
            Some((nick, room)) => json!({"type": "invite", "nick": nick, "room": room.trim()}),
            None => json!({"type": "invite", "nick": rest, "room": room()?}),
        },
        ("ban" | "unban", "") => return Err(format!("usage: /{name} MASK (nick!user@host, or a nick)")),
        ("ban", mask) => json!({"type": "ban", "room": room()?, "mask": mask}),
        ("unban", mask) => json!({"type": "unban", "room": room()?, "mask": mask}),
        ("bans", _) => json!({"type": "bans", "room": room()?}),
        ("part" | "leave", "") => json!({"type": "part", "room": room()?}),
        ("part" | "leave", room) => json!({"type": "part", "room": room}),
        ("msg" | "query", rest) => match rest.split_once(' ') {
            Some((to, text)) if !text.trim().is_empty() => {
                json!({"type": "private", "to": to, "text": text.trim()})
            }
            _ => return Err("usage: /msg NICK TEXT".into()),
        },
        ("me", "") => return Err("usage: /me TEXT".into()),
        ("me", text) => json!({"type": "chat", "to": room()?, "text": text, "action": true}),
        ("topic", "") => json!({"type": "topic", "room": room()?}),
        ("topic", topic) => json!({"type": "topic", "room": room()?, "topic": topic}),
        ("who" | "names", "*") => json!({"type": "users"}),
        ("who" | "names", "") => json!({"type": "users", "room": room()?}),
        ("who" | "names", room) => json!({"type": "users", "room": room}),
        ("rooms" | "list", _) => json!({"type": "rooms"}),
        ("history", n) => {
            json!({"type": "history", "room": room()?, "limit": n.parse::<u32>().unwrap_or(20)})
        }
        ("register", "") => return Err("usage: /register PASSWORD [EMAIL]".into()),
        ("register", rest) => match rest.split_once(' ') {
            Some((password, email)) => {
                json!({"type": "register", "password": password, "email": email.trim()})
            }
            None => json!({"type": "register", "password": rest}),
        },
        ("login" | "identify", "") => return Err("usage: /login [ACCOUNT] PASSWORD".into()),
        ("login" | "identify", rest) => match rest.split_once(' ') {
            Some((account, password)) => {
                json!({"type": "login", "account": account, "password": password.trim()})
            }
            None => json!({"type": "login", "password": rest}),
        },
        ("logout", _) => json!({"type": "logout"}),
        ("op" | "deop", "") => return Err(format!("usage: /{name} NICK")),
        ("op", nick) => json!({"type": "op", "room": room()?, "nick": nick}),
        ("deop", nick) => json!({"type": "deop", "room": room()?, "nick": nick}),
        ("register-room", "") => json!({"type": "register_room", "room": room()?}),
        ("register-room", room) => json!({"type": "register_room", "room": room}),
        ("unregister-room", "") => json!({"type": "unregister_room", "room": room()?}),
        ("unregister-room", room) => json!({"type": "unregister_room", "room": room}),
        ("room-info", "") => json!({"type": "room_info", "room": room()?}),
        ("room-info", room) => json!({"type": "room_info", "room": room}),
        ("quit" | "exit", reason) => json!({"type": "quit", "reason": reason}),
        ("help", _) => return Err(
            "commands: /nick /join /part /msg /me /topic /kick /invite /ban /unban /bans /who /rooms /history /op /deop /register /login /logout /register-room /unregister-room /room-info /quit"
                .into(),
        ),
        (other, _) => return Err(format!("unknown command /{other}; /help lists them")),
    };
    Ok(Some(req))
}

/// A `bans` answer as one line.
pub fn bans_line(v: &Value) -> Option<String> {
    let room = v["room"].as_str().unwrap_or_default();
    let bans: Vec<String> = v["bans"]
        .as_array()?
        .iter()
        .map(|b| {
            format!(
                "{} (by {})",
                b["mask"].as_str().unwrap_or_default(),
                b["by"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Some(if bans.is_empty() {
        format!("* Nobody is banned from {room}")
    } else {
        format!("* Banned from {room}: {}", bans.join(", "))
    })
}

/// A `room_info` answer (a registered room) as one line.
pub fn room_info_line(v: &Value) -> Option<String> {
    let ops: Vec<&str> = v["ops"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(format!(
        "* {} is registered by {} since {}; operators: {}",
        v["room"].as_str()?,
        v["founder"].as_str()?,
        v["registered"].as_str().unwrap_or_default(),
        ops.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{bans_line, request, room_info_line};

    #[test]
    fn room_commands_become_native_requests_and_lines() {
        assert_eq!(
            request("/register-room", Some("#den")),
            Ok(Some(json!({"type": "register_room", "room": "#den"})))
        );
        assert_eq!(
            request("/unregister-room #attic", Some("#den")),
            Ok(Some(json!({"type": "unregister_room", "room": "#attic"})))
        );
        assert_eq!(
            request("/op bob", Some("#den")),
            Ok(Some(json!({"type": "op", "room": "#den", "nick": "bob"})))
        );
        assert!(request("/deop", Some("#den")).is_err());
        assert!(request("/op bob", None).is_err());
        let info = json!({"type": "room_info", "room": "#den", "founder": "alice",
            "registered": "2026-12-07T10:00:00.000Z", "ops": ["alice", "bob"]});
        assert_eq!(
            room_info_line(&info).as_deref(),
            Some("* #den is registered by alice since 2026-12-07T10:00:00.000Z; operators: alice, bob")
        );
    }

    #[test]
    fn account_commands_become_native_requests() {
        assert_eq!(
            request("/login alice-secret", None),
            Ok(Some(json!({"type": "login", "password": "alice-secret"})))
        );
        assert_eq!(
            request("/identify alice a secret", None),
            Ok(Some(
                json!({"type": "login", "account": "alice", "password": "a secret"})
            ))
        );
        assert_eq!(
            request("/register s3cret-pass me@example.org", None),
            Ok(Some(
                json!({"type": "register", "password": "s3cret-pass", "email": "me@example.org"})
            ))
        );
        assert_eq!(
            request("/logout", None),
            Ok(Some(json!({"type": "logout"})))
        );
        assert!(request("/login", None).is_err());
        assert!(request("/register", None).is_err());
    }

    #[test]
    fn ban_commands_become_native_requests_and_bans_a_line() {
        assert_eq!(
            request("/ban troll", Some("#den")),
            Ok(Some(
                json!({"type": "ban", "room": "#den", "mask": "troll"})
            ))
        );
        assert_eq!(
            request("/unban *!~x@*", Some("#den")),
            Ok(Some(
                json!({"type": "unban", "room": "#den", "mask": "*!~x@*"})
            ))
        );
        assert_eq!(
            request("/bans", Some("#den")),
            Ok(Some(json!({"type": "bans", "room": "#den"})))
        );
        assert!(request("/ban", Some("#den")).is_err());
        assert!(request("/bans", None).is_err());
        let reply = json!({"type": "bans", "room": "#den", "bans": [
            {"mask": "troll!*@*", "by": "op", "ts": "2026-12-07T00:00:00.000Z"}
        ]});
        assert_eq!(
            bans_line(&reply).as_deref(),
            Some("* Banned from #den: troll!*@* (by op)")
        );
        let none = json!({"type": "bans", "room": "#den", "bans": []});
        assert_eq!(
            bans_line(&none).as_deref(),
            Some("* Nobody is banned from #den")
        );
    }
}
