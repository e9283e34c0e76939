//! The one error type of `prise-chat`.

use std::path::Path;

/// What can go wrong in the chat hub and its front doors.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The nick breaks the naming rules.
    #[error("invalid nick {nick:?}: {reason}")]
    NickInvalid {
        /// The nick asked for.
        nick: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Someone else has that nick.
    #[error("the nick {0} is already taken")]
    NickTaken(String),
    /// The room name breaks the naming rules.
    #[error("invalid room name {room:?}: {reason}")]
    RoomInvalid {
        /// The name asked for.
        room: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The user is not in that room.
    #[error("you are not in {0}")]
    NotInRoom(String),
    /// The user is in as many rooms as allowed.
    #[error("you are already in {0} rooms, the most allowed")]
    TooManyRooms(usize),
    /// Nobody has that nick.
    #[error("no user called {0}")]
    NoSuchUser(String),
    /// A topic over the limit.
    #[error("a topic is at most {0} bytes")]
    TopicTooLong(usize),
    /// An empty message.
    #[error("nothing to send")]
    EmptyMessage,
    /// Only the room's operators may do that.
    #[error("only operators of {0} may do that")]
    NotOperator(String),
    /// The user acted on is not in the room.
    #[error("{nick} is not in {room}")]
    TargetNotInRoom {
        /// Who.
        nick: String,
        /// The room.
        room: String,
    },
    /// The user invited is in the room already.
    #[error("{nick} is already in {room}")]
    AlreadyInRoom {
        /// Who.
        nick: String,
        /// The room.
        room: String,
    },
    /// The room is invite-only (mode `i`) and nobody invited this user.
    #[error("{0} is invite-only: an operator must invite you")]
    InviteOnly(String),
    /// The room has a key (mode `k`) and it was not given.
    #[error("{0} needs the right key to join")]
    BadKey(String),
    /// A real name that is empty or too long.
    #[error("a real name is 1 to {0} bytes")]
    RealnameInvalid(usize),
    /// A ban (mode `b`) matches this user and no exception (mode `e`) does.
    #[error("you are banned from {0}")]
    Banned(String),
    /// A room's ban, exception or invite-exception list is full.
    #[error("the list of mode {mode} of {room} is full")]
    ListFull {
        /// The room.
        room: String,
        /// The list's mode letter.
        mode: char,
    },
    /// The room is at its member limit (mode `l`).
    #[error("{0} is full")]
    RoomFull(String),
    /// The room is moderated (mode `m`) or takes no messages from outside (mode `n`).
    #[error("you cannot send to {0}")]
    CannotSend(String),
    /// A mode value that is not valid (a key with spaces, a limit that is not a number).
    #[error("invalid value for mode {mode} of {room}: {reason}")]
    ModeInvalid {
        /// The room.
        room: String,
        /// The mode letter.
        mode: char,
        /// What is wrong.
        reason: &'static str,
    },
    /// Only server operators may do that.
    #[error("only server operators may do that")]
    NotServerOperator,
    /// OPER with an unknown name or a wrong password.
    #[error("wrong operator name or password")]
    BadOperLogin,
    /// An account name that breaks the naming rules (those of nicks).
    #[error("invalid account name {name:?}: {reason}")]
    AccountInvalid {
        /// The name asked for.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Someone registered that account name already.
    #[error("the account {0} already exists")]
    AccountTaken(String),
    /// No account has that name.
    #[error("no account called {0}")]
    NoSuchAccount(String),
    /// A password that is too short or too long.
    #[error("a password is {min} to {max} bytes")]
    PasswordInvalid {
        /// Fewest bytes.
        min: usize,
        /// Most bytes.
        max: usize,
    },
    /// An email address that is too long or has spaces or control characters.
    #[error("an email address is name@domain, at most {max} bytes, without spaces")]
    EmailInvalid {
        /// Most bytes.
        max: usize,
    },
    /// A registration without the email address the server requires
    /// (`--register-email required`).
    #[error("this server wants an email address with each registration")]
    EmailRequired,
    /// Too many log-in or registration attempts from one address, or on the server
    /// ([`crate::limits`]).
    #[error("too many attempts {0}; try again in a minute")]
    TooManyAttempts(&'static str),
    /// A wrong account name or password (which of the two is not said).
    #[error("wrong account name or password")]
    BadLogin,
    /// Registration is closed, or only for server operators (`--registration`).
    #[error("registration is {0}")]
    RegistrationClosed(&'static str),
    /// The server password (`--password`) was wrong or not given.
    #[error("this server asks for a password, and that was not it")]
    BadPassword,
    /// The certificate is bound to an account already.
    #[error("the certificate {0} is bound to an account already")]
    CertTaken(String),
    /// The account has as many certificates bound as it may.
    #[error("an account may have at most {0} certificates")]
    TooManyCerts(usize),
    /// That needs a TLS client certificate on this connection.
    #[error("this connection has no TLS client certificate")]
    NoCertificate,
    /// That needs being logged in to an account.
    #[error("log in to an account first")]
    NotLoggedIn,
    /// The room is registered already.
    #[error("{room} is already registered by {founder}")]
    RoomRegistered {
        /// The room's display name.
        room: String,
        /// The account that registered it.
        founder: String,
    },
    /// The room is not registered.
    #[error("{0} is not registered")]
    RoomNotRegistered(String),
    /// Only the account that registered the room (or a server operator) may do that.
    #[error("only the founder of {0} or a server operator may do that")]
    NotFounder(String),
    /// The account has registered as many rooms as it may.
    #[error("an account may register at most {0} rooms")]
    TooManyRegisteredRooms(usize),
    /// Redis (`--redis`) cannot be used.
    #[error("{url}: {reason}")]
    Cluster {
        /// The URL, without its password.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The account store failed.
    #[error("accounts {file}: {reason}")]
    Accounts {
        /// The database file (`:memory:` when there is none).
        file: String,
        /// What failed.
        reason: String,
    },
    /// The history database failed.
    #[error("history {file}: {reason}")]
    History {
        /// The database file.
        file: String,
        /// What failed.
        reason: String,
    },
    /// Connecting or TLS failed (client side).
    #[error("{0}")]
    Connect(String),
    /// The server refused or broke the protocol (client side).
    #[error("{0}")]
    Protocol(String),
}

impl Error {
    pub(crate) fn history(file: &Path, reason: String) -> Self {
        Error::History {
            file: file.display().to_string(),
            reason,
        }
    }

    /// The protocol error code (see docs/PROTOCOL-chat.md).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NickInvalid { .. } => "nick_invalid",
            Error::NickTaken(_) => "nick_taken",
            Error::RoomInvalid { .. } => "room_invalid",
            Error::NotInRoom(_) => "not_in_room",
            Error::TooManyRooms(_) => "too_many_rooms",
            Error::NoSuchUser(_) => "no_such_user",
            Error::TopicTooLong(_) => "topic_too_long",
            Error::EmptyMessage | Error::ModeInvalid { .. } => "bad_request",
            Error::NotOperator(_) => "not_operator",
            Error::TargetNotInRoom { .. } => "target_not_in_room",
            Error::AlreadyInRoom { .. } => "already_in_room",
            Error::InviteOnly(_) => "invite_only",
            Error::Banned(_) => "banned",
            Error::RealnameInvalid(_) => "bad_request",
            Error::ListFull { .. } => "list_full",
            Error::BadKey(_) => "bad_key",
            Error::RoomFull(_) => "room_full",
            Error::CannotSend(_) => "cannot_send",
            Error::NotServerOperator => "not_server_operator",
            Error::BadOperLogin => "bad_oper_login",
            Error::AccountInvalid { .. } => "account_invalid",
            Error::AccountTaken(_) => "account_taken",
            Error::NoSuchAccount(_) => "no_such_account",
            Error::PasswordInvalid { .. } => "password_invalid",
            Error::EmailInvalid { .. } | Error::EmailRequired => "email_invalid",
            Error::TooManyAttempts(_) => "too_many_attempts",
            Error::BadLogin => "bad_login",
            Error::RegistrationClosed(_) => "registration_closed",
            Error::NotLoggedIn => "not_logged_in",
            Error::BadPassword => "bad_password",
            Error::CertTaken(_) => "cert_taken",
            Error::TooManyCerts(_) => "too_many_certs",
            Error::NoCertificate => "no_certificate",
            Error::RoomRegistered { .. } => "room_registered",
            Error::RoomNotRegistered(_) => "room_not_registered",
            Error::NotFounder(_) => "not_founder",
            Error::TooManyRegisteredRooms(_) => "too_many_registered_rooms",
            Error::History { .. } | Error::Accounts { .. } | Error::Cluster { .. } => {
                "server_error"
            }
            Error::Connect(_) | Error::Protocol(_) => "client_error",
        }
    }
}
