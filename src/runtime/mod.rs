//! The only IO: the clock, SIP sockets, the store thread and signals.
//!
//! One engine task owns the [`Pbx`]. UDP receivers and TCP connection tasks stamp nothing and
//! decide nothing: they hand complete messages to the engine task through a bounded channel.
//! The engine task feeds each input, drains every output (rule 3 of ARCHITECTURE.md), and
//! sleeps until the engine's next deadline or the next input.
//!
//! The control socket (`zvon status`, `zvon agent`) is one more source of input: each
//! connection's request reaches the engine task as an [`Input::Control`] with an id, and the
//! engine task routes the [`Output::ControlReply`] with that id back to the connection.
//!
//! Shutdown (SIGTERM/SIGINT): stop taking input, drain the engine, flush and close the store
//! (every queued record is committed before the process exits), remove the control socket.

pub mod clock;
pub mod control;
pub mod media;
mod trunks;
pub mod wav;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::api;
use crate::config::Config;
use crate::core::{Datagram, Input, Output, Pbx};
use crate::sip::Transport;
use crate::sip::msg::{self, Frame, Limits};
use crate::store::{self, Store, StoreCommand, StoreSender};

/// UDP receive buffer we ask the kernel for (same as the Kamailio baseline's `maxbuffer`).
const UDP_RCVBUF: usize = 4 << 20;
/// Capacity of the channel from the sockets to the engine.
const INPUT_QUEUE: usize = 16_384;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A listen address could not be bound.
    #[error("cannot listen on {transport} {addr}: {source}")]
    Bind {
        /// udp / tcp
        transport: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The control socket could not be created.
    #[error("cannot create the control socket {path}: {source}")]
    Control {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another daemon answers on the control socket.
    #[error(
        "another zvon is running: it answers on the control socket {path} (stop it first, or give this one another state directory or server.control_socket)"
    )]
    ControlInUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Other IO (runtime start, signals).
    #[error("{0}")]
    Io(#[from] io::Error),
}

enum Event {
    Input(Input),
    ConnOpened(SocketAddr, mpsc::Sender<Bytes>),
    ConnClosed(SocketAddr),
    /// An outgoing TCP connection (to a trunk) could not be opened.
    ConnFailed(SocketAddr),
    /// A control request and where its answer goes.
    Control(api::Request, oneshot::Sender<api::Response>),
}

/// Control connections waiting for the engine's answer, by request id (owned by the engine
/// task).
#[derive(Default)]
struct Waiting {
    next: u64,
    by_id: HashMap<u64, oneshot::Sender<api::Response>>,
}

impl Waiting {
    fn add(&mut self, reply: oneshot::Sender<api::Response>) -> u64 {
        self.next += 1;
        self.by_id.insert(self.next, reply);
        self.next
    }

    fn answer(&mut self, id: u64, response: api::Response) {
        match self.by_id.remove(&id) {
            // The client may have given up (timeout); nothing to do then.
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => tracing::debug!(id, "control reply for no waiting connection"),
        }
    }
}

