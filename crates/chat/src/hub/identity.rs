//! Accounts seen from a session, the same for every door: logging in and out, registering,
//! GHOST and DROP, and owned nicks (a registered nick belongs to its account: someone else on
//! it is told, and renamed after [`HubConfig::nick_grace`]).

use std::net::IpAddr;

use super::state::*;
use crate::accounts::FAILED_LOGIN_DELAY;

impl Session {
    /// Log in to the account `name` with `password`: one attempt from `peer` (see
    /// [`crate::limits`]). A failure is answered [`FAILED_LOGIN_DELAY`] late. Returns the
    /// account's name as registered.
    ///
    /// # Errors
    /// [`Error::BadLogin`], [`Error::TooManyAttempts`], [`Error::Accounts`] (also when the
    /// server keeps no accounts).
    pub async fn log_in(&self, peer: IpAddr, name: &str, password: &str) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        let account = slowed(accounts.verify(peer, name, password).await).await?;
        self.set_account(Some(&account.name));
        Ok(account.name)
    }

    /// Log in with a session token (one log-in attempt from `peer`): a failure is answered
    /// [`FAILED_LOGIN_DELAY`] late. Returns the account's name.
    ///
    /// # Errors
    /// [`Error::BadLogin`] (no such live session), [`Error::TooManyAttempts`],
    /// [`Error::Accounts`].
    pub async fn resume(&self, peer: IpAddr, token: &str) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        let account = slowed(accounts.resume(peer, token).await).await?;
        self.set_account(Some(&account.name));
        Ok(account.name)
    }

    /// Log in with the TLS client certificate whose fingerprint is `fingerprint` (SASL
    /// EXTERNAL): one log-in attempt from `peer`; a failure is answered
    /// [`FAILED_LOGIN_DELAY`] late. Returns the account's name.
    ///
    /// # Errors
    /// [`Error::BadLogin`] (bound to no account), [`Error::TooManyAttempts`],
    /// [`Error::Accounts`].
    pub async fn log_in_external(&self, peer: IpAddr, fingerprint: &str) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        let account = slowed(accounts.external(peer, fingerprint).await).await?;
        self.set_account(Some(&account.name));
        Ok(account.name)
    }

    /// Bind the certificate `fingerprint` to the account this user is logged in to (NickServ
    /// CERT ADD). Returns the account's name.
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`], and those of [`crate::accounts::Accounts::add_cert`].
    pub async fn add_cert(&self, fingerprint: &str) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        let account = self.account().ok_or(Error::NotLoggedIn)?;
        accounts.add_cert(&account, fingerprint).await?;
        tracing::info!(account = %account, fingerprint, "certificate bound");
        Ok(account.to_string())
    }

    /// Unbind the certificate `fingerprint` from this user's account; `false` when it was not
    /// bound to it.
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`], [`Error::Accounts`].
    pub async fn remove_cert(&self, fingerprint: &str) -> Result<bool, Error> {
        let accounts = self.accounts_or_error()?;
        let account = self.account().ok_or(Error::NotLoggedIn)?;
        accounts.remove_cert(&account, fingerprint).await
    }

    /// The certificates bound to this user's account, and the account's name.
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`], [`Error::Accounts`].
    pub async fn certs(&self) -> Result<(String, Vec<String>), Error> {
        let accounts = self.accounts_or_error()?;
        let account = self.account().ok_or(Error::NotLoggedIn)?;
        let certs = accounts.certs(&account).await?;
        Ok((account.to_string(), certs))
    }

    /// Open a session for `account` (this user has just logged in to it): its token logs in
    /// again without the password ([`crate::accounts::Accounts::open_session`]).
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`], [`Error::Accounts`].
    pub async fn open_session(&self, account: &str) -> Result<String, Error> {
        self.accounts_or_error()?.open_session(account).await
    }

    /// Register an account named as this user's nick, and log in to it: one registration
    /// attempt from `peer`. `email` is stored only.
    ///
    /// # Errors
    /// As [`crate::accounts::Accounts::register`]; [`Error::AccountTaken`] also when this user
    /// is already logged in.
    pub async fn register_account(
        &self,
        peer: IpAddr,
        password: &str,
        email: Option<&str>,
    ) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        if let Some(account) = self.account() {
            return Err(Error::AccountTaken(account.to_string()));
        }
        let account = accounts
            .register(peer, &self.nick(), password, email, self.is_oper())
            .await?;
        self.set_account(Some(&account.name));
        Ok(account.name)
    }

    /// Disconnect whoever holds the nick `nick` (NickServ's GHOST), which must be the name of
    /// the account this user is logged in to, or `password` must be that account's password
    /// (one log-in attempt from `peer`). Returns the nick freed.
    ///
    /// # Errors
    /// [`Error::NoSuchUser`] (nobody else holds it), [`Error::BadLogin`],
    /// [`Error::TooManyAttempts`], [`Error::Accounts`].
    pub async fn ghost(
        &self,
        peer: IpAddr,
        nick: &str,
        password: Option<&str>,
    ) -> Result<String, Error> {
        let target = lock(&self.hub.inner.state)
            .users
            .get(&fold(nick))
            .filter(|u| u.id != self.user.id)
            .cloned()
            .ok_or_else(|| Error::NoSuchUser(nick.to_owned()))?;
        let owner = self.account().is_some_and(|a| fold(&a) == fold(nick));
        if !owner {
            let accounts = self.accounts_or_error()?;
            let checked = match password {
                Some(password) => accounts.verify(peer, nick, password).await.map(|_| ()),
                None => Err(Error::BadLogin),
            };
            slowed(checked).await?;
        }
        let held = target.nick();
        tracing::info!(by = %self.nick(), target = %held, "GHOST");
        target.close(Gone::Killed(format!(
            "Killed (GHOST command used by {})",
            self.nick()
        )));
        Ok(held)
    }

    /// Delete the account `name` (NickServ's DROP) after checking `password` (one log-in
    /// attempt from `peer`). Everyone logged in to it is logged out.
    ///
    /// # Errors
    /// [`Error::BadLogin`], [`Error::TooManyAttempts`], [`Error::Accounts`].
    pub async fn drop_account(
        &self,
        peer: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<String, Error> {
        let accounts = self.accounts_or_error()?;
        let account = slowed(accounts.verify(peer, name, password).await).await?;
        accounts.remove(&account.name).await?;
        let key = fold(&account.name);
        let logged_in: Vec<Arc<User>> = lock(&self.hub.inner.state)
            .users
            .values()
            .filter(|u| lock(&u.account).as_deref().is_some_and(|a| fold(a) == key))
            .cloned()
            .collect();
        for user in &logged_in {
            self.hub.set_user_account(user, None);
        }
        self.hub.forget_rooms_of(&account.name);
        Ok(account.name)
    }

    pub(super) fn accounts_or_error(&self) -> Result<crate::accounts::Accounts, Error> {
        self.accounts().ok_or_else(|| Error::Accounts {
            file: String::new(),
            reason: "this server keeps no accounts".into(),
        })
    }
}

