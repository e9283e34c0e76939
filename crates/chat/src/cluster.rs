//! Several nodes on one Redis (docs/CLUSTER.md): what a node publishes and what it takes from
//! the others. Built so far: live room messages, over one channel per room.
//!
//! One [`redis::aio::ConnectionManager`] a node, over RESP3: commands and pub/sub messages share
//! it, it reconnects with backoff and resubscribes by itself. The hub never waits on Redis: it
//! queues [`Job`]s, which one task runs in order (so one sender's messages are published in the
//! order they were said), and the messages of other nodes come back through
//! [`Cluster::run`].

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo as _, ProtocolVersion, PushKind, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::event::Message;
use crate::hub::Hub;
use crate::names::fold;
use crate::Error;

/// The prefix of every key and channel prise uses.
pub const PREFIX: &str = "prise:";

/// A room's channel: `prise:room:<folded name>`.
pub fn room_channel(room: &str) -> String {
    format!("{PREFIX}room:{}", fold(room))
}

/// What goes on a room's channel.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    /// The node of the sender.
    node: String,
    /// The sender's ident (the user part of `nick!ident@host`).
    ident: String,
    /// The message.
    message: Message,
}

/// What the hub asks of Redis, in order.
#[derive(Debug)]
pub(crate) enum Job {
    /// A room has its first member on this node.
    Subscribe(String),
    /// A room has no member left on this node.
    Unsubscribe(String),
    /// A message said on this node, for the other nodes' members of its room.
    Publish {
        /// The sender's ident.
        ident: String,
        /// The message.
        message: Message,
    },
}

/// This node's link to the others.
#[derive(Debug, Clone)]
pub struct Cluster {
    node: Arc<str>,
    jobs: mpsc::UnboundedSender<Job>,
}

/// The pieces [`Cluster::connect`] makes: the link (for the hub) and what runs it.
pub struct Link {
    /// Given to the hub ([`Hub::join_cluster`]).
    pub cluster: Cluster,
    /// Run by [`Cluster::run`].
    pub runner: Runner,
}

/// The half of the link that talks to Redis ([`Cluster::run`]).
pub struct Runner {
    node: Arc<str>,
    conn: ConnectionManager,
    jobs: mpsc::UnboundedReceiver<Job>,
    pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
    url: String,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A URL as it may be shown: without its password.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Cluster {
    /// Connect to the Redis at `url` as the node `node`.
    ///
    /// # Errors
    /// [`Error::Cluster`] when the URL is not one or Redis cannot be reached.
    pub async fn connect(url: &str, node: &str) -> Result<Link, Error> {
        let client = Self::probe(url).await?;
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Cluster {
            url: shown(url),
            reason: format!("{what}: {e}"),
        };
        let (push_tx, pushes) = mpsc::unbounded_channel();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_max_delay(std::time::Duration::from_secs(5));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| failed("cannot connect", &e))?;
        let (jobs_tx, jobs) = mpsc::unbounded_channel();
        let node: Arc<str> = Arc::from(node);
        Ok(Link {
            cluster: Cluster {
                node: Arc::clone(&node),
                jobs: jobs_tx,
            },
            runner: Runner {
                node,
                conn,
                jobs,
                pushes,
                url: shown(url),
            },
        })
    }

    /// Check that the Redis at `url` answers (once, without the backoff of a running node),
    /// for a server to refuse to start at once; returns its client (RESP3).
    ///
    /// # Errors
    /// [`Error::Cluster`] when the URL is not one or Redis cannot be reached.
    pub async fn probe(url: &str) -> Result<redis::Client, Error> {
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Cluster {
            url: shown(url),
            reason: format!("{what}: {e}"),
        };
        let info = url
            .into_connection_info()
            .map_err(|e| failed("not a Redis URL", &e))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| failed("not a Redis URL", &e))?;
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| failed("cannot connect", &"no answer within 5 s"))?
        .map_err(|e| failed("cannot connect", &e))?;
        drop(conn);
        Ok(client)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub(crate) fn queue(&self, job: Job) {
        // The runner ends with the server; a job queued after is of no use.
        let _ = self.jobs.send(job);
    }

    /// Run the link until `hub` is gone or the server stops: the hub's jobs out to Redis, the
    /// other nodes' messages in to the hub.
    pub async fn run(runner: Runner, hub: Hub) {
        let Runner {
            node,
            mut conn,
            mut jobs,
            mut pushes,
            url,
        } = runner;
        loop {
            tokio::select! {
                job = jobs.recv() => {
                    let Some(job) = job else { break };
                    if let Err(e) = do_job(&mut conn, &node, job).await {
                        // The manager reconnects by itself; what failed now is lost to the
                        // other nodes (the outage catch-up is the next step, docs/CLUSTER.md).
                        tracing::warn!(redis = %url, error = %e, "redis");
                    }
                }
                push = pushes.recv() => {
                    let Some(push) = push else { break };
                    if let Some(published) = published(push) {
                        if *published.node != *node {
                            hub.deliver_remote(&published.ident, published.message);
                        }
                    }
                }
            }
        }
    }
}

async fn do_job(conn: &mut ConnectionManager, node: &str, job: Job) -> redis::RedisResult<()> {
    match job {
        Job::Subscribe(room) => conn.subscribe(room_channel(&room)).await,
        Job::Unsubscribe(room) => conn.unsubscribe(room_channel(&room)).await,
        Job::Publish { ident, message } => {
            let channel = room_channel(&message.to);
            let payload = serde_json::to_string(&Published {
                node: node.to_owned(),
                ident,
                message,
            })
            .unwrap_or_default();
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(conn)
                .await
                .map(|_| ())
        }
    }
}

/// A room message of another node (or ours), from a push.
fn published(push: redis::PushInfo) -> Option<Published> {
    if push.kind != PushKind::Message {
        return None;
    }
    let payload = match push.data.get(1)? {
        Value::BulkString(bytes) => bytes.clone(),
        Value::SimpleString(text) => text.clone().into_bytes(),
        _ => return None,
    };
    match serde_json::from_slice::<Published>(&payload) {
        Ok(published) => Some(published),
        Err(e) => {
            tracing::warn!(error = %e, "a message on a room channel that is not prise's: ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{room_channel, shown};

    #[test]
    fn channels_are_folded_and_passwords_not_shown() {
        assert_eq!(room_channel("#General"), "prise:room:#general");
        assert_eq!(room_channel("#a[b]"), "prise:room:#a{b}");
        assert_eq!(
            shown("redis://:secret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(shown("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }
}
