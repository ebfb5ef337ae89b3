//! One keep-alive HTTP/1.1 connection owned by one virtual user: prepared request bytes out, responses
//! parsed in place with httparse (no header map is built; only the framing headers are read).

use crate::http::{BaseUrl, TlsOptions};
use crate::metrics::health::LocalLimit;
use crate::metrics::FailureKind;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Largest response body kept for extraction and checks; longer bodies are drained and the rest dropped.
pub const BODY_CAP: usize = 10 * 1024 * 1024;

/// How the engine connects: target address and TLS settings, shared by every user.
pub struct Connector {
    base: BaseUrl,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// Local addresses to open connections from, in turn (empty: the system's choice).
    sources: Arc<[std::net::IpAddr]>,
    next_source: std::sync::atomic::AtomicUsize,
}

/// A failed exchange, classified.
#[derive(Debug)]
pub struct Failure {
    /// Which kind of failure.
    pub kind: FailureKind,
    /// A short description.
    pub detail: String,
    /// Set when the generator's own limit failed it (out of descriptors or local ports), not the target.
    pub local: Option<LocalLimit>,
}

/// Accepts every server certificate (`--insecure`); handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Leaves the local port of a socket bound to a source address to `connect`, as an unbound socket's
/// is (Linux `IP_BIND_ADDRESS_NO_PORT`; HAProxy and nginx's `proxy_bind` do the same). `bind(ip, 0)`
/// alone reserves a port unique to the address before the destination is known: every source
/// address then has one port range for all targets, a port still in TIME_WAIT from a run a minute
/// ago cannot be taken again, and the kernel's search for a free port grows slow as the range fills
/// (50,000 users right after a run of 50,000: connects of 1.2 s on average, up to 30 s).
fn defer_port_choice(socket: &tokio::net::TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt(2) on a socket this function borrows, reading one c_int it owns. A
        // kernel without the option (before 4.2) refuses it, and bind then chooses the port.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// An error of a connection from `src`, saying so; a local limit keeps its OS error, which
/// [`LocalLimit::of`] reads (out of ports at connect is the generator's limit, not the service's).
fn from_source(src: std::net::IpAddr, e: std::io::Error) -> std::io::Error {
    match LocalLimit::of(&e) {
        Some(_) => e,
        None => std::io::Error::new(e.kind(), format!("from {src}: {e}")),
    }
}

impl Connector {
    /// A connector for this base URL (TLS with the Mozilla roots for https, plus `tls_opts`).
    pub fn new(base: &BaseUrl, tls_opts: &TlsOptions) -> Result<Connector, String> {
        let tls = if base.tls {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(ca) = &tls_opts.ca_file {
                use rustls::pki_types::pem::PemObject;
                let bad = |e: &dyn std::fmt::Display| format!("--ca-file {}: {e}", ca.display());
                let mut added = 0;
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
                    roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(bad(&"no PEM certificate in it"));
                }
            }
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?;
            let config = if tls_opts.insecure {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                    .with_no_client_auth()
            } else {
                builder.with_root_certificates(roots).with_no_client_auth()
            };
            let name = rustls::pki_types::ServerName::try_from(base.host.clone())
                .map_err(|_| format!("`{}` is not a valid TLS server name", base.host))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Connector {
            base: base.clone(),
            tls,
            sources: Arc::from(Vec::new()),
            next_source: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Opens connections from these local addresses in turn (none: the system chooses).
    pub fn with_sources(mut self, sources: &[std::net::IpAddr]) -> Connector {
        self.sources = Arc::from(sources.to_vec());
        self
    }

    /// A TCP connection to the target, from the next source address when there are any.
    async fn tcp(&self) -> std::io::Result<TcpStream> {
        if self.sources.is_empty() {
            return TcpStream::connect((self.base.host.as_str(), self.base.port)).await;
        }
        let i = self.next_source.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let src = self.sources[i % self.sources.len()];
        let mut last = None;
        let from = |e| from_source(src, e);
        for to in tokio::net::lookup_host((self.base.host.as_str(), self.base.port)).await? {
            if to.is_ipv4() != src.is_ipv4() {
                continue;
            }
            let socket = if src.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            defer_port_choice(&socket);
            if let Err(e) = socket.bind(std::net::SocketAddr::new(src, 0)) {
                return Err(from(e));
            }
            match socket.connect(to).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(from(e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                format!(
                    "from {src}: {} has no {} address",
                    self.base.host,
                    if src.is_ipv4() { "IPv4" } else { "IPv6" }
                ),
            )
        }))
    }

    /// Opens a connection (and its TLS session for https).
    pub async fn connect(&self) -> Result<Conn, Failure> {
        let connect_err = |e: String| Failure {
            kind: FailureKind::Connect,
            detail: e,
            local: None,
        };
        let tcp = self.tcp().await.map_err(|e| Failure {
            local: LocalLimit::of(&e),
            ..connect_err(format!("connect to {}:{}: {e}", self.base.host, self.base.port))
        })?;
        let _ = tcp.set_nodelay(true);
        let io = match &self.tls {
            None => Stream::Tcp(tcp),
            Some((tls, name)) => {
                Stream::Tls(Box::new(tls.connect(name.clone(), tcp).await.map_err(|e| {
                    // rustls reads a plain HTTP answer as a record of an invalid type.
                    let plain = e.to_string().contains("InvalidContentType");
                    connect_err(if plain {
                        format!(
                            "TLS handshake with {}: the port answered in plain HTTP, not TLS; use http:// for it",
                            self.base.host
                        )
                    } else {
                        format!("TLS handshake with {}: {e}", self.base.host)
                    })
                })?))
            }
        };
        Ok(Conn::new(io))
    }
}

/// A plain or TLS byte stream.
pub enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// First size of a connection's read buffer: small, since every idle user holds one (10,000 users:
/// 10 MB); it doubles, once per connection, up to the largest answer that connection reads.
const READ_BUF: usize = 1024;
/// Largest read buffer for bodies: large bodies are read in pieces this big.
const MAX_READ_BUF: usize = 64 * 1024;
/// Largest response head (hyper's default limit).
pub const MAX_HEAD: usize = 400 * 1024;
/// Most response headers parsed (hyper's default limit).
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;

/// What a response head says about its body and the connection.
#[derive(Default)]
struct FramingHeaders {
    length: Option<u64>,
    /// Why the Content-Length headers are unusable, if they are.
    length_error: Option<String>,
    transfer_encoding: bool,
    /// Whether the final transfer coding is chunked.
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

/// How a response body is delimited.
#[derive(Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    io: Stream,
    /// Read buffer; `buf[start..end]` is received and not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// False once the connection may not carry another request.
    reusable: bool,
    /// Responses read completely on this connection.
    served: u64,
    /// Whether the current exchange received any byte.
    received: bool,
    /// Bytes read during the current exchange.
    read: u64,
    /// When the current exchange's first byte arrived.
    first_byte: Option<Instant>,
    /// Request bytes written by the current exchange (0 until its request is out).
    sent: u64,
    /// The last answer's `Location` when it was a redirect (3xx).
    location: Option<String>,
    /// The last response head parsed on this connection and what it said: a server's heads mostly
    /// repeat byte for byte (nginx's change with its `Date`, once a second), and the same bytes
    /// parse to the same result, so a repeated head is compared instead of parsed again.
    last_head: Option<Box<ParsedHead>>,
}

/// Longest response head kept for [`Conn::last_head`].
const MAX_CACHED_HEAD: usize = 1024;
/// Heads in a row that differ from the kept one before the comparison pauses (a server whose heads
/// all differ, with a request id or a changing length, then pays almost nothing for it).
const MISSES_BEFORE_PAUSE: u8 = 4;
/// Heads parsed without a comparison during a pause.
const PAUSE: u8 = 64;

/// A response head's bytes and their parse, for the request kind (HEAD or not) it answered.
struct ParsedHead {
    bytes: Vec<u8>,
    head: bool,
    status: u16,
    framing: Framing,
    close: bool,
    /// Heads in a row that were parsed because they differed from this one.
    misses: u8,
    /// Heads still to parse without comparing (a pause after [`MISSES_BEFORE_PAUSE`] misses).
    skip: u8,
}

/// What one exchange got back.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Body bytes (after de-chunking).
    pub body: u64,
    /// Bytes read off the connection: head and body as they came.
    pub received: u64,
    /// Time from the request's send to the first byte of the answer, µs.
    pub ttfb_us: u64,
}

fn read_err(detail: String) -> Failure {
    Failure {
        kind: FailureKind::Read,
        detail,
        local: None,
    }
}

impl Conn {
    /// A connection over an open stream.
    pub fn new(io: Stream) -> Conn {
        Conn {
            io,
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            reusable: true,
            served: 0,
            received: false,
            read: 0,
            first_byte: None,
            sent: 0,
            location: None,
            last_head: None,
        }
    }

    /// Request bytes the last exchange wrote (0 when its request did not go out).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Request bytes the last exchange wrote and nobody has counted yet; counts them.
    pub fn take_sent(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }

    /// The last answer's `Location` header when it was a redirect, taken.
    pub fn take_location(&mut self) -> Option<String> {
        self.location.take()
    }

    /// Whether the last exchange failed on a connection that had served earlier requests before any
    /// byte of its answer came back: the server closed the idle connection as the request left, so
    /// the request may be sent again on a new one (RFC 9112 9.3.1, for idempotent methods).
    pub fn closed_unanswered(&self) -> bool {
        self.served > 0 && !self.received
    }

    /// True when the connection cannot carry another request: closed by us after a response that said
    /// so, or by the server while idle (seen without blocking and, usually, without a system call).
    pub fn is_closed(&mut self) -> bool {
        if !self.reusable {
            return true;
        }
        let open = match &mut self.io {
            // tokio's non-blocking read (no waker, no task budget): a would-block also clears the
            // readiness the last response left, so the next read waits instead of trying first.
            Stream::Tcp(s) => {
                let mut probe = [0u8; 1];
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // Through the TLS layer: a close_notify or bytes nobody asked for are records to decode.
            Stream::Tls(_) => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                let mut probe = [0u8; 1];
                let mut rb = ReadBuf::new(&mut probe);
                Pin::new(&mut self.io).poll_read(&mut cx, &mut rb).is_pending()
            }
        };
        // End of stream, an error, or bytes nobody asked for: do not reuse it.
        self.reusable = open;
        !open
    }

    /// Writes one prepared request and reads its response: the status and the body length, the body
    /// itself kept in `body` (up to [`BODY_CAP`]) when `keep`. `head` says the request was a HEAD.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head: bool,
        keep: bool,
        body: &mut Vec<u8>,
    ) -> Result<Answer, Failure> {
        self.exchange_at(request, head, keep, body, Instant::now()).await
    }

    /// [`Conn::exchange`] with the time the request leaves already read (the time to first byte
    /// counts from it): the caller's clock, when it read one just before.
    pub async fn exchange_at(
        &mut self,
        request: &[u8],
        head: bool,
        keep: bool,
        body: &mut Vec<u8>,
        sent_at: Instant,
    ) -> Result<Answer, Failure> {
        body.clear();
        // Until the response is complete the connection is not reusable.
        self.reusable = false;
        self.received = false;
        self.read = 0;
        self.first_byte = None;
        self.sent = 0;
        let sent = match self.io.write_all(request).await {
            Ok(()) => self.io.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            return Err(read_err(format!("sending the request: {e}")));
        }
        self.sent = request.len() as u64;
        let (status, framing, close) = loop {
            let (status, framing, close) = self.read_head(head).await?;
            // 1xx answers other than 101 come before the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            break (status, framing, close || status == 101);
        };
        let mut len = 0u64;
        let complete = match framing {
            Framing::None => true,
            Framing::Length(n) => {
                self.read_exact_body(n, keep, body, &mut len).await?;
                true
            }
            Framing::Chunked => {
                self.read_chunked(keep, body, &mut len).await?;
                true
            }
            Framing::UntilClose => {
                loop {
                    len += self.take(usize::MAX, keep, body) as u64;
                    if self
                        .fill()
                        .await
                        .map_err(|e| read_err(format!("reading the body: {e}")))?
                        == 0
                    {
                        break;
                    }
                }
                false
            }
        };
        // Bytes after the response were never asked for: the connection is not trusted again.
        self.reusable = complete && !close && self.start == self.end;
        self.served += 1;
        let ttfb = self
            .first_byte
            .map_or(0, |t| t.saturating_duration_since(sent_at).as_micros() as u64);
        Ok(Answer {
            status,
            body: len,
            received: self.read,
            ttfb_us: ttfb,
        })
    }

    /// Reads more bytes into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.fill_up_to(MAX_READ_BUF).await
    }

    /// Reads more bytes, letting the buffer grow up to `limit` when unread bytes fill it.
    async fn fill_up_to(&mut self, limit: usize) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < limit {
                let grown = (self.buf.len() * 2).min(limit);
                self.buf.resize(grown, 0);
            } else {
                return Err(io::Error::other("read buffer full"));
            }
        }
        let room = self.buf.len() - self.end;
        let n = self.io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        if n > 0 && !self.received {
            self.first_byte = Some(Instant::now());
        }
        self.received |= n > 0;
        self.read += n as u64;
        // A read that filled the room: a large body, so read in bigger pieces.
        if n == room && self.buf.len() < MAX_READ_BUF {
            let grown = (self.buf.len() * 2).min(MAX_READ_BUF);
            self.buf.resize(grown, 0);
        }
        Ok(n)
    }

    /// Consumes up to `max` buffered body bytes; returns how many.
    fn take(&mut self, max: usize, keep: bool, body: &mut Vec<u8>) -> usize {
        let n = (self.end - self.start).min(max);
        if keep {
            let room = BODY_CAP.saturating_sub(body.len());
            body.extend_from_slice(&self.buf[self.start..self.start + n.min(room)]);
        }
        self.start += n;
        n
    }

    /// Parses the next response head: status, body framing, and whether the server closes afterwards.
    async fn read_head(&mut self, head: bool) -> Result<(u16, Framing, bool), Failure> {
        loop {
            if let Some(p) = self.last_head.as_deref_mut().filter(|p| p.skip == 0) {
                let got = &self.buf[self.start..self.end];
                if p.head == head && got.len() >= p.bytes.len() && got[..p.bytes.len()] == p.bytes[..] {
                    self.start += p.bytes.len();
                    self.location = None;
                    p.misses = 0;
                    return Ok((p.status, p.framing, p.close));
                }
            }
            if self.end > self.start {
                let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut []);
                match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                    &mut resp,
                    &self.buf[self.start..self.end],
                    &mut headers,
                ) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = resp.code.unwrap_or(0);
                        // Only a redirect's Location is kept (and allocated).
                        self.location = if (300..400).contains(&status) {
                            resp.headers
                                .iter()
                                .find(|h| h.name.eq_ignore_ascii_case("location"))
                                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
                        } else {
                            None
                        };
                        let http10 = resp.version == Some(0);
                        let framing = FramingHeaders::of(resp.headers);
                        self.start += n;
                        // RFC 9112 6.3: no body for HEAD, 1xx, 204 and 304; Transfer-Encoding over
                        // Content-Length; chunked only when it is the final coding (and not in HTTP/1.0);
                        // otherwise the body runs until the server closes.
                        let mut close = framing.close || (http10 && !framing.keep_alive);
                        let body = if head || (100..200).contains(&status) || status == 204 || status == 304 {
                            Framing::None
                        } else if framing.transfer_encoding {
                            if framing.chunked && !http10 {
                                Framing::Chunked
                            } else {
                                close = true;
                                Framing::UntilClose
                            }
                        } else if let Some(e) = framing.length_error {
                            return Err(read_err(format!("invalid HTTP response: {e}")));
                        } else if let Some(n) = framing.length {
                            Framing::Length(n)
                        } else {
                            close = true;
                            Framing::UntilClose
                        };
                        // Kept unless it carries something besides its parse: a redirect's Location,
                        // an interim 1xx.
                        if n <= MAX_CACHED_HEAD && !(100..200).contains(&status) && !(300..400).contains(&status) {
                            let p = self.last_head.get_or_insert_with(|| {
                                Box::new(ParsedHead {
                                    bytes: Vec::with_capacity(n),
                                    head,
                                    status,
                                    framing: body,
                                    close,
                                    misses: 0,
                                    skip: 0,
                                })
                            });
                            if p.skip > 0 {
                                p.skip -= 1;
                            } else {
                                p.misses += 1;
                                if p.misses >= MISSES_BEFORE_PAUSE {
                                    (p.misses, p.skip) = (0, PAUSE);
                                }
                                p.bytes.clear();
                                p.bytes.extend_from_slice(&self.buf[self.start - n..self.start]);
                                (p.head, p.status, p.framing, p.close) = (head, status, body, close);
                            }
                        }
                        return Ok((status, body, close));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(read_err(format!(
                            "invalid HTTP response: more than {MAX_HEADERS} headers"
                        )))
                    }
                    Err(e) => return Err(read_err(format!("invalid HTTP response: {e}"))),
                }
                if self.end - self.start >= MAX_HEAD {
                    return Err(read_err(format!(
                        "invalid HTTP response: its head is over {} KiB",
                        MAX_HEAD / 1024
                    )));
                }
            }
            let had = self.end > self.start;
            let n = self
                .fill_up_to(MAX_HEAD)
                .await
                .map_err(|e| read_err(format!("reading the response: {e}")))?;
            if n == 0 {
                return Err(read_err(if had {
                    "the connection closed in the middle of the response head".into()
                } else {
                    "the connection closed before a response".into()
                }));
            }
        }
    }

    /// Reads a body of exactly `n` bytes.
    async fn read_exact_body(&mut self, n: u64, keep: bool, body: &mut Vec<u8>, len: &mut u64) -> Result<(), Failure> {
        let mut left = n;
        loop {
            let got = self.take(usize::try_from(left).unwrap_or(usize::MAX), keep, body) as u64;
            left -= got;
            *len += got;
            if left == 0 {
                return Ok(());
            }
            let r = self
                .fill()
                .await
                .map_err(|e| read_err(format!("reading the body: {e}")))?;
            if r == 0 {
                return Err(read_err(format!(
                    "the connection closed {left} bytes before the end of the body ({n} announced)"
                )));
            }
        }
    }

    /// Reads one line (without its CRLF); returns its range in the buffer, valid until the next read.
    async fn line(&mut self) -> Result<(usize, usize), Failure> {
        loop {
            if let Some(i) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let a = self.start;
                let mut b = a + i;
                self.start = b + 1;
                if b > a && self.buf[b - 1] == b'\r' {
                    b -= 1;
                }
                return Ok((a, b));
            }
            if self.end - self.start > MAX_LINE {
                return Err(read_err("invalid chunked body: a line over 4 KiB".into()));
            }
            let n = self
                .fill()
                .await
                .map_err(|e| read_err(format!("reading the body: {e}")))?;
            if n == 0 {
                return Err(read_err("the connection closed in the middle of a chunked body".into()));
            }
        }
    }

    /// Reads a chunked body and its trailers.
    async fn read_chunked(&mut self, keep: bool, body: &mut Vec<u8>, len: &mut u64) -> Result<(), Failure> {
        loop {
            let (a, b) = self.line().await?;
            let line = &self.buf[a..b];
            // chunk-size [ BWS ";" chunk-ext ]: hex digits, then optional white space.
            let hex = line.split(|&c| c == b';').next().unwrap_or(&[]).trim_ascii_end();
            let size = (!hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit))
                .then(|| std::str::from_utf8(hex).ok())
                .flatten()
                .and_then(|t| u64::from_str_radix(t, 16).ok())
                .ok_or_else(|| {
                    read_err(format!(
                        "invalid chunked body: bad chunk size `{}`",
                        String::from_utf8_lossy(line)
                    ))
                })?;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let (a, b) = self.line().await?;
                    if a == b {
                        return Ok(());
                    }
                }
            }
            self.read_exact_body(size, keep, body, len).await?;
            let (a, b) = self.line().await?;
            if a != b {
                return Err(read_err("invalid chunked body: no line end after a chunk".into()));
            }
        }
    }
}

