//! Connections to the directory: TCP with a connect timeout, TLS through rustls (LDAPS from
//! the first byte, or the StartTLS upgrade of a clear-text connection), and a small framed
//! message reader for the exchanges that do not go through the login state machine.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use idforge_ldap_auth::frame_len;
use idforge_ldap_auth::{AuthFailure, LdapMessage, ProtocolOp};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::LdapError;
use super::settings::{LdapUrl, Security};

/// A connection that starts in clear text and may have been upgraded to TLS.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    pub(super) async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    /// Closes the connection (TLS: with close_notify), giving up after a second.
    pub(super) async fn close(mut self) {
        let shutdown = async {
            match &mut self {
                Stream::Plain(s) => s.shutdown().await,
                Stream::Tls(s) => s.shutdown().await,
            }
        };
        let _ = timeout(Duration::from_secs(1), shutdown).await;
    }

    /// Whether an idle connection still looks usable: not closed by the server and with
    /// nothing unread (an unread byte would be a Notice of Disconnection or garbage).
    pub(super) async fn is_quiet(&mut self) -> bool {
        let mut probe = [0u8; 1];
        // `timeout` polls the read once before looking at the clock: a closed connection or
        // pending data shows at once, a quiet one times out immediately.
        timeout(Duration::ZERO, self.read(&mut probe))
            .await
            .is_err()
    }
}

/// Opens connections to one directory.
pub(super) struct Connector {
    directory: String,
    pub(super) url: LdapUrl,
    pub(super) security: Security,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
}

impl Connector {
    pub(super) fn new(
        directory: &str,
        url: LdapUrl,
        security: Security,
        tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            directory: directory.to_owned(),
            url,
            security,
            tls: tls.map(|(config, name)| (TlsConnector::from(config), name)),
            connect_timeout,
        }
    }

    /// `host:port` as connected to.
    pub(super) fn address(&self) -> String {
        if self.url.host.contains(':') {
            format!("[{}]:{}", self.url.host, self.url.port)
        } else {
            format!("{}:{}", self.url.host, self.url.port)
        }
    }

    /// The name verified in the server certificate.
    pub(super) fn server_name(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(_, name)| name.to_str().into_owned())
    }

    /// A TCP connection (no TLS yet).
    pub(super) async fn tcp(&self) -> Result<TcpStream, LdapError> {
        let connect = TcpStream::connect((self.url.host.as_str(), self.url.port));
        let tcp = timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| LdapError::Timeout {
                directory: self.directory.clone(),
                operation: "connect",
                after: self.connect_timeout,
            })?
            .map_err(|source| LdapError::Connect {
                directory: self.directory.clone(),
                address: self.address(),
                source,
            })?;
        // Requests are small and each waits for its answer.
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// A connection ready for LDAP: TCP, and for `ldaps://` the TLS handshake.
    pub(super) async fn open(&self) -> Result<Stream, LdapError> {
        let tcp = self.tcp().await?;
        if self.security == Security::Ldaps {
            self.handshake(tcp).await
        } else {
            Ok(Stream::Plain(tcp))
        }
    }

    /// The TLS handshake on a TCP connection (LDAPS, or after a successful StartTLS).
    pub(super) async fn handshake(&self, tcp: TcpStream) -> Result<Stream, LdapError> {
        let Some((connector, name)) = &self.tls else {
            return Err(LdapError::Settings {
                directory: self.directory.clone(),
                reason: "TLS requested on a connection configured without TLS".to_owned(),
            });
        };
        let tls = timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
            .await
            .map_err(|_| LdapError::Timeout {
                directory: self.directory.clone(),
                operation: "TLS handshake",
                after: self.connect_timeout,
            })?
            .map_err(|source| LdapError::Tls {
                directory: self.directory.clone(),
                server_name: name.to_str().into_owned(),
                source,
            })?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// The StartTLS upgrade of a clear-text connection.
    pub(super) async fn upgrade(&self, stream: Stream) -> Result<Stream, LdapError> {
        match stream {
            Stream::Plain(tcp) => self.handshake(tcp).await,
            Stream::Tls(_) => Err(LdapError::Directory {
                directory: self.directory.clone(),
                failure: AuthFailure::UnexpectedMessage("StartTLS on a TLS connection"),
            }),
        }
    }
}

