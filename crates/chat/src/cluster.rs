//! Several nodes on one Redis (docs/CLUSTER.md): what a node publishes and what it takes from
//! the others. Built so far: live room messages, over one channel per room.
//!
//! One [`redis::aio::ConnectionManager`] a node, over RESP3: commands and pub/sub messages share
//! it, it reconnects with backoff and resubscribes by itself. The hub never waits on Redis: it
//! queues jobs, which one task runs in order (so one sender's messages are published in the
//! order they were said), and the messages of other nodes come back through
//! [`Cluster::run`].

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo as _, ProtocolVersion, PushKind, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::event::Message;
use crate::names::fold;
use crate::Error;

/// The prefix of every key and channel prise uses.
pub const PREFIX: &str = "prise:";

/// A room's channel: `prise:room:<folded name>`.
pub fn room_channel(room: &str) -> String {
    format!("{PREFIX}room:{}", fold(room))
}

/// A room's history stream: `prise:history:<folded name>`.
pub fn history_key(room: &str) -> String {
    format!("{PREFIX}history:{}", fold(room))
}

/// Most messages a room's stream keeps (about: `XADD MAXLEN ~`).
pub const HISTORY_LEN: usize = 1000;

/// A nick's key: `prise:nick:<folded nick>`, holding `<node>:<user id>` of its holder, for
/// the node's TTL ([`NICK_TTL`] by default) unless its heartbeat keeps it.
pub fn nick_key(nick: &str) -> String {
    format!("{PREFIX}nick:{}", fold(nick))
}

/// How long, by default, a node's nick claims and liveness last without its heartbeat (a node
/// that dies frees its users' nicks, and they leave the lists, this long after).
pub const NICK_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a claim waits for Redis before the node goes on alone (Redis lost: local users
/// are served; see docs/CLUSTER.md).
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Claim a nick for its holder, or keep its claim: free, or held by the same holder, it is
/// set (with the TTL) and 1 is returned; held by another, that holder.
const CLAIM: &str = "local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return v";

/// Take a nick over from a holder known to be gone (ARGV[1]), for a new one (ARGV[2]), if the
/// gone one still holds it: 1, else 0.
const TAKE_OVER: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0";

/// Let a nick go, if its holder is still the one named.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// A node's own channel, for what is meant for one of its users: `prise:node:<name>`.
pub fn node_channel(node: &str) -> String {
    format!("{PREFIX}node:{node}")
}

/// What goes on a node's channel: a private message to one of its users.
#[derive(Debug, Serialize, Deserialize)]
struct Direct {
    /// The recipient's user id on that node.
    id: u64,
    /// The sender's ident.
    ident: String,
    /// The message.
    message: Message,
}

/// What goes on a room's channel: news of one node.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    /// The node it comes from.
    node: String,
    /// What happened.
    news: News,
}

/// What a node tells the others of a room.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum News {
    /// A message.
    Chat {
        /// The sender's ident (the user part of `nick!ident@host`).
        ident: String,
        /// The message.
        message: Message,
    },
    /// One of the node's users joined the room.
    Join {
        /// The room.
        room: String,
        /// Who.
        member: RemoteMember,
    },
    /// One of the node's users left the room (`quit`: left the server).
    Part {
        /// The room.
        room: String,
        /// The user's id on its node.
        id: u64,
        /// Why.
        reason: String,
        /// A quit rather than a part.
        quit: bool,
    },
    /// One of the node's users changed nick.
    Nick {
        /// The room.
        room: String,
        /// Who, with the new nick.
        member: RemoteMember,
    },
    /// One of the node's users set the room's topic.
    Topic {
        /// The room.
        room: String,
        /// What is kept of it (also in the room's state hash).
        topic: KeptTopic,
    },
}

/// A room's topic as the nodes share it (`prise:room-state:<room>`, field `topic`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptTopic {
    /// The topic.
    pub topic: String,
    /// Who set it.
    pub by: String,
    /// The setter's ident.
    pub ident: String,
}

/// A room's state shared by the nodes: `prise:room-state:<folded name>`, a hash (its topic).
pub fn state_key(room: &str) -> String {
    format!("{PREFIX}room-state:{}", fold(room))
}