impl FramingHeaders {
    /// Reads the framing headers: Content-Length, Transfer-Encoding, Connection.
    fn of(headers: &[httparse::Header<'_>]) -> FramingHeaders {
        let mut f = FramingHeaders::default();
        for h in headers {
            let v = h.value;
            let name = h.name.as_bytes();
            if is_name(name, b"content-length") {
                match (content_length(v), f.length) {
                    (None, _) => {
                        f.length_error = Some(format!("bad content-length `{}`", String::from_utf8_lossy(v)));
                    }
                    (Some(a), Some(b)) if a != b => {
                        f.length_error = Some("two different content-length headers".into());
                    }
                    (Some(a), _) => f.length = Some(a),
                }
            } else if is_name(name, b"transfer-encoding") {
                // The last header's last coding is the final one.
                f.transfer_encoding = true;
                f.chunked = v
                    .rsplit(|&c| c == b',')
                    .next()
                    .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if is_name(name, b"connection") {
                // The usual single values first, without splitting the list. A value holds no CR,
                // so the names' comparison is exact for these two words too.
                if is_name(v, b"keep-alive") {
                    f.keep_alive = true;
                } else if is_name(v, b"close") {
                    f.close = true;
                } else {
                    f.close |= contains_token(v, b"close");
                    f.keep_alive |= contains_token(v, b"keep-alive");
                }
            }
        }
        f
    }
}

/// Whether a header name (a token, as httparse checked) or value is `lower`, a lower-case word of
/// letters and `-`, in any case. Setting bit 5 lower-cases a letter and maps no other byte to a
/// letter or to `-` (only CR becomes `-`, and httparse lets no CR into a name or a value), so one OR
/// per byte compares.
fn is_name(name: &[u8], lower: &[u8]) -> bool {
    if name.len() != lower.len() {
        return false;
    }
    if name.len() < 8 {
        return name.iter().zip(lower).all(|(a, b)| a | 0x20 == *b);
    }
    // Eight bytes at a time; the last word overlaps the one before it when the length is not a
    // multiple of eight. `lower` already has bit 5 set in every byte.
    const BIT5: u64 = 0x2020_2020_2020_2020;
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("eight bytes"));
    let last = name.len() - 8;
    (0..last).step_by(8).all(|i| word(name, i) | BIT5 == word(lower, i)) && word(name, last) | BIT5 == word(lower, last)
}

/// A Content-Length value: digits, or a list of the same number (RFC 9110 8.6); None when invalid.
fn content_length(value: &[u8]) -> Option<u64> {
    // The usual form: nothing but digits, few enough not to overflow.
    if !value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit) {
        return Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
    }
    let mut n = None;
    for part in value.split(|&c| c == b',') {
        let digits = part.trim_ascii();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if n.is_some_and(|m| m != v) {
            return None;
        }
        n = Some(v);
    }
    n
}

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
pub(crate) fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&c| c == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_limit_from_a_source_address_stays_the_generators() {
        let src: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        let ports = from_source(src, std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL));
        assert_eq!(LocalLimit::of(&ports), Some(LocalLimit::Ports));
        let refused = from_source(src, std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(LocalLimit::of(&refused), None);
        assert!(refused.to_string().starts_with("from 127.0.0.2: "), "{refused}");
    }

    /// A socket bound to a source address gets its port at connect, not at bind.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_source_address_leaves_the_port_to_connect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        defer_port_choice(&socket);
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        assert_eq!(socket.local_addr().unwrap().port(), 0, "no port reserved by bind");
        let stream = socket.connect(to).await.unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(local.ip().to_string(), "127.0.0.2");
        assert_ne!(local.port(), 0);
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, local);
    }

    #[test]
    fn header_names_compare_in_any_case_and_only_as_a_whole() {
        assert!(is_name(b"Content-Length", b"content-length"));
        assert!(is_name(b"CONTENT-LENGTH", b"content-length"));
        assert!(is_name(b"connection", b"connection"));
        assert!(!is_name(b"Content-Lengths", b"content-length"));
        assert!(!is_name(b"Content_Length", b"content-length"));
        assert!(!is_name(b"Connectiom", b"connection"));
        // Any one byte changed, at any place in names of 7 to 17 bytes (words and the overlapping
        // tail), fails; any one upper-cased still matches.
        for lower in [
            &b"connect"[..],
            b"location",
            b"connection",
            b"content-length",
            b"accept-language-x",
            b"abcdefghabcdefgh",
        ] {
            for i in 0..lower.len() {
                let mut other = lower.to_vec();
                other[i] = if lower[i] == b'-' { b'_' } else { b'0' };
                assert!(!is_name(&other, lower), "{}", String::from_utf8_lossy(&other));
                let mut upper = lower.to_vec();
                upper[i] = upper[i].to_ascii_uppercase();
                assert!(is_name(&upper, lower), "{}", String::from_utf8_lossy(&upper));
            }
        }
        // Every token character other than a letter stays off the letters and off `-`.
        let tchar = b"!#$%&'*+.^_`|~0123456789";
        for &c in tchar {
            for &l in b"abcdefghijklmnopqrstuvwxyz-" {
                assert!(!is_name(&[c], &[l]), "{} matched {}", c as char, l as char);
            }
        }
    }

    #[test]
    fn content_lengths_read_as_before_on_every_form() {
        assert_eq!(content_length(b"200"), Some(200));
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b"0200"), Some(200));
        assert_eq!(content_length(b"9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(content_length(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(content_length(b"18446744073709551616"), None);
        assert_eq!(content_length(b"5, 5"), Some(5));
        assert_eq!(content_length(b"5, 6"), None);
        assert_eq!(content_length(b""), None);
        assert_eq!(content_length(b"+5"), None);
        assert_eq!(content_length(b"5x"), None);
    }

    #[test]
    fn connection_values_set_close_and_keep_alive() {
        let read = |v: &str| {
            let h = [httparse::Header {
                name: "Connection",
                value: v.as_bytes(),
            }];
            let f = FramingHeaders::of(&h);
            (f.close, f.keep_alive)
        };
        assert_eq!(read("keep-alive"), (false, true));
        assert_eq!(read("Keep-Alive"), (false, true));
        assert_eq!(read("close"), (true, false));
        assert_eq!(read("CLOSE"), (true, false));
        assert_eq!(read("upgrade, close"), (true, false));
        assert_eq!(read("keep-alive , Upgrade"), (false, true));
        assert_eq!(read("closed"), (false, false));
        assert_eq!(read("keep-alivf"), (false, false));
        assert_eq!(read("keep\talive"), (false, false));
        assert_eq!(read("Keep-Alive, close"), (true, true));
    }
}