/// The rustls client configuration trusting only the CA certificates in `ca_file`.
pub(super) fn tls_config(
    directory: &str,
    ca_file: &Path,
) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    let fail = |reason: String| LdapError::CaFile {
        directory: directory.to_owned(),
        path: ca_file.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca_file).map_err(|e| fail(e.to_string()))?;
    for certificate in certificates {
        let certificate = certificate.map_err(|e| fail(e.to_string()))?;
        roots
            .add(certificate)
            .map_err(|e| fail(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("no CERTIFICATE in the file".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection carrying whole LDAP messages: requests written, responses read by frame, each
/// read bounded by a deadline.
pub(super) struct MessageConn<'a> {
    pub(super) stream: Stream,
    directory: &'a str,
    inbox: Vec<u8>,
    next_id: i32,
    max_message_size: usize,
    operation_timeout: Duration,
    deadline: Instant,
    operation: &'static str,
}

impl<'a> MessageConn<'a> {
    pub(super) fn new(
        stream: Stream,
        directory: &'a str,
        max_message_size: usize,
        operation_timeout: Duration,
    ) -> Self {
        Self {
            stream,
            directory,
            inbox: Vec::new(),
            next_id: 1,
            max_message_size,
            operation_timeout,
            deadline: Instant::now() + operation_timeout,
            operation: "request",
        }
    }

    fn failure(&self, failure: AuthFailure) -> LdapError {
        LdapError::Directory {
            directory: self.directory.to_owned(),
            failure,
        }
    }

    /// Sends a request named `operation` (for errors) and starts its timeout; returns its ID.
    pub(super) async fn send(
        &mut self,
        operation: &'static str,
        op: ProtocolOp,
    ) -> Result<i32, LdapError> {
        let id = self.next_id;
        self.next_id += 1;
        self.operation = operation;
        self.deadline = Instant::now() + self.operation_timeout;
        let bytes = zeroize::Zeroizing::new(LdapMessage::new(id, op).encode());
        match timeout_at(self.deadline, self.stream.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(id),
            Ok(Err(source)) => Err(LdapError::Io {
                directory: self.directory.to_owned(),
                operation,
                source,
            }),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> LdapError {
        LdapError::Timeout {
            directory: self.directory.to_owned(),
            operation: self.operation,
            after: self.operation_timeout,
        }
    }

    /// The next response to request `id`, within the current operation's deadline.
    pub(super) async fn receive(&mut self, id: i32) -> Result<ProtocolOp, LdapError> {
        let mut buf = [0u8; 4096];
        loop {
            match frame_len(&self.inbox, self.max_message_size) {
                Ok(Some(len)) => {
                    let decoded =
                        LdapMessage::decode_with_limit(&self.inbox[..len], self.max_message_size);
                    self.inbox.drain(..len);
                    let message = decoded.map_err(|e| self.failure(AuthFailure::Malformed(e)))?;
                    if message.id == 0 {
                        let diagnostic = match message.op {
                            ProtocolOp::ExtendedResponse(r) => r.result.diagnostic,
                            _ => String::new(),
                        };
                        return Err(self.failure(AuthFailure::Disconnected { diagnostic }));
                    }
                    if message.id != id {
                        return Err(self.failure(AuthFailure::UnexpectedMessage(
                            "response to another message ID",
                        )));
                    }
                    return Ok(message.op);
                }
                Ok(None) => {}
                Err(e) => return Err(self.failure(AuthFailure::Malformed(e))),
            }
            let n = match timeout_at(self.deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) => return Err(self.failure(AuthFailure::ConnectionClosed)),
                Ok(Ok(n)) => n,
                Ok(Err(source)) => {
                    return Err(LdapError::Io {
                        directory: self.directory.to_owned(),
                        operation: self.operation,
                        source,
                    });
                }
                Err(_) => return Err(self.timed_out()),
            };
            self.inbox.extend_from_slice(&buf[..n]);
        }
    }

    /// The directory's name, for errors.
    pub(super) fn directory(&self) -> &'a str {
        self.directory
    }

    /// Whether bytes arrived that no request has asked for yet.
    pub(super) fn has_unread(&self) -> bool {
        !self.inbox.is_empty()
    }
}
