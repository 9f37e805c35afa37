//! IMAP to Dovecot as the user: connecting (implicit TLS, STARTTLS, or plain on loopback),
//! the master-user login, a small pool of logged-in connections per mailbox (`pool`), and the
//! commands the API needs (`ops`).

pub mod ops;
mod pool;
pub mod utf7;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

pub use pool::{Lease, Pool};

use crate::config::{MailConfig, MailTls};
use crate::telemetry::{self, DeliveryOutcome, DeliveryTarget};

/// What a connection runs on: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

/// A logged-in IMAP connection.
pub type ImapSession = Session<Box<dyn Io>>;

/// Why a call to a mail server failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server cannot be reached (refused, no route, no name, no TLS): it is down.
    #[error("cannot reach {service}: {message}")]
    Unreachable {
        service: &'static str,
        message: String,
    },
    /// It took longer than `request_timeout_seconds`.
    #[error("{service} did not answer in time")]
    Timeout { service: &'static str },
    /// It refused the master user's login (a wrong master password, no such mailbox, a
    /// mailbox that may not log in).
    #[error("{service} refused the login: {message}")]
    LoginRefused {
        service: &'static str,
        message: String,
    },
    /// It said NO to a command: what that means is the caller's to say.
    #[error("{service} refused: {message}")]
    No {
        service: &'static str,
        message: String,
    },
    /// It broke the protocol or the connection, mid-call.
    #[error("{service} failed: {message}")]
    Broken {
        service: &'static str,
        message: String,
    },
}

pub(crate) const IMAP: &str = "imap";

impl From<async_imap::error::Error> for MailError {
    fn from(e: async_imap::error::Error) -> Self {
        use async_imap::error::Error;
        match e {
            Error::No(message) => Self::No {
                service: IMAP,
                message,
            },
            other => Self::Broken {
                service: IMAP,
                message: other.to_string(),
            },
        }
    }
}

impl MailError {
    /// Whether the connection it happened on is still good for another command.
    pub fn keeps_connection(&self) -> bool {
        matches!(self, Self::No { .. })
    }

    /// How the call it ended counts in the metrics: a NO is an answer (done), a server down,
    /// slow or breaking off is worth trying again, a refused master login is not.
    pub fn outcome(&self) -> DeliveryOutcome {
        match self {
            Self::No { .. } => DeliveryOutcome::Done,
            Self::LoginRefused { .. } => DeliveryOutcome::Fail,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Broken { .. } => {
                DeliveryOutcome::Retry
            }
        }
    }
}

/// Counts a call to the mail server (`target`: IMAP or SMTP) as a delivery in the metrics.
pub fn count<T>(target: DeliveryTarget, result: &Result<T, MailError>) {
    let outcome = match result {
        Ok(_) => DeliveryOutcome::Done,
        Err(e) => e.outcome(),
    };
    telemetry::delivery(target, outcome);
}

/// How to open and log in a connection to Dovecot.
#[derive(Clone)]
pub struct Connector {
    host: String,
    port: u16,
    tls: MailTls,
    tls_config: Arc<ClientConfig>,
    separator: String,
    master_user: String,
    master_password: SecretString,
    timeout: Duration,
}

/// A TLS client that trusts the public roots (Mailcow's certificate is a public one, from
/// Let's Encrypt, for the mail host name), and `extra_pem`'s certificates if given.
pub fn tls_config(extra_pem: Option<&[u8]>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert?)?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Connector {
    pub fn new(config: &MailConfig, tls_config: Arc<ClientConfig>) -> Self {
        Self {
            host: config.imap_host.clone(),
            port: config.imap_port,
            tls: config.tls,
            tls_config,
            separator: config.master_separator.clone(),
            master_user: config.master_user.clone(),
            master_password: config.master_password.clone(),
            timeout: Duration::from_secs(config.request_timeout_seconds),
        }
    }

    /// The login that opens `address` as the master user.
    pub fn login_name(&self, address: &str) -> String {
        format!("{address}{}{}", self.separator, self.master_user)
    }

    /// A new connection, logged in as `address`, within the request timeout.
    pub async fn open(&self, address: &str) -> Result<ImapSession, MailError> {
        // A server that takes this long to let us in is as good as down: 503, not 504.
        tokio::time::timeout(self.timeout, self.open_unbounded(address))
            .await
            .map_err(|_| MailError::Unreachable {
                service: IMAP,
                message: format!("no login within {} s", self.timeout.as_secs()),
            })?
    }

    /// A connection greeted by the server, over TLS unless `tls = "none"`, not logged in,
    /// within the request timeout: what `config check` asks of `[mail]`'s IMAP server.
    pub async fn greet(&self) -> Result<(), MailError> {
        tokio::time::timeout(self.timeout, self.greeted())
            .await
            .map_err(|_| MailError::Unreachable {
                service: IMAP,
                message: format!("no greeting within {} s", self.timeout.as_secs()),
            })?
            .map(drop)
    }

    async fn open_unbounded(&self, address: &str) -> Result<ImapSession, MailError> {
        let client = self.greeted().await?;
        if address.contains(['\r', '\n', '"']) {
            return Err(MailError::LoginRefused {
                service: IMAP,
                message: "the mailbox address cannot be written into a login".into(),
            });
        }
        client
            .login(
                self.login_name(address),
                self.master_password.expose_secret(),
            )
            .await
            .map_err(|(e, _)| match e {
                async_imap::error::Error::No(message) | async_imap::error::Error::Bad(message) => {
                    MailError::LoginRefused {
                        service: IMAP,
                        message,
                    }
                }
                other => MailError::from(other),
            })
    }

    async fn greeted(&self) -> Result<Client<Box<dyn Io>>, MailError> {
        let unreachable = |message: String| MailError::Unreachable {
            service: IMAP,
            message,
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let client: Client<Box<dyn Io>> = match self.tls {
            MailTls::None => greeted(Client::new(Box::new(tcp) as Box<dyn Io>)).await?,
            MailTls::Implicit => {
                let tls = self.handshake(tcp).await.map_err(unreachable)?;
                greeted(Client::new(Box::new(tls) as Box<dyn Io>)).await?
            }
            MailTls::Starttls => {
                let mut plain = greeted(Client::new(tcp)).await?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| unreachable(format!("STARTTLS: {e}")))?;
                let tls = self
                    .handshake(plain.into_inner())
                    .await
                    .map_err(unreachable)?;
                // The greeting came before TLS; what follows STARTTLS is the login.
                Client::new(Box::new(tls) as Box<dyn Io>)
            }
        };
        Ok(client)
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let name = ServerName::try_from(self.host.clone()).map_err(|e| e.to_string())?;
        TlsConnector::from(self.tls_config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))
    }
}

/// The client once the server's greeting has been read (an untagged OK).
async fn greeted<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(
    mut client: Client<T>,
) -> Result<Client<T>, MailError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(MailError::Unreachable {
            service: IMAP,
            message: "the server closed the connection before its greeting".into(),
        }),
        Err(e) => Err(MailError::Unreachable {
            service: IMAP,
            message: e.to_string(),
        }),
    }
}