/// A user of another node, as the rooms it is in know it (also kept in the room's members
/// hash, `prise:members:<room>`, field `<node>:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMember {
    /// Its id on its node.
    pub id: u64,
    /// Its nick.
    pub nick: String,
    /// The user part of its address.
    pub ident: String,
    /// The account it is logged in to.
    #[serde(default)]
    pub account: Option<String>,
}

/// A room's members on every node: `prise:members:<folded name>`, a hash of
/// `<node>:<id>` to [`RemoteMember`].
pub fn members_key(room: &str) -> String {
    format!("{PREFIX}members:{}", fold(room))
}

/// A node's liveness: `prise:alive:<name>`, kept by its heartbeat with the nicks' TTL.
pub fn alive_key(node: &str) -> String {
    format!("{PREFIX}alive:{node}")
}

/// What a node's link needs of its hub (the hub implements it): its own users and rooms, and
/// where the other nodes' news goes. A seam, so this module knows nothing of the hub's
/// insides.
pub trait Local: Send + Sync + 'static {
    /// A room message of another node, for this node's members of the room.
    fn deliver_remote(&self, ident: &str, message: Message);
    /// A private message of another node to this node's user `id`.
    fn deliver_private_remote(&self, id: u64, ident: &str, message: Message);
    /// A user of `node` joined `room`.
    fn remote_joined(&self, node: &str, room: &str, member: RemoteMember);
    /// A user of `node` left `room` (`quit`: the server).
    fn remote_left(&self, node: &str, room: &str, id: u64, reason: &str, quit: bool);
    /// A user of `node` changed nick.
    fn remote_renamed(&self, node: &str, room: &str, member: RemoteMember);
    /// Who of other nodes is in `room`, read when this node opened it.
    fn remote_snapshot(&self, room: &str, members: Vec<(String, RemoteMember)>);
    /// Who of other nodes is in `room` now, after an outage (`leavers`: show who left).
    fn remote_resync(&self, room: &str, members: Vec<(String, RemoteMember)>, leavers: bool);
    /// The nicks of this node's users, with their ids.
    fn local_nicks(&self) -> Vec<(String, u64)>;
    /// The rooms with members on this node (folded names).
    fn local_rooms(&self) -> Vec<String>;
    /// Every room membership of this node's users.
    fn local_memberships(&self) -> Vec<(String, RemoteMember)>;
    /// The other nodes this node lists users of.
    fn remote_nodes(&self) -> Vec<String>;
    /// `node` is gone: its users leave.
    fn remote_node_gone(&self, node: &str);
    /// A room's topic, set on another node (or read when this node opened the room).
    fn remote_topic(&self, room: &str, topic: KeptTopic);
}

/// What the hub asks of Redis, in order.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// A room has its first member on this node.
    Subscribe(String),
    /// A room has no member left on this node.
    Unsubscribe(String),
    /// The user of this id no longer holds this nick.
    Release(String, u64),
    /// A private message to the user `id` of the node `node`.
    Private {
        /// The node of the recipient.
        node: String,
        /// The recipient's user id there.
        id: u64,
        /// The sender's ident.
        ident: String,
        /// The message.
        message: Message,
    },
    /// One of this node's users joined a room.
    Joined {
        /// The room.
        room: String,
        /// Who.
        member: RemoteMember,
    },
    /// One of this node's users left a room, or the server (`quit`).
    Left {
        /// The room.
        room: String,
        /// Its id.
        id: u64,
        /// Why.
        reason: String,
        /// A quit.
        quit: bool,
    },
    /// One of this node's users set a room's topic.
    Topic {
        /// The room.
        room: String,
        /// The topic.
        topic: KeptTopic,
    },
    /// One of this node's users, in this room, changed nick.
    Renamed {
        /// The room.
        room: String,
        /// Who, with the new nick.
        member: RemoteMember,
    },
    /// A message said on this node, for the other nodes' members of its room.
    Publish {
        /// The sender's ident.
        ident: String,
        /// The message.
        message: Message,
    },
}

