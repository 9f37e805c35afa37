//! An attachment streamed from Dovecot to the client: its part read in chunks of
//! [`CHUNK_BYTES`] (partial `BODY.PEEK[section]<offset.length>` fetches), each decoded and
//! passed on before the next is asked for, so a download holds a few chunks whatever the size
//! of the attachment or of its message.
//!
//! The IMAP connection is the download's while it lasts, and goes back to the pool when the
//! last chunk is passed on, or when the client goes away or stops reading (for
//! [`CLIENT_WAIT`]): either happens between two commands, with the connection in good order.
//! A chunk the server fails to give (an error, no answer within `request_timeout_seconds`)
//! ends the download, cut short, and the connection is dropped, since it may be mid-answer.
//!
//! In the metrics a download is one IMAP delivery, counted when it ends (the look-up of the
//! attachment is one more when it finds none or fails).

use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

use super::decode::Decoder;
use super::ids::MessageId;
use super::imap::{count, ops, Lease, MailError, IMAP};
use super::parts::Part;
use super::{mail_failed, MailService};
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};
use crate::workspace::ApiError;

/// How much of a part one FETCH reads.
pub const CHUNK_BYTES: u32 = 256 * 1024;
/// Decoded chunks waiting for the client.
const CHUNKS_IN_FLIGHT: usize = 2;
/// How long a client may leave a chunk unread before the download is given up.
pub const CLIENT_WAIT: Duration = Duration::from_secs(60);

/// An attachment on its way: what it is, and its content as it comes.
pub struct Download {
    pub part: Part,
    pub body: Body,
}

impl MailService {
    /// Attachment `n` of the message `id` of `address`'s folder `imap_name`; `None` when the
    /// folder no longer has the id's UIDVALIDITY, or the message or the attachment is not there.
    pub async fn download(
        &self,
        address: &str,
        imap_name: String,
        id: &MessageId,
        n: usize,
    ) -> Result<Option<Download>, ApiError> {
        let mut lease = self.lease(address).await?;
        let found = self
            .timed(locate(&mut lease, &imap_name, id.uid_validity, id.uid, n))
            .await;
        let part = match found {
            Ok(Some(part)) => part,
            other => {
                count(DeliveryTarget::Imap, &other);
                lease.finish(&other);
                return other.map(|_| None).map_err(mail_failed);
            }
        };
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
        tokio::spawn(pump(lease, id.uid, part.clone(), self.timeout, tx));
        let stream = futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        Ok(Some(Download {
            part,
            body: Body::from_stream(stream),
        }))
    }

    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, MailError>>,
    ) -> Result<T, MailError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(MailError::Timeout { service: IMAP }))
    }
}

/// The `n`th attachment of message `uid` of `folder`, if the folder still has `uid_validity`.
async fn locate(
    lease: &mut Lease,
    folder: &str,
    uid_validity: u32,
    uid: u32,
    n: usize,
) -> Result<Option<Part>, MailError> {
    if ops::open_as_of(lease, folder, uid_validity, false)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(ops::attachments(lease, uid)
        .await?
        .and_then(|parts| parts.into_iter().nth(n)))
}

/// Reads `part` of message `uid` chunk by chunk into `tx` until its end, the client's leaving,
/// or a failure of the server (sent on as the body's error, which cuts the response short).
async fn pump(
    mut lease: Lease,
    uid: u32,
    part: Part,
    timeout: Duration,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut decoder = Decoder::new(part.encoding);
    let mut offset: u64 = 0;
    loop {
        let read = tokio::time::timeout(
            timeout,
            ops::part_bytes(&mut lease, uid, &part.section, offset, CHUNK_BYTES),
        )
        .await
        .unwrap_or(Err(MailError::Timeout { service: IMAP }));
        let chunk = match read {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                // Expunged by another client meanwhile: an answer.
                telemetry::delivery(DeliveryTarget::Imap, DeliveryOutcome::Done);
                lease.give_back();
                let _ = tx.send(Err(cut_short("the message is gone"))).await;
                return;
            }
            Err(e) => {
                telemetry::delivery(DeliveryTarget::Imap, e.outcome());
                // A NO leaves the connection in good order; anything else may leave it
                // mid-answer, and it is dropped.
                if e.keeps_connection() {
                    lease.give_back();
                } else {
                    drop(lease);
                }
                tracing::warn!(error = %e, "an attachment's download was cut short");
                let _ = tx.send(Err(cut_short(&e.to_string()))).await;
                return;
            }
        };
        offset += chunk.len() as u64;
        let last = chunk.len() < CHUNK_BYTES as usize || offset >= u64::from(part.octets);
        let mut decoded = decoder.push(&chunk);
        drop(chunk);
        if last {
            decoded.extend(decoder.finish());
        }
        if !decoded.is_empty() {
            match tokio::time::timeout(CLIENT_WAIT, tx.send(Ok(Bytes::from(decoded)))).await {
                Ok(Ok(())) => {}
                // The client went away, or stopped reading: between two commands, so the
                // connection is in good order for the next request.
                Ok(Err(_)) | Err(_) => {
                    telemetry::delivery(DeliveryTarget::Imap, DeliveryOutcome::Done);
                    lease.give_back();
                    return;
                }
            }
        }
        if last {
            telemetry::delivery(DeliveryTarget::Imap, DeliveryOutcome::Done);
            lease.give_back();
            return;
        }
    }
}

fn cut_short(why: &str) -> std::io::Error {
    std::io::Error::other(format!(
        "the attachment could not be read to its end: {why}"
    ))
}