/// The database file in a state directory (what [`run`] opens; `zvon report` reads it).
pub fn database_path(state_dir: &Path) -> PathBuf {
    state_dir.join("zvon.db")
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(cfg: Config, state_dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(state_dir).map_err(|source| RunError::StateDir {
        path: state_dir.to_owned(),
        source,
    })?;
    let db = database_path(state_dir);
    // First, while the process is single-threaded (the socket's umask is process-wide), and
    // before touching the database: this also stops a second daemon on the same state.
    let ctl = control::ControlSocket::bind(&cfg.server.control_socket_path(state_dir))?;
    // One thread for all signalling: the socket readers and the engine task hand messages over
    // without waking another thread (the registrar benchmark showed ~24 % of the CPU going to
    // context switches with a two-thread runtime). Media runs on its own worker threads, the
    // store on its own thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async_main(cfg, db, ctl))
}

async fn async_main(
    cfg: Config,
    db: PathBuf,
    mut ctl: control::ControlSocket,
) -> Result<(), RunError> {
    let now = clock::now();
    let bindings = store::load_bindings(&db, now.wall.secs())?;
    let store = Store::open(&db)?;
    let sender = store.sender();
    let _ = sender.send(StoreCommand::PutMetaIfAbsent {
        key: store::META_FIRST_START.into(),
        value: now.wall.secs().to_string(),
    });
    let _ = sender.send(StoreCommand::PutMeta {
        key: store::META_LAST_START.into(),
        value: now.wall.secs().to_string(),
    });

    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
    let mut pbx = Pbx::new(&cfg, now, seed);
    let restored = pbx.restore_bindings(now, bindings);
    pbx.restore_ext_state(store::ext_states(&db)?);
    pbx.restore_agent_states(store::agent_states(&db)?);
    pbx.restore_voicemail(&store::voicemails(&db)?);
    pbx.restore_greetings(store::greetings(&db));
    pbx.restore_voicemail_pins(store::voicemail_pins(&db)?);
    tracing::info!(path = %db.display(), bindings = restored, "store opened");

    let limits = Limits {
        max_size: cfg.sip.max_message_size,
        max_headers: cfg.sip.max_headers,
    };
    let (tx, rx) = mpsc::channel::<Event>(INPUT_QUEUE);
    let media_rt = start_media(&cfg, db.parent().unwrap_or(Path::new(".")), tx.clone())?;
    let mut udp = HashMap::new();
    for addr in &cfg.server.udp {
        let sock = UdpSocket::bind(addr)
            .await
            .map_err(|source| RunError::Bind {
                transport: "udp",
                addr: *addr,
                source,
            })?;
        set_rcvbuf(&sock);
        let local = sock.local_addr()?;
        tracing::info!(transport = "udp", addr = %local, "listening");
        let sock = Arc::new(sock);
        udp.insert(local, sock.clone());
        tokio::spawn(udp_reader(sock, local, limits.max_size, tx.clone()));
    }
    let mut tcp_locals = Vec::new();
    for addr in &cfg.server.tcp {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Bind {
                transport: "tcp",
                addr: *addr,
                source,
            })?;
        let local = l.local_addr()?;
        tcp_locals.push(local);
        tracing::info!(transport = "tcp", addr = %local, "listening");
        tokio::spawn(tcp_acceptor(l, local, limits, tx.clone()));
    }
    trunks::spawn(
        &cfg.trunks,
        udp.keys().copied().collect(),
        tcp_locals.clone(),
        tx.clone(),
    );
    let dialer = Dialer {
        tx: tx.clone(),
        local: tcp_locals.first().copied(),
        limits,
        pending: HashMap::new(),
    };
    let ctl_task = ctl.serve(tx.clone()).map_err(|source| RunError::Control {
        path: ctl.path().to_owned(),
        source,
    })?;
    drop(tx);
    tracing::info!(
        extensions = cfg.extensions.len(),
        domain = %cfg.server.domain,
        "zvon ready"
    );

    engine_loop(&mut pbx, rx, &udp, &sender, &media_rt, dialer).await;
    // No new control connections from here on (clients see "not running").
    ctl_task.abort();
    media_rt.shutdown();

    let st = pbx.stats();
    tracing::info!(
        received = st.received,
        registrations = st.registrations,
        parse_errors = st.parse_errors,
        auth_failures = st.auth_failures,
        "stopping: flushing the store"
    );
    drop(sender);
    store.close()?;
    drop(ctl);
    tracing::info!("stopped");
    Ok(())
}

fn set_rcvbuf(sock: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Err(e) = setsockopt(sock, sockopt::RcvBuf, &UDP_RCVBUF) {
        tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
}

/// Starts the media workers: one per core, bound to `rtp.address` (or the SIP address).
fn start_media(
    cfg: &Config,
    files_dir: &Path,
    tx: mpsc::Sender<Event>,
) -> Result<media::MediaRuntime, RunError> {
    let sip_ip = cfg
        .server
        .udp
        .iter()
        .chain(&cfg.server.tcp)
        .map(|a| a.ip())
        .next();
    let bind_ip = cfg
        .rtp
        .address
        .or(sip_ip)
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let moh_path = cfg.server.sounds_dir.join("moh.wav");
    let (moh, moh_rate) = match wav::read(&moh_path) {
        Ok(p) => (Some(Arc::<[i16]>::from(p.samples)), p.rate),
        Err(e) => {
            tracing::warn!(error = %e, "no music on hold: held callers hear silence");
            (None, 8000)
        }
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let prompts = Arc::new(load_prompts(&cfg.server.sounds_dir));
    let mut session = crate::media::session::SessionConfig {
        prompts,
        rtp_timeout: cfg.calls.rtp_timeout,
        encoder: crate::media::codec::EncoderSettings {
            opus_complexity: i32::from(cfg.calls.opus_complexity),
            opus_bitrate: 0,
        },
        moh,
        moh_rate,
        moh_by_rate: Arc::default(),
        files_dir: files_dir.to_owned(),
    };
    session.prepare_moh();
    let rt = media::MediaRuntime::start(
        media::MediaRuntimeConfig {
            bind_ip,
            workers,
            session,
        },
        move |ev| {
            let _ = tx.blocking_send(Event::Input(Input::Media(ev)));
        },
    )?;
    tracing::info!(address = %bind_ip, workers, ports = %format!("{}-{}", cfg.rtp.port_min, cfg.rtp.port_max), "media ready");
    Ok(rt)
}

/// Loads every `sounds_dir/<lang>/<name>.wav` into memory (16 kHz mono as shipped); the media
/// path never reads a file.
fn load_prompts(dir: &Path) -> crate::media::play::PromptLibrary {
    let mut lib = crate::media::play::PromptLibrary {
        rate: 16_000,
        prompts: HashMap::new(),
    };
    let Ok(langs) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "no sounds directory: prompts will be silent");
        return lib;
    };
    let mut rates = std::collections::BTreeSet::new();
    for lang in langs.flatten().filter(|e| e.path().is_dir()) {
        let lname = lang.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(lang.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            if path.extension().is_none_or(|e| e != "wav") {
                continue;
            }
            match wav::read(&path) {
                Ok(p) => {
                    rates.insert(p.rate);
                    let name = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    lib.prompts
                        .insert(format!("{lname}/{name}"), Arc::from(p.samples));
                }
                Err(e) => tracing::warn!(error = %e, "prompt not loaded"),
            }
        }
    }
    if let Some(r) = rates.iter().next() {
        lib.rate = *r;
        if rates.len() > 1 {
            tracing::warn!(
                ?rates,
                "prompts have different sample rates; all are played as {r} Hz"
            );
        }
    }
    tracing::info!(prompts = lib.prompts.len(), "prompts loaded");
    lib
}