/// This node's link to the others.
#[derive(Clone)]
pub struct Cluster {
    node: Arc<str>,
    ttl: std::time::Duration,
    jobs: mpsc::UnboundedSender<Job>,
    /// For the claims, which the hub awaits.
    conn: ConnectionManager,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn holder(node: &str, id: u64) -> String {
    format!("{node}:{id}")
}

fn ttl_ms(ttl: std::time::Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Claim `nick` for `holder`: `None` when it is the holder's now, else who holds it.
async fn claim_on(
    conn: &mut ConnectionManager,
    nick: &str,
    holder: &str,
    ttl: std::time::Duration,
) -> redis::RedisResult<Option<String>> {
    let answer: Value = redis::cmd("EVAL")
        .arg(CLAIM)
        .arg(1)
        .arg(nick_key(nick))
        .arg(holder)
        .arg(ttl_ms(ttl))
        .query_async(conn)
        .await?;
    Ok(match answer {
        Value::Int(1) => None,
        other => Some(
            text_of(&other)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        ),
    })
}

/// The pieces [`Cluster::connect`] makes: the link (for the hub) and what runs it.
pub struct Link {
    /// Given to the hub (`Hub::join_cluster`).
    pub cluster: Cluster,
    /// Run by [`Cluster::run`].
    pub runner: Runner,
}

/// The half of the link that talks to Redis ([`Cluster::run`]).
pub struct Runner {
    node: Arc<str>,
    ttl: std::time::Duration,
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
    pub async fn connect(url: &str, node: &str, ttl: std::time::Duration) -> Result<Link, Error> {
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
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| failed("cannot connect", &e))?;
        conn.subscribe(node_channel(node))
            .await
            .map_err(|e| failed("cannot subscribe", &e))?;
        let (jobs_tx, jobs) = mpsc::unbounded_channel();
        let node: Arc<str> = Arc::from(node);
        Ok(Link {
            cluster: Cluster {
                node: Arc::clone(&node),
                ttl,
                jobs: jobs_tx,
                conn: conn.clone(),
            },
            runner: Runner {
                node,
                ttl,
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

    /// Claim `nick` for this node's user `id` across the nodes: `false` when a user of another
    /// node (or another of ours, just leaving it) holds it. Redis not answering within a
    /// second: `true`, the node goes on alone.
    ///
    /// Held by a user of this node that `gone` says is gone (its release still on its way, as
    /// when a client reconnects at once), the nick is taken over.
    pub(crate) async fn claim(&self, nick: &str, id: u64, gone: impl Fn(u64) -> bool) -> bool {
        let mut conn = self.conn.clone();
        let holder = holder(&self.node, id);
        let work = async {
            let Some(held) = claim_on(&mut conn, nick, &holder, self.ttl).await? else {
                return Ok(true);
            };
            let ours = held
                .rsplit_once(':')
                .filter(|(node, _)| *node == &*self.node)
                .and_then(|(_, old)| old.parse::<u64>().ok());
            match ours {
                Some(old) if gone(old) => redis::cmd("EVAL")
                    .arg(TAKE_OVER)
                    .arg(1)
                    .arg(nick_key(nick))
                    .arg(&held)
                    .arg(&holder)
                    .arg(ttl_ms(self.ttl))
                    .query_async::<i64>(&mut conn)
                    .await
                    .map(|n| n == 1),
                _ => Ok(false),
            }
        };
        match tokio::time::timeout(CLAIM_WAIT, work).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, nick, "redis: nick not claimed; going on alone");
                true
            }
            Err(_) => {
                tracing::warn!(nick, "redis: no answer; nick not claimed, going on alone");
                true
            }
        }
    }

    /// The latest `count` messages of `room`'s stream, oldest first; `None` when Redis does not
    /// answer within a second (the caller falls back to the local history).
    pub(crate) async fn recent(&self, room: &str, count: usize) -> Option<Vec<Message>> {
        let mut conn = self.conn.clone();
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(history_key(room))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count);
        let read = command.query_async::<Value>(&mut conn);
        let value = match tokio::time::timeout(CLAIM_WAIT, read).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, room, "redis: history not read; the local one is used");
                return None;
            }
            Err(_) => {
                tracing::warn!(room, "redis: no answer; the local history is used");
                return None;
            }
        };
        let Value::Array(entries) = value else {
            return Some(Vec::new());
        };
        let mut messages: Vec<Message> = entries.iter().filter_map(stream_message).collect();
        messages.reverse();
        Some(messages)
    }

    /// Who holds `nick` on another node: its node and user id there. `None` when nobody does
    /// (or Redis does not answer within a second).
    pub(crate) async fn holder_of(&self, nick: &str) -> Option<(String, u64)> {
        let mut conn = self.conn.clone();
        let mut command = redis::cmd("GET");
        command.arg(nick_key(nick));
        let read = command.query_async::<Option<String>>(&mut conn);
        let held = match tokio::time::timeout(CLAIM_WAIT, read).await {
            Ok(Ok(held)) => held?,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, nick, "redis: holder not read");
                return None;
            }
            Err(_) => return None,
        };
        let (node, id) = held.rsplit_once(':')?;
        (node != &*self.node).then(|| Some((node.to_owned(), id.parse().ok()?)))?
    }

    /// This node's user `id` no longer holds `nick` (queued: a release never waits).
    pub(crate) fn release(&self, nick: &str, id: u64) {
        self.queue(Job::Release(nick.to_owned(), id));
    }

    pub(crate) fn queue(&self, job: Job) {
        // The runner ends with the server; a job queued after is of no use.
        let _ = self.jobs.send(job);
    }

    /// Run the link until `hub` is gone or the server stops: the hub's jobs out to Redis, the
    /// other nodes' messages in to the hub.
    pub async fn run(runner: Runner, hub: impl Local) {
        let Runner {
            node,
            ttl,
            mut conn,
            mut jobs,
            mut pushes,
            url,
        } = runner;
        // The heartbeat: every third of the TTL, this node's nicks are claimed again (which
        // also puts them back after Redis lost them).
        let mut heartbeat = tokio::time::interval(ttl / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // While Redis is away: the jobs wait here, in order, and Redis is asked every quarter
        // second whether it is back.
        let mut pending: std::collections::VecDeque<Job> = std::collections::VecDeque::new();
        let mut down = false;
        let mut retry = tokio::time::interval(std::time::Duration::from_millis(250));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // After a recovery, the streams and members are read once more a third of the TTL
        // later (every node has written its members back by then), for what was published
        // while the resubscriptions were on their way and for who left meanwhile; and no node
        // is taken for dead until a whole TTL has passed (their liveness went with Redis).
        let mut recheck: Option<tokio::time::Instant> = None;
        let mut grace: Option<tokio::time::Instant> = None;
        let mut seen = Seen::default();
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    let now = tokio::time::Instant::now();
                    let judge = grace.is_none_or(|until| now >= until);
                    if let Err(e) = beat(&mut conn, &node, ttl, &hub, judge).await {
                        tracing::warn!(redis = %url, error = %e, "redis heartbeat");
                    } else if !down && recheck.is_some_and(|at| now >= at) {
                        recheck = None;
                        catch_up(&mut conn, &node, &hub, &mut seen, true).await;
                    }
                }
                _ = retry.tick(), if down => {
                    let back = redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok();
                    if !back {
                        continue;
                    }
                    tracing::info!(redis = %url, waiting = pending.len(), "redis is back");
                    down = false;
                    while let Some(job) = pending.pop_front() {
                        if let Err(e) = do_job(&mut conn, &node, &hub, &job).await {
                            tracing::warn!(redis = %url, error = %e, "redis");
                            pending.push_front(job);
                            down = true;
                            break;
                        }
                    }
                    if !down {
                        // Redis may have lost everything: this node is alive, and its members.
                        if let Err(e) = rewrite(&mut conn, &node, ttl, &hub).await {
                            tracing::warn!(redis = %url, error = %e, "redis");
                        }
                        catch_up(&mut conn, &node, &hub, &mut seen, false).await;
                        let now = tokio::time::Instant::now();
                        recheck = Some(now + ttl / 3);
                        grace = Some(now + ttl);
                    }
                }
                job = jobs.recv() => {
                    let Some(job) = job else { break };
                    if let Job::Unsubscribe(room) = &job {
                        seen.forget(room);
                    }
                    if down {
                        pending.push_back(job);
                    } else if let Err(e) = do_job(&mut conn, &node, &hub, &job).await {
                        if unreachable(&e) {
                            // Kept, in order, for when Redis is back.
                            tracing::warn!(redis = %url, error = %e, "redis: waiting for it");
                            pending.push_back(job);
                            down = true;
                        } else {
                            tracing::warn!(redis = %url, error = %e, "redis refused a job: dropped");
                        }
                    }
                }
                push = pushes.recv() => {
                    let Some(push) = push else { break };
                    if push.kind == PushKind::Disconnection {
                        down = true;
                        continue;
                    }
                    match pushed(push, &node) {
                        Some(Pushed::Room(published)) if *published.node != *node => {
                            let from = published.node;
                            match published.news {
                                News::Chat { ident, message } => {
                                    if seen.first(&message.to, &from, message.id) {
                                        hub.deliver_remote(&ident, message);
                                    }
                                }
                                News::Join { room, member } => hub.remote_joined(&from, &room, member),
                                News::Part { room, id, reason, quit } => {
                                    hub.remote_left(&from, &room, id, &reason, quit);
                                }
                                News::Nick { room, member } => hub.remote_renamed(&from, &room, member),
                                News::Topic { room, topic } => hub.remote_topic(&room, topic),
                            }
                        }
                        Some(Pushed::Direct(direct)) => {
                            hub.deliver_private_remote(direct.id, &direct.ident, direct.message);
                        }
                        Some(Pushed::Room(_)) | None => {}
                    }
                }
            }
        }
    }
}

