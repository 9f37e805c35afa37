//! Where the work in hand came from: the request id, the client's address (the trusted-proxy
//! aware one) and its user agent. The HTTP layer sets it around each request
//! (`http::request_id`); anything below, the audit trail and the log lines included, reads it with
//! [`current`] without every function taking it as an argument. Work that no request started
//! (the outbox worker, the sweeper, a command) has none.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

/// The request that the current task is serving.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Taken from a trusted proxy's `X-Request-Id`, or generated.
    pub request_id: Arc<str>,
    pub client_addr: IpAddr,
    /// As the client sent it, cut to [`USER_AGENT_MAX`] bytes; `None` when absent or not text.
    pub user_agent: Option<Arc<str>>,
    /// The request's log span, where [`note_user`] and [`note_client`] write (the current span
    /// may be one a layer inside opened).
    pub span: tracing::Span,
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

/// The origin of the request being served, if any.
pub fn current() -> Option<Origin> {
    ORIGIN.try_with(Clone::clone).ok()
}

/// The current request id, if a request is being served.
pub fn request_id() -> Option<Arc<str>> {
    ORIGIN.try_with(|o| o.request_id.clone()).ok()
}

/// Notes on the current request's log span (`user`) who is acting, once it is known.
pub fn note_user(user_id: &str) {
    let _ = ORIGIN.try_with(|o| {
        o.span.record("user", user_id);
    });
}

/// Notes on the current request's log span (`client_id`) which client is acting.
pub fn note_client(client_id: &str) {
    let _ = ORIGIN.try_with(|o| {
        o.span.record("client_id", client_id);
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
        Origin {
            request_id: id.into(),
            client_addr: "192.0.2.7".parse().unwrap(),
            user_agent: None,
            span: tracing::Span::none(),
        }
    }

    #[tokio::test]
    async fn the_origin_is_there_inside_its_scope_only() {
        assert!(current().is_none());
        let seen = scope(origin("r-1"), async { request_id() }).await;
        assert_eq!(seen.as_deref(), Some("r-1"));
        assert_eq!(request_id(), None);
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
