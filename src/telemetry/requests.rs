//! The HTTP request metrics, recorded for every request: through handles each thread keeps,
//! so that a request costs two atomic updates and no lock, and allocates nothing once its
//! route, method and status have been seen on its thread.
//!
//! The `metrics` macros build a key (a vector of labels) and look it up in the recorder's
//! registry, behind a read lock, on every call: fine for a login, not for every request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use super::{enabled, HTTP_REQUESTS, HTTP_REQUEST_DURATION};

/// The route label of a request that no route matched: one value whatever the path, so the
/// paths scanners try do not each become a series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The handles of one route on one thread: the duration histogram of each method, the counter
/// of each method and status.
#[derive(Default)]
struct RouteHandles {
    durations: Vec<(&'static str, Histogram)>,
    requests: Vec<(&'static str, u16, Counter)>,
}

thread_local! {
    static ROUTES: RefCell<HashMap<Arc<str>, RouteHandles>> = RefCell::new(HashMap::new());
}

/// Counts a request answered with `status` after `took`. `route` is the matched route's
/// template, or `None` when no route matched; `method` is [`method_label`]'s.
pub fn http_request(route: Option<&str>, method: &'static str, status: u16, took: Duration) {
    if !enabled() {
        return;
    }
    let route = route.unwrap_or(UNMATCHED_ROUTE);
    ROUTES.with(|routes| {
        let mut routes = routes.borrow_mut();
        if !routes.contains_key(route) {
            routes.insert(Arc::from(route), RouteHandles::default());
        }
        let handles = routes.get_mut(route).expect("just inserted");
        let at = match handles.durations.iter().position(|(m, _)| *m == method) {
            Some(at) => at,
            None => {
                let histogram = metrics::histogram!(
                    HTTP_REQUEST_DURATION,
                    "route" => route.to_owned(),
                    "method" => method,
                );
                handles.durations.push((method, histogram));
                handles.durations.len() - 1
            }
        };
        handles.durations[at].1.record(took.as_secs_f64());
        let at = match handles
            .requests
            .iter()
            .position(|(m, s, _)| *m == method && *s == status)
        {
            Some(at) => at,
            None => {
                let counter = metrics::counter!(
                    HTTP_REQUESTS,
                    "route" => route.to_owned(),
                    "method" => method,
                    "status" => status_label(status),
                );
                handles.requests.push((method, status, counter));
                handles.requests.len() - 1
            }
        };
        handles.requests[at].2.increment(1);
    });
}

/// The method as a label: the standard ones by name, anything else as `other`, so a client
/// that invents methods cannot add series.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// "100" to "999", one string made once, so a status label is a slice of it and never a new
/// string.
static STATUS_DIGITS: LazyLock<String> =
    LazyLock::new(|| (100..1000).map(|code: u16| code.to_string()).collect());

fn status_label(status: u16) -> &'static str {
    let status = usize::from(status.clamp(100, 999));
    let at = (status - 100) * 3;
    &STATUS_DIGITS[at..at + 3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_label_is_its_three_digits() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(100), "100");
        assert_eq!(status_label(999), "999");
    }

    #[test]
    fn only_the_standard_methods_are_labelled_by_name() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("OPTIONS"), "OPTIONS");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }
}