/// After Redis came back: this node's liveness and its users' room memberships, written again
/// (a Redis that restarted has lost them).
async fn rewrite(
    conn: &mut ConnectionManager,
    node: &str,
    ttl: std::time::Duration,
    hub: &impl Local,
) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(alive_key(node))
        .arg(1)
        .arg("PX")
        .arg(ttl_ms(ttl))
        .query_async::<()>(conn)
        .await?;
    let memberships = hub.local_memberships();
    for chunk in memberships.chunks(500) {
        let mut pipe = redis::pipe();
        for (room, member) in chunk {
            pipe.cmd("HSET")
                .arg(members_key(room))
                .arg(holder(node, member.id))
                .arg(serde_json::to_string(member).unwrap_or_default())
                .ignore();
        }
        pipe.query_async::<()>(conn).await?;
    }
    Ok(())
}

/// The heartbeat: this node is alive (for the TTL), its users' nicks are claimed again (500
/// to a pipeline), and (when `judge`) the users of nodes that are no longer alive leave this
/// node's lists.
async fn beat(
    conn: &mut ConnectionManager,
    node: &str,
    ttl: std::time::Duration,
    hub: &impl Local,
    judge: bool,
) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(alive_key(node))
        .arg(1)
        .arg("PX")
        .arg(ttl_ms(ttl))
        .query_async::<()>(conn)
        .await?;
    for other in hub.remote_nodes().into_iter().filter(|_| judge) {
        let up: bool = redis::cmd("EXISTS")
            .arg(alive_key(&other))
            .query_async(conn)
            .await?;
        if !up {
            tracing::info!(node = %other, "a node is gone: its users leave");
            hub.remote_node_gone(&other);
        }
    }
    let nicks = hub.local_nicks();
    for chunk in nicks.chunks(500) {
        let mut pipe = redis::pipe();
        for (nick, id) in chunk {
            pipe.cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(nick_key(nick))
                .arg(holder(node, *id))
                .arg(ttl_ms(ttl));
        }
        let claimed: Vec<Value> = pipe.query_async(conn).await?;
        for ((nick, _), got) in chunk.iter().zip(claimed) {
            if got != Value::Int(1) {
                tracing::warn!(nick, "redis: another node holds a nick of this node's");
            }
        }
    }
    Ok(())
}

