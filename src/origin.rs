//! Where the work in hand came from: the request id, method and route, the client's address (the
//! trusted-proxy aware one), its user agent, and, once known, the user and client acting. The HTTP layer sets it around each request
//! (`http::request_id`); anything below, the audit trail and the log lines (`logging`) included, reads it with
//! [`current`] without every function taking it as an argument. Work that no request started
//! (the outbox worker, the sweeper, a command) has none.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use tokio::task::futures::TaskLocalFuture;

/// The request that the current task is serving; cheap to clone (one shared record).
#[derive(Clone, Debug)]
pub struct Origin(Arc<Request>);

/// What is known of a request: fixed when it arrives, except who acts, noted once known.
#[derive(Debug)]
pub struct Request {
    /// Taken from a trusted proxy's `X-Request-Id`, or generated.
    pub request_id: Arc<str>,
    pub method: &'static str,
    /// The route's template (`/api/v1/sso/token`), `unmatched` when no route matched: never the
    /// path as sent, whose query can carry a token.
    pub route: Box<str>,
    pub client_addr: IpAddr,
    /// As the client sent it, cut to [`USER_AGENT_MAX`] bytes; `None` when absent or not text.
    pub user_agent: Option<Box<str>>,
    user: OnceLock<Box<str>>,
    client: OnceLock<Box<str>>,
}

impl Origin {
    pub fn new(
        request_id: Arc<str>,
        method: &'static str,
        route: &str,
        client_addr: IpAddr,
        user_agent: Option<&str>,
    ) -> Self {
        Origin(Arc::new(Request {
            request_id,
            method,
            route: route.into(),
            client_addr,
            user_agent: user_agent.map(|agent| cut_user_agent(agent).into()),
            user: OnceLock::new(),
            client: OnceLock::new(),
        }))
    }

    /// The user acting, once noted ([`note_user`]).
    pub fn user(&self) -> Option<&str> {
        self.0.user.get().map(|u| &**u)
    }

    /// The client acting, once noted ([`note_client`]).
    pub fn client(&self) -> Option<&str> {
        self.0.client.get().map(|c| &**c)
    }
}

impl std::ops::Deref for Origin {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.0
    }
}

/// A user agent longer than this is cut (at a character boundary) before it is kept anywhere.
pub const USER_AGENT_MAX: usize = 256;

tokio::task_local! {
    static ORIGIN: Origin;
}

/// `work` with `origin` as the current one while it runs.
pub fn scope<F: Future>(origin: Origin, work: F) -> TaskLocalFuture<Origin, F> {
    ORIGIN.scope(origin, work)
}

/// Runs `f` with `origin` as the current one (a log line written after the request's work).
pub fn sync_scope<R>(origin: Origin, f: impl FnOnce() -> R) -> R {
    ORIGIN.sync_scope(origin, f)
}

/// The origin of the request being served, if any.
pub fn current() -> Option<Origin> {
    ORIGIN.try_with(Clone::clone).ok()
}

/// Runs `f` on the origin of the request being served, without cloning it.
pub fn with_current<R>(f: impl FnOnce(Option<&Origin>) -> R) -> R {
    let mut f = Some(f);
    match ORIGIN.try_with(|o| (f.take().expect("called once"))(Some(o))) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

/// The current request id, if a request is being served.
pub fn request_id() -> Option<Arc<str>> {
    ORIGIN.try_with(|o| o.request_id.clone()).ok()
}

/// Notes who is acting in the current request (the log lines' `user`); the first note stands.
pub fn note_user(user_id: &str) {
    let _ = ORIGIN.try_with(|o| {
        o.0.user.get_or_init(|| user_id.into());
    });
}

/// Notes which client is acting in the current request (the log lines' `client_id`); the
/// first note stands.
pub fn note_client(client_id: &str) {
    let _ = ORIGIN.try_with(|o| {
        o.0.client.get_or_init(|| client_id.into());
    });
}

/// Cuts a user agent to [`USER_AGENT_MAX`] bytes without splitting a character.
pub fn cut_user_agent(agent: &str) -> &str {
    if agent.len() <= USER_AGENT_MAX {
        return agent;
    }
    let mut end = USER_AGENT_MAX;
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    &agent[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(id: &str) -> Origin {
        Origin::new(id.into(), "GET", "/x", "192.0.2.7".parse().unwrap(), None)
    }

    #[tokio::test]
    async fn the_origin_is_there_inside_its_scope_only() {
        assert!(current().is_none());
        let seen = scope(origin("r-1"), async {
            note_user("u-1");
            note_user("u-2");
            note_client("c-1");
            let current = current().unwrap();
            (
                request_id(),
                current.user().map(str::to_owned),
                current.client().map(str::to_owned),
            )
        })
        .await;
        assert_eq!(seen.0.as_deref(), Some("r-1"));
        assert_eq!(seen.1.as_deref(), Some("u-1"), "the first note stands");
        assert_eq!(seen.2.as_deref(), Some("c-1"));
        assert_eq!(request_id(), None);
        note_user("nobody is listening");
    }

    #[test]
    fn long_user_agents_are_cut_at_a_character_boundary() {
        let agent = "é".repeat(200);
        let cut = cut_user_agent(&agent);
        assert!(cut.len() <= USER_AGENT_MAX && cut.len() >= USER_AGENT_MAX - 1);
        assert!(agent.starts_with(cut));
        assert_eq!(cut_user_agent("curl/8"), "curl/8");
    }
}