impl Hub {
    /// Whether this server asks every client for a password (`--password`).
    pub fn asks_password(&self) -> bool {
        self.inner.config.password.is_some()
    }

    /// Check the server password a client from `peer` gave (`None`: it gave none): one log-in
    /// attempt from `peer` (the limits of [`crate::limits`]), compared in constant time, a
    /// failure answered [`FAILED_LOGIN_DELAY`] late. Always `Ok` on a server without one.
    ///
    /// # Errors
    /// [`Error::BadPassword`], [`Error::TooManyAttempts`].
    pub async fn check_password(&self, peer: IpAddr, given: Option<&str>) -> Result<(), Error> {
        let Some(expected) = self.inner.config.password.as_deref() else {
            return Ok(());
        };
        let allowed = match &self.inner.config.accounts {
            Some(accounts) => accounts.attempt(crate::limits::Attempt::Login, peer),
            None => Ok(()),
        };
        let checked = allowed.and_then(|()| {
            let right =
                given.is_some_and(|g| prise_core::same_secret(expected.as_bytes(), g.as_bytes()));
            if right {
                Ok(())
            } else {
                tracing::warn!(%peer, given = given.is_some(), "wrong or missing server password");
                Err(Error::BadPassword)
            }
        });
        slowed(checked).await
    }

    /// Whether a connected user holds `nick`.
    pub fn nick_in_use(&self, nick: &str) -> bool {
        lock(&self.inner.state).users.contains_key(&fold(nick))
    }

    /// If `user`'s nick is an account that the user is not logged in to, tell the user, and
    /// rename it to a guest nick after the grace period unless it has logged in (or moved) by
    /// then. One short task per such user; nothing for everyone else.
    pub(super) fn guard_nick(&self, user: &Arc<User>) {
        let Some(accounts) = self.inner.config.accounts.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let nick = user.nick();
        if owns(user, &nick) {
            return;
        }
        let (hub, user) = (self.clone(), Arc::clone(user));
        runtime.spawn(async move {
            let Ok(Some(account)) = accounts.lookup(&nick).await else {
                return;
            };
            if !guest_on(&lock(&hub.inner.state), &user, &nick) {
                return;
            }
            let grace = hub.inner.config.nick_grace;
            user.send(&Event::new(EventKind::System {
                ts: SystemTime::now(),
                text: format!(
                    "{} is a registered account: log in to it within {} or you will be renamed.",
                    account.name,
                    humantime::format_duration(grace)
                ),
            }));
            tokio::time::sleep(grace).await;
            if !guest_on(&lock(&hub.inner.state), &user, &nick) {
                return;
            }
            let (state, guest) = hub.take_guest(user.id).await;
            if !guest_on(&state, &user, &nick) {
                drop(state);
                hub.release_nick(&guest, user.id);
                return;
            }
            if hub.rename(state, &user, &guest, true).is_ok() {
                hub.release_nick(&nick, user.id);
                tracing::info!(account = %account.name, guest = %guest, "owned nick: guest renamed");
            }
        });
    }
}

/// Whether `user` is still connected, on `nick`, and not logged in to the account of that
/// name.
fn guest_on(state: &State, user: &User, nick: &str) -> bool {
    let here = state
        .users
        .get(&fold(nick))
        .is_some_and(|u| u.id == user.id);
    here && !owns(user, nick)
}

/// Whether `user` is logged in to the account named `nick`.
fn owns(user: &User, nick: &str) -> bool {
    lock(&user.account)
        .as_deref()
        .is_some_and(|a| fold(a) == fold(nick))
}

/// `result`, a failure answered [`FAILED_LOGIN_DELAY`] late (a guesser waits on every try).
async fn slowed<T>(result: Result<T, Error>) -> Result<T, Error> {
    if result.is_err() {
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
    }
    result
}
