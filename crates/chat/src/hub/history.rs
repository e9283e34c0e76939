//! History: a room's past messages, from memory or the SQLite thread ([`crate::history`]).

use super::state::*;

impl Session {
    /// Older messages of a room: the `limit` latest before message `before` (or the latest),
    /// oldest first, and whether there are older ones still.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::History`].
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(String, Vec<Message>, bool), Error> {
        let name = room_name(room)?;
        let display = lock(&self.hub.inner.state)
            .rooms
            .get(&fold(&name))
            .map_or(name, |r| r.name.clone());
        let Some(history) = &self.hub.inner.history else {
            // No database: what is in memory is all there is.
            let state = lock(&self.hub.inner.state);
            let recent: Vec<Message> = state
                .rooms
                .get(&fold(&display))
                .map(|r| {
                    r.recent
                        .iter()
                        .filter(|m| before.is_none_or(|b| m.id < b))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let skip = recent.len().saturating_sub(limit);
            return Ok((display, recent[skip..].to_vec(), skip > 0));
        };
        let (mut messages, more) = history.recent(&display, before, limit).await?;
        for m in &mut messages {
            m.to.clone_from(&display);
        }
        Ok((display, messages, more))
    }
}
