//! A room's modes, as the hub keeps them and the accounts store keeps a registered room's.

/// A room's modes (IRC channel modes; see docs/PROTOCOL-chat.md, "Room modes").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RoomModes {
    /// `n`: only members may send to the room.
    pub no_external: bool,
    /// `t`: only operators may set the topic.
    pub topic_ops: bool,
    /// `s`: hidden from room lists and from non-members.
    pub secret: bool,
    /// `i`: joining needs an invitation.
    pub invite_only: bool,
    /// `m`: only operators and voiced members may talk.
    pub moderated: bool,
    /// `k`: joining needs this key.
    pub key: Option<String>,
    /// `l`: at most this many members.
    pub limit: Option<usize>,
}

impl Default for RoomModes {
    /// A new room is `+nt`, as on most IRC servers.
    fn default() -> Self {
        Self {
            no_external: true,
            topic_ops: true,
            secret: false,
            invite_only: false,
            moderated: false,
            key: None,
            limit: None,
        }
    }
}

impl RoomModes {
    /// IRC style: `+klnt` and the values (`key`, `10`); the key is shown only when `show_key`.
    pub fn describe(&self, show_key: bool) -> (String, Vec<String>) {
        let mut flags = String::from("+");
        let mut args = Vec::new();
        if self.invite_only {
            flags.push('i');
        }
        if let Some(key) = &self.key {
            flags.push('k');
            args.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            args.push(limit.to_string());
        }
        for (on, c) in [
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        (flags, args)
    }
}