/// Publish `news` on `room`'s channel, after `first` (a change to the members hash), in one
/// round trip.
async fn tell(
    conn: &mut ConnectionManager,
    node: &str,
    room: &str,
    first: Option<redis::Cmd>,
    news: News,
) -> redis::RedisResult<()> {
    let payload = serde_json::to_string(&Published {
        node: node.to_owned(),
        news,
    })
    .unwrap_or_default();
    let mut pipe = redis::pipe();
    if let Some(first) = first {
        pipe.add_command(first).ignore();
    }
    pipe.cmd("PUBLISH")
        .arg(room_channel(room))
        .arg(payload)
        .ignore();
    pipe.query_async::<()>(conn).await
}

/// The members of `room` on the other nodes that are alive, from its members hash.
async fn snapshot(
    conn: &mut ConnectionManager,
    node: &str,
    room: &str,
) -> redis::RedisResult<Vec<(String, RemoteMember)>> {
    let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(members_key(room))
        .query_async(conn)
        .await?;
    let mut alive: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut members = Vec::new();
    for (field, value) in fields {
        let Some((of, _)) = field.rsplit_once(':') else {
            continue;
        };
        if of == node {
            continue;
        }
        if !alive.contains_key(of) {
            let up: bool = redis::cmd("EXISTS")
                .arg(alive_key(of))
                .query_async(conn)
                .await?;
            alive.insert(of.to_owned(), up);
        }
        if alive.get(of) == Some(&true) {
            if let Ok(member) = serde_json::from_str::<RemoteMember>(&value) {
                members.push((of.to_owned(), member));
            }
        }
    }
    Ok(members)
}