async fn engine_loop(
    pbx: &mut Pbx,
    mut rx: mpsc::Receiver<Event>,
    udp: &HashMap<SocketAddr, Arc<UdpSocket>>,
    store: &StoreSender,
    media: &media::MediaRuntime,
    mut dialer: Dialer,
) {
    let mut conns: HashMap<SocketAddr, mpsc::Sender<Bytes>> = HashMap::new();
    let mut waiting = Waiting::default();
    let mut term = signal(tokio::signal::unix::SignalKind::terminate());
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt());
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup());
    loop {
        let deadline = drain(pbx, udp, &conns, &mut dialer, store, media, &mut waiting).await;
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Input(i)) => pbx.handle_input(clock::now(), i),
                Some(Event::ConnOpened(a, s)) => { dialer.opened(a, &s); conns.insert(a, s); }
                Some(Event::ConnFailed(a)) => dialer.failed(a),
                Some(Event::ConnClosed(a)) => { conns.remove(&a); }
                Some(Event::Control(request, reply)) => {
                    let id = waiting.add(reply);
                    pbx.handle_input(clock::now(), Input::Control { id, request });
                }
                None => break,
            },
            () = sleep => pbx.handle_input(clock::now(), Input::Timeout),
            _ = recv(&mut term) => { tracing::info!("SIGTERM received"); break; }
            _ = recv(&mut int) => { tracing::info!("SIGINT received"); break; }
            _ = recv(&mut hup) => {
                tracing::warn!("SIGHUP: live reload is not implemented yet; restart zvon to apply config changes");
            }
        }
    }
    // Shutdown: hang up every call, wait (bounded) for the media workers' final statistics
    // and the peers' answers, then write what is left. No CDR is lost.
    pbx.hangup_all(clock::now());
    let _ = drain(pbx, udp, &conns, &mut dialer, store, media, &mut waiting).await;
    let grace = clock::tokio_now() + std::time::Duration::from_secs(2);
    while !pbx.calls_idle() {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Input(i)) => pbx.handle_input(clock::now(), i),
                // Control requests are dropped: the connection answers "shutting down".
                Some(_) => {}
                None => break,
            },
            () = tokio::time::sleep_until(grace) => break,
        }
        let _ = drain(pbx, udp, &conns, &mut dialer, store, media, &mut waiting).await;
    }
    pbx.flush_cdrs(clock::now());
    let _ = drain(pbx, udp, &conns, &mut dialer, store, media, &mut waiting).await;
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Carries out every pending output; returns the engine's next deadline.
async fn drain(
    pbx: &mut Pbx,
    udp: &HashMap<SocketAddr, Arc<UdpSocket>>,
    conns: &HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    dialer: &mut Dialer,
    store: &StoreSender,
    media: &media::MediaRuntime,
    waiting: &mut Waiting,
) -> std::time::Instant {
    loop {
        match pbx.poll_output() {
            Output::Timeout(at) => return at,
            Output::Transmit(t) => match t.transport {
                Transport::Udp => {
                    let sock = udp.get(&t.local).or_else(|| udp.values().next());
                    if let Some(sock) = sock {
                        if let Err(e) = sock.send_to(&t.data, t.remote).await {
                            tracing::debug!(dst = %t.remote, error = %e, "UDP send failed");
                        }
                    }
                }
                Transport::Tcp | Transport::Tls => match conns.get(&t.remote) {
                    Some(c) => {
                        if c.try_send(t.data).is_err() {
                            tracing::debug!(dst = %t.remote, "TCP connection busy or closed; message dropped");
                        }
                    }
                    // Phones connect to us; trunks over TCP are connected to on demand.
                    None => dialer.send(t.remote, t.data),
                },
            },
            Output::Media(cmd) => media.send(cmd),
            Output::ControlReply { id, response } => waiting.answer(id, response),
            Output::Store(cmd) => match store.try_send(cmd) {
                Ok(()) => {}
                Err(store::TrySendError::Full(cmd)) => {
                    // Backpressure: never drop a record.
                    let s = store.clone();
                    let _ = tokio::task::spawn_blocking(move || s.send(cmd)).await;
                }
                Err(store::TrySendError::Closed(_)) => {
                    tracing::error!("store thread is gone; record lost");
                }
            },
        }
    }
}

