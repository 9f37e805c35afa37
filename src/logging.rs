//! Log lines on stderr, as text or JSON (`log_format`), at the levels of `RUST_LOG`.
//!
//! A line written while a request is served carries that request's `request_id`, `method`,
//! `route`, `client_addr`, and `user` and `client_id` once they are known, read from its
//! [`Origin`](crate::origin) (no span per request: see `http::request_id`). The JSON form is one
//! object per line: `timestamp`, `level`, `target`, `message`, the event's own fields, the
//! request's, and the fields of any spans it is in, all side by side, so a log pipeline filters
//! on `request_id` without knowing about spans. The text form puts the request's fields in
//! front: `… INFO request{request_id=… method=POST route=/login client_addr=…}: target: message`.

use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The levels when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// The target of async-imap's lines of what crosses the wire (through the `log` bridge).
pub const IMAP_WIRE_TARGET: &str = "async_imap";

/// The target of the line written for each request answered; off unless `access_log`.
pub const ACCESS_TARGET: &str = "bheem_sso::access";

/// Installs the process's logger: `RUST_LOG` (or [`DEFAULT_FILTER`]), the access lines unless
/// they are off, colour only on a terminal and never with `NO_COLOR` set.
pub fn init(format: LogFormat, access_log: bool) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_FILTER.to_owned());
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    install(
        format,
        filter(&directives, access_log),
        BoxMakeWriter::new(std::io::stderr),
        colour,
    );
}

/// The filter for `directives`, with the access lines turned off unless `access_log` or the
/// directives name their target themselves.
pub fn filter(directives: &str, access_log: bool) -> EnvFilter {
    let mut filter = EnvFilter::builder().parse_lossy(directives);
    if !access_log && !directives.contains(ACCESS_TARGET) {
        filter = filter.add_directive(
            format!("{ACCESS_TARGET}=off")
                .parse()
                .expect("a valid directive"),
        );
    }
    filter
}

/// Installs a logger writing to `writer`; does nothing if one is installed already (tests
/// install theirs once per process).
pub fn install(format: LogFormat, filter: EnvFilter, writer: BoxMakeWriter, colour: bool) {
    let _ = logger(format, filter, writer, colour).try_init();
}

/// The logger [`install`] installs, for a caller that sets it itself: a test scopes one to its
/// thread to read what its server logged.
pub fn logger(
    format: LogFormat,
    filter: EnvFilter,
    writer: BoxMakeWriter,
    colour: bool,
) -> Dispatch {
    // async-imap traces every command it sends and every answer it reads, the master user's
    // LOGIN with its password and people's mail among them: never written, whatever the level
    // or whoever builds the filter (the tests ask for everything at `trace`).
    let filter = filter.add_directive(
        format!("{IMAP_WIRE_TARGET}=off")
            .parse()
            .expect("a valid directive"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour);
    match format {
        LogFormat::Text => Dispatch::new(builder.event_format(Text { colour }).finish()),
        LogFormat::Json => Dispatch::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(FlatJson)
                .finish(),
        ),
    }
}

/// One JSON object per event, with the fields of its spans beside its own.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), now.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        crate::origin::with_current(|origin| {
            if let Some(origin) = origin {
                for (name, value) in request_fields(origin) {
                    line.insert(name.into(), value.into());
                }
            }
        });
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                // JsonFields keeps a span's fields as a JSON object.
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// The request's fields, in the order the text form shows them.
fn request_fields(origin: &crate::origin::Origin) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("request_id", origin.request_id.to_string()),
        ("method", origin.method.to_owned()),
        ("route", origin.route.to_string()),
        ("client_addr", origin.client_addr.to_string()),
    ];
    if let Some(user) = origin.user() {
        fields.push(("user", user.to_owned()));
    }
    if let Some(client) = origin.client() {
        fields.push(("client_id", client.to_owned()));
    }
    fields
}

/// One readable line per event: time, level, the request's fields, the spans, the target, the
/// message and the event's fields.
struct Text {
    colour: bool,
}

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let level = meta.level();
        if self.colour {
            let colour = match *level {
                tracing::Level::ERROR => "31",
                tracing::Level::WARN => "33",
                tracing::Level::INFO => "32",
                _ => "2",
            };
            write!(writer, "{now} \x1b[{colour}m{level:>5}\x1b[0m ")?;
        } else {
            write!(writer, "{now} {level:>5} ")?;
        }
        crate::origin::with_current(|origin| -> std::fmt::Result {
            if let Some(origin) = origin {
                writer.write_str("request{")?;
                for (i, (name, value)) in request_fields(origin).into_iter().enumerate() {
                    let space = if i == 0 { "" } else { " " };
                    write!(writer, "{space}{name}={value}")?;
                }
                writer.write_str("}: ")?;
            }
            Ok(())
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                writer.write_str(": ")?;
            }
        }
        write!(writer, "{}: ", meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn json_lines(access_log: bool, emit: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter("info", access_log))
            .with_writer(buffer.clone())
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    fn origin() -> crate::origin::Origin {
        crate::origin::Origin::new(
            "r-42".into(),
            "POST",
            "/login",
            "192.0.2.7".parse().unwrap(),
            Some("curl/8"),
        )
    }

    #[test]
    fn json_lines_carry_the_request_fields_beside_the_events_own() {
        let lines = json_lines(false, || {
            crate::origin::sync_scope(origin(), || {
                crate::origin::note_user("u-7");
                let span = tracing::info_span!("inner", step = "check");
                let _in = span.enter();
                tracing::info!(attempts = 3, "logged in");
            });
            tracing::info!("outside any request");
        });
        assert_eq!(lines.len(), 2);
        let line = &lines[0];
        assert_eq!(line["message"], "logged in");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["request_id"], "r-42");
        assert_eq!(line["method"], "POST");
        assert_eq!(line["route"], "/login");
        assert_eq!(line["client_addr"], "192.0.2.7");
        assert_eq!(line["user"], "u-7");
        assert_eq!(line["step"], "check");
        assert_eq!(line["attempts"], 3);
        assert!(line.get("client_id").is_none());
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(lines[1].get("request_id").is_none());
    }

    #[test]
    fn text_lines_put_the_request_fields_first() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter("info", false))
            .with_writer(buffer.clone())
            .with_ansi(false)
            .event_format(Text { colour: false })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            crate::origin::sync_scope(origin(), || {
                crate::origin::note_client("bheem-docs");
                tracing::warn!(attempts = 3, "refused");
            });
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains(
                " WARN request{request_id=r-42 method=POST route=/login client_addr=192.0.2.7 \
                 client_id=bheem-docs}: bheem_sso::logging::tests: refused attempts=3\n"
            ),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn access_lines_are_written_only_when_asked_for() {
        let emit = || {
            tracing::info!(target: ACCESS_TARGET, status = 200, "request answered");
            tracing::info!("something else");
        };
        assert_eq!(json_lines(false, emit).len(), 1);
        assert_eq!(json_lines(true, emit).len(), 2);
    }
}