async fn do_job(
    conn: &mut ConnectionManager,
    node: &str,
    hub: &impl Local,
    job: &Job,
) -> redis::RedisResult<()> {
    match job.clone() {
        Job::Subscribe(room) => {
            conn.subscribe(room_channel(&room)).await?;
            // Who is there already, on the other nodes.
            let members = snapshot(conn, node, &room).await?;
            hub.remote_snapshot(&room, members);
            let kept: Option<String> = redis::cmd("HGET")
                .arg(state_key(&room))
                .arg("topic")
                .query_async(conn)
                .await?;
            if let Some(topic) = kept.and_then(|t| serde_json::from_str(&t).ok()) {
                hub.remote_topic(&room, topic);
            }
            Ok(())
        }
        Job::Joined { room, member } | Job::Renamed { room, member } => {
            let mut set = redis::cmd("HSET");
            set.arg(members_key(&room))
                .arg(holder(node, member.id))
                .arg(serde_json::to_string(&member).unwrap_or_default());
            let news = if matches!(job, Job::Joined { .. }) {
                News::Join {
                    room: room.clone(),
                    member,
                }
            } else {
                News::Nick {
                    room: room.clone(),
                    member,
                }
            };
            tell(conn, node, &room, Some(set), news).await
        }
        Job::Topic { room, topic } => {
            let mut set = redis::cmd("HSET");
            set.arg(state_key(&room))
                .arg("topic")
                .arg(serde_json::to_string(&topic).unwrap_or_default());
            let news = News::Topic {
                room: room.clone(),
                topic,
            };
            tell(conn, node, &room, Some(set), news).await
        }
        Job::Left {
            room,
            id,
            reason,
            quit,
        } => {
            let mut del = redis::cmd("HDEL");
            del.arg(members_key(&room)).arg(holder(node, id));
            let news = News::Part {
                room: room.clone(),
                id,
                reason,
                quit,
            };
            tell(conn, node, &room, Some(del), news).await
        }
        Job::Unsubscribe(room) => conn.unsubscribe(room_channel(&room)).await,
        Job::Private {
            node: to,
            id,
            ident,
            message,
        } => {
            let payload = serde_json::to_string(&Direct { id, ident, message }).unwrap_or_default();
            redis::cmd("PUBLISH")
                .arg(node_channel(&to))
                .arg(payload)
                .query_async::<i64>(conn)
                .await
                .map(|_| ())
        }
        Job::Release(nick, id) => redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(nick_key(&nick))
            .arg(holder(node, id))
            .query_async::<i64>(conn)
            .await
            .map(|_| ()),
        Job::Publish { ident, message } => {
            let channel = room_channel(&message.to);
            let stream = history_key(&message.to);
            let kept =
                (!message.notice).then(|| serde_json::to_string(&message).unwrap_or_default());
            let sender = ident.clone();
            let payload = serde_json::to_string(&Published {
                node: node.to_owned(),
                news: News::Chat { ident, message },
            })
            .unwrap_or_default();
            // Live to the nodes, and kept in the room's stream (notices are not kept), in one
            // round trip.
            let mut pipe = redis::pipe();
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            if let Some(kept) = kept {
                pipe.cmd("XADD")
                    .arg(stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(HISTORY_LEN)
                    .arg("*")
                    .arg("m")
                    .arg(kept)
                    .arg("n")
                    .arg(node)
                    .arg("i")
                    .arg(sender)
                    .ignore();
            }
            pipe.query_async::<()>(conn).await
        }
    }
}

/// Whether an error means Redis cannot be reached (wait for it) rather than refused the
/// command (drop it).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}

/// Most messages of one room remembered as delivered, and read back from its stream after an
/// outage: the catch-up covers this many messages a room.
const CATCH_UP: usize = 1000;

/// The other nodes' messages delivered here lately, by room: a message comes once, whether by
/// pub/sub or by the catch-up from the stream.
#[derive(Default)]
struct Seen {
    rooms: std::collections::HashMap<String, std::collections::VecDeque<(String, u64)>>,
}

impl Seen {
    /// Whether the message `id` of `node` in `room` is new here (and remember it).
    fn first(&mut self, room: &str, node: &str, id: u64) -> bool {
        let seen = self.rooms.entry(fold(room)).or_default();
        if seen.iter().any(|(n, i)| *i == id && n == node) {
            return false;
        }
        if seen.len() >= CATCH_UP * 2 {
            seen.pop_front();
        }
        seen.push_back((node.to_owned(), id));
        true
    }

    fn forget(&mut self, room: &str) {
        self.rooms.remove(&fold(room));
    }
}

/// After an outage: every room this node has members in reads who is in it on the other
/// nodes, and the latest messages of its stream; those of other nodes not delivered yet are
/// delivered, oldest first.
async fn catch_up(
    conn: &mut ConnectionManager,
    node: &str,
    hub: &impl Local,
    seen: &mut Seen,
    leavers: bool,
) {
    for room in hub.local_rooms() {
        // Who is there now: the news missed meanwhile, made good (those who left only once
        // every node has had the time to write its members back).
        if let Ok(members) = snapshot(conn, node, &room).await {
            hub.remote_resync(&room, members, leavers);
        }
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(history_key(&room))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(CATCH_UP);
        let Ok(Value::Array(entries)) = command.query_async::<Value>(conn).await else {
            continue;
        };
        for entry in entries.iter().rev() {
            let Some((message, from, ident)) = stream_entry(entry) else {
                continue;
            };
            if from != node && seen.first(&room, &from, message.id) {
                hub.deliver_remote(&ident, message);
            }
        }
    }
}

/// A stream entry's message, node and sender's ident (fields `m`, `n`, `i`).
fn stream_entry(entry: &Value) -> Option<(Message, String, String)> {
    let fields = entry_fields(entry)?;
    let text = |name: &[u8]| -> Option<Vec<u8>> {
        fields
            .chunks(2)
            .find(|kv| matches!(kv[0], Value::BulkString(k) if k == name))
            .and_then(|kv| kv.get(1).copied())
            .and_then(text_of)
    };
    let message = serde_json::from_slice(&text(b"m")?).ok()?;
    let from = String::from_utf8(text(b"n")?).ok()?;
    let ident = String::from_utf8(text(b"i")?).ok()?;
    Some((message, from, ident))
}

fn entry_fields(entry: &Value) -> Option<Vec<&Value>> {
    let Value::Array(parts) = entry else {
        return None;
    };
    match parts.get(1)? {
        Value::Array(fields) => Some(fields.iter().collect()),
        Value::Map(pairs) => Some(pairs.iter().flat_map(|(k, v)| [k, v]).collect()),
        _ => None,
    }
}

/// The message of one stream entry (`[id, [field, value, ...]]`, the field `m`).
fn stream_message(entry: &Value) -> Option<Message> {
    let fields = entry_fields(entry)?;
    let payload = fields
        .chunks(2)
        .find(|kv| matches!(kv[0], Value::BulkString(k) if k == b"m"))
        .and_then(|kv| kv.get(1).copied())?;
    serde_json::from_slice(&text_of(payload)?).ok()
}

/// What a push brings.
enum Pushed {
    /// A room message of another node (or ours).
    Room(Published),
    /// A private message to one of this node's users.
    Direct(Direct),
}

fn text_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

/// A message on one of the channels this node listens to (`node` is its name).
fn pushed(push: redis::PushInfo, node: &str) -> Option<Pushed> {
    if push.kind != PushKind::Message {
        return None;
    }
    let channel = text_of(push.data.first()?)?;
    let payload = text_of(push.data.get(1)?)?;
    let parsed = if channel == node_channel(node).as_bytes() {
        serde_json::from_slice::<Direct>(&payload).map(Pushed::Direct)
    } else {
        serde_json::from_slice::<Published>(&payload).map(Pushed::Room)
    };
    match parsed {
        Ok(pushed) => Some(pushed),
        Err(e) => {
            tracing::warn!(error = %e, "a message on a prise channel that is not prise's: ignored");
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