async fn udp_reader(sock: Arc<UdpSocket>, local: SocketAddr, max: usize, tx: mpsc::Sender<Event>) {
    let mut buf = vec![0u8; max.max(1500) + 1];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, remote)) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                let d = Datagram {
                    transport: Transport::Udp,
                    local,
                    remote,
                    data,
                };
                if tx.send(Event::Input(Input::Datagram(d))).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable from an earlier send shows up here on Linux; keep reading.
            Err(e) => tracing::debug!(error = %e, "UDP receive error"),
        }
    }
}

/// Outgoing TCP connections (trunks over TCP): opened on the first message to a peer, which
/// waits (with the ones after it) until the connection is up; then the connection is like an
/// accepted one. Bounded: 5 s to connect, 64 messages waiting per peer.
struct Dialer {
    tx: mpsc::Sender<Event>,
    /// Our TCP listen address: what the engine knows the connection by.
    local: Option<SocketAddr>,
    limits: Limits,
    pending: HashMap<SocketAddr, Vec<Bytes>>,
}

impl Dialer {
    fn send(&mut self, remote: SocketAddr, data: Bytes) {
        if let Some(q) = self.pending.get_mut(&remote) {
            if q.len() < 64 {
                q.push(data);
            }
            return;
        }
        let Some(local) = self.local else {
            tracing::debug!(dst = %remote, "no TCP listener: message dropped");
            return;
        };
        self.pending.insert(remote, vec![data]);
        let (tx, limits) = (self.tx.clone(), self.limits);
        tokio::spawn(async move {
            let c = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                TcpStream::connect(remote),
            )
            .await;
            match c {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    tcp_conn(s, local, remote, limits, tx).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(dst = %remote, error = %e, "TCP connection failed");
                    let _ = tx.send(Event::ConnFailed(remote)).await;
                }
                Err(_) => {
                    tracing::warn!(dst = %remote, "TCP connection timed out");
                    let _ = tx.send(Event::ConnFailed(remote)).await;
                }
            }
        });
    }

    fn opened(&mut self, remote: SocketAddr, conn: &mpsc::Sender<Bytes>) {
        for b in self.pending.remove(&remote).unwrap_or_default() {
            let _ = conn.try_send(b);
        }
    }

    fn failed(&mut self, remote: SocketAddr) {
        self.pending.remove(&remote);
    }
}

async fn tcp_acceptor(l: TcpListener, local: SocketAddr, limits: Limits, tx: mpsc::Sender<Event>) {
    loop {
        match l.accept().await {
            Ok((s, remote)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(tcp_conn(s, local, remote, limits, tx.clone()));
            }
            Err(e) => tracing::warn!(error = %e, "TCP accept failed"),
        }
    }
}

/// One TCP connection: RFC 3261 §18.3 framing by Content-Length, RFC 5626 §4.4.1 keep-alives.
async fn tcp_conn(
    s: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    limits: Limits,
    tx: mpsc::Sender<Event>,
) {
    let (mut rd, mut wr) = s.into_split();
    let (wtx, mut wrx) = mpsc::channel::<Bytes>(256);
    if tx
        .send(Event::ConnOpened(remote, wtx.clone()))
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(8192);
    'conn: loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        loop {
            match msg::frame(&buf, &limits) {
                Frame::Incomplete => break,
                Frame::KeepAlive(n) => {
                    // A double-CRLF ping gets a single-CRLF pong (RFC 5626 §4.4.1).
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        let _ = wtx.try_send(Bytes::from_static(b"\r\n"));
                    }
                    let _ = buf.split_to(n);
                }
                Frame::Message(n) => {
                    let data = buf.split_to(n).freeze();
                    let d = Datagram {
                        transport: Transport::Tcp,
                        local,
                        remote,
                        data,
                    };
                    if tx.send(Event::Input(Input::Datagram(d))).await.is_err() {
                        break 'conn;
                    }
                }
                Frame::Invalid(e) => {
                    tracing::debug!(peer = %remote, error = %e, "closing TCP connection: bad framing");
                    break 'conn;
                }
            }
        }
    }
    let _ = tx.send(Event::ConnClosed(remote)).await;
    drop(wtx);
    let _ = writer.await;
}
