//! Media workers: the IO side of [`crate::media::session`].
//!
//! Contract: [`MediaRuntime::start`] spawns `workers` plain OS threads (media stays off the
//! tokio runtime so a burst of signalling never delays a packet). Each worker owns its sessions
//! and their sockets (one RTP socket on `port` and one RTCP socket on `port + 1` per leg,
//! RFC 3550 §11) and runs one `epoll` loop: readable sockets are drained until `WouldBlock`
//! into one buffer per worker, commands arrive through an `mpsc` channel plus an `eventfd`
//! wake-up, and the epoll timeout is the next 20 ms tick while any session needs ticks (else a
//! 1 s housekeeping tick for RTP timeouts). [`MediaRuntime::send`] routes each command to the
//! worker owning its session (by a hash of the id). Events go back through the `events`
//! callback. A port that cannot be bound yields [`MediaEvent::OpenFailed`]; closing (or
//! [`MediaRuntime::shutdown`]) drops the sockets and yields [`MediaEvent::Closed`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{setsockopt, sockopt};

use crate::media::session::{MediaSession, SessionConfig};
use crate::media::{LegMedia, MediaCommand, MediaEvent, SessionId, Side};

/// Frame tick for sessions that generate their own stream.
const TICK: Duration = Duration::from_millis(20);
/// Tick for everything else (RTP timeouts).
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// SO_RCVBUF / SO_SNDBUF of media sockets.
const SOCK_BUF: usize = 256 << 10;
/// Receive buffer: larger than any RTP packet we accept (RTP over UDP stays under the MTU).
const RECV_BUF: usize = 4096;
/// Datagrams read from one socket before the loop looks at the others (level-triggered epoll
/// comes back for the rest).
const DRAIN_MAX: usize = 256;
const MAX_EVENTS: usize = 256;
const WAKE_TOKEN: u64 = u64::MAX;

/// The media workers' clock.
#[allow(clippy::disallowed_methods)] // media workers run outside tokio: their one clock read (ARCHITECTURE.md rule 1)
fn now() -> Instant {
    Instant::now()
}

/// How to start the media workers.
#[derive(Clone, Debug)]
pub struct MediaRuntimeConfig {
    /// Local address of every media socket.
    pub bind_ip: IpAddr,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Settings of each session.
    pub session: SessionConfig,
}

impl Default for MediaRuntimeConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            workers: cores(),
            session: SessionConfig::default(),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

enum Cmd {
    Media(MediaCommand),
    Shutdown,
}

struct Handle {
    tx: mpsc::Sender<Cmd>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

/// The running media workers.
pub struct MediaRuntime {
    workers: Vec<Handle>,
}

fn session_of(cmd: &MediaCommand) -> SessionId {
    match cmd {
        MediaCommand::Open { session, .. }
        | MediaCommand::Update { session, .. }
        | MediaCommand::SendDtmf { session, .. }
        | MediaCommand::StartMoh { session, .. }
        | MediaCommand::StopMoh { session, .. }
        | MediaCommand::Play { session, .. }
        | MediaCommand::StopPlay { session, .. }
        | MediaCommand::Record { session, .. }
        | MediaCommand::StopRecord { session, .. }
        | MediaCommand::Close { session } => *session,
    }
}

impl MediaRuntime {
    /// Spawns the workers; `events` is called on the worker threads.
    pub fn start(
        cfg: MediaRuntimeConfig,
        events: impl Fn(MediaEvent) + Send + Clone + 'static,
    ) -> io::Result<MediaRuntime> {
        let n = if cfg.workers == 0 {
            cores()
        } else {
            cfg.workers
        };
        let mut rt = MediaRuntime {
            workers: Vec::with_capacity(n),
        };
        for i in 0..n {
            let (tx, rx) = mpsc::channel();
            let wake = Arc::new(EventFd::from_flags(
                EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC,
            )?);
            let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            epoll.add(&*wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
            let worker = Worker {
                epoll,
                wake: wake.clone(),
                rx,
                events: events.clone(),
                cfg: cfg.session.clone(),
                bind_ip: cfg.bind_ip,
                slots: Vec::new(),
                free: Vec::new(),
                index: HashMap::new(),
                buf: vec![0; RECV_BUF],
                ticking: false,
            };
            let thread = std::thread::Builder::new()
                .name(format!("zvon-media-{i}"))
                .spawn(move || worker.run())?;
            rt.workers.push(Handle {
                tx,
                wake,
                thread: Some(thread),
            });
        }
        Ok(rt)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Hands a command to the worker that owns its session.
    pub fn send(&self, cmd: MediaCommand) {
        let id = session_of(&cmd);
        let i =
            (id.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % self.workers.len().max(1);
        if let Some(w) = self.workers.get(i)
            && w.tx.send(Cmd::Media(cmd)).is_ok()
        {
            let _ = w.wake.write(1);
        }
    }

    /// Closes every session (each emits [`MediaEvent::Closed`]) and joins the workers.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for w in &self.workers {
            if w.tx.send(Cmd::Shutdown).is_ok() {
                let _ = w.wake.write(1);
            }
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take()
                && t.join().is_err()
            {
                tracing::error!("a media worker panicked");
            }
        }
    }
}

impl Drop for MediaRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

struct LegSocks {
    port: u16,
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

struct Entry {
    session: MediaSession,
    socks: [Option<LegSocks>; 2],
}

struct Worker<F> {
    epoll: Epoll,
    wake: Arc<EventFd>,
    rx: mpsc::Receiver<Cmd>,
    events: F,
    cfg: SessionConfig,
    bind_ip: IpAddr,
    /// Sessions by slot; the epoll token of a socket is `slot << 2 | side << 1 | is_rtcp`.
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    index: HashMap<SessionId, usize>,
    buf: Vec<u8>,
    /// Some session needs the 20 ms tick.
    ticking: bool,
}

fn token(slot: usize, side: Side, rtcp: bool) -> u64 {
    ((slot as u64) << 2) | ((side.index() as u64) << 1) | u64::from(rtcp)
}

fn send_on(socks: &[Option<LegSocks>; 2], side: Side, rtcp: bool, dst: SocketAddr, b: &[u8]) {
    if let Some(ls) = &socks[side.index()] {
        let s = if rtcp { &ls.rtcp } else { &ls.rtp };
        // A full send buffer or an ICMP error drops this packet only (UDP is lossy anyway).
        let _ = s.send_to(b, dst);
    }
}

fn timeout_ms(d: Duration) -> EpollTimeout {
    let ms = d.as_micros().div_ceil(1000).min(60_000) as u32;
    EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::ZERO)
}

impl<F: Fn(MediaEvent)> Worker<F> {
    fn run(mut self) {
        let mut evs = vec![EpollEvent::empty(); MAX_EVENTS];
        let start = now();
        let mut next_tick = start + TICK;
        let mut next_housekeeping = start + HOUSEKEEPING;
        loop {
            let t = now();
            let until = if self.ticking {
                next_tick.min(next_housekeeping)
            } else {
                next_housekeeping
            };
            let n = match self
                .epoll
                .wait(&mut evs, timeout_ms(until.saturating_duration_since(t)))
            {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "epoll_wait failed; media worker stops");
                    self.close_all();
                    return;
                }
            };
            let t = now();
            let mut woken = false;
            for ev in &evs[..n] {
                if ev.data() == WAKE_TOKEN {
                    woken = true;
                } else {
                    self.readable(t, ev.data());
                }
            }
            if woken {
                let _ = self.wake.read();
                if self.commands(t) {
                    self.close_all();
                    return;
                }
                self.ticking = self.any_needs_tick();
            }
            let house = t >= next_housekeeping;
            if (self.ticking && t >= next_tick) || house {
                self.tick(t, house);
                next_tick += TICK;
                if next_tick <= t {
                    next_tick = t + TICK;
                }
                if house {
                    next_housekeeping = t + HOUSEKEEPING;
                }
                self.ticking = self.any_needs_tick();
            }
        }
    }

    fn any_needs_tick(&self) -> bool {
        self.slots.iter().flatten().any(|e| e.session.needs_tick())
    }

    fn readable(&mut self, now: Instant, tok: u64) {
        let slot = (tok >> 2) as usize;
        let side = if tok & 2 == 0 { Side::A } else { Side::B };
        let rtcp = tok & 1 == 1;
        let Some(Some(entry)) = self.slots.get_mut(slot) else {
            return;
        };
        let Entry { session, socks } = entry;
        let Some(ls) = &socks[side.index()] else {
            return;
        };
        let sock = if rtcp { &ls.rtcp } else { &ls.rtp };
        for _ in 0..DRAIN_MAX {
            match sock.recv_from(&mut self.buf) {
                Ok((n, src)) => {
                    let pkt = &mut self.buf[..n];
                    if rtcp {
                        session.handle_rtcp(now, side, src, pkt, &mut |s, dst, b| {
                            send_on(socks, s, true, dst, b)
                        });
                    } else {
                        session.handle_rtp(now, side, src, pkt, &mut |s, dst, b| {
                            send_on(socks, s, false, dst, b)
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ICMP port unreachable for an earlier send surfaces here on Linux.
                Err(_) => {}
            }
        }
        while let Some(e) = session.poll_event() {
            (self.events)(e);
        }
        if !self.ticking && session.needs_tick() {
            self.ticking = true;
        }
    }

    fn tick(&mut self, now: Instant, all: bool) {
        for entry in self.slots.iter_mut().flatten() {
            if !all && !entry.session.needs_tick() {
                continue;
            }
            let Entry { session, socks } = entry;
            session.handle_tick(now, &mut |s, dst, b| send_on(socks, s, false, dst, b));
            while let Some(e) = session.poll_event() {
                (self.events)(e);
            }
        }
    }

    /// Runs queued commands; true when the worker must stop.
    fn commands(&mut self, now: Instant) -> bool {
        loop {
            let cmd = match self.rx.try_recv() {
                Ok(Cmd::Media(c)) => c,
                Ok(Cmd::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => return true,
                Err(mpsc::TryRecvError::Empty) => return false,
            };
            match cmd {
                MediaCommand::Open { session, a, b } => self.open(now, session, a, b),
                MediaCommand::Update { session, side, leg } => {
                    self.update(now, session, side, leg);
                }
                MediaCommand::SendDtmf {
                    session,
                    side,
                    digit,
                    duration,
                } => {
                    if let Some(e) = self.entry(session) {
                        e.session.send_dtmf(now, side, digit, duration);
                    }
                }
                MediaCommand::StartMoh { session, side } => {
                    if let Some(e) = self.entry(session) {
                        e.session.start_moh(side);
                    }
                }
                MediaCommand::StopMoh { session, side } => {
                    if let Some(e) = self.entry(session) {
                        e.session.stop_moh(side);
                    }
                }
                MediaCommand::Play {
                    session,
                    side,
                    id,
                    language,
                    prompts,
                } => {
                    let files = self.cfg.files_dir.clone();
                    if let Some(e) = self.entry(session) {
                        if prompts.iter().any(|p| p.starts_with("file:")) {
                            // A recorded message: read once here, at play start (not per packet).
                            let lib = e.session.prompts().clone();
                            let pcm = resolve_files(&lib, &files, &language, &prompts);
                            e.session.play_pcm(now, side, id, pcm);
                        } else {
                            e.session.play(now, side, id, &language, &prompts);
                        }
                    }
                }
                MediaCommand::StopPlay { session, side } => {
                    if let Some(e) = self.entry(session) {
                        e.session.stop_play(side);
                    }
                }
                MediaCommand::Record {
                    session,
                    side,
                    max,
                    silence,
                } => {
                    if let Some(e) = self.entry(session) {
                        e.session.record(side, max, silence);
                    }
                }
                MediaCommand::StopRecord { session, side } => {
                    if let Some(e) = self.entry(session) {
                        e.session.stop_record(side);
                    }
                }
                MediaCommand::Close { session } => self.close(session),
            }
        }
    }

    fn entry(&mut self, id: SessionId) -> Option<&mut Entry> {
        let slot = *self.index.get(&id)?;
        self.slots.get_mut(slot)?.as_mut()
    }

    fn bind_leg(&self, slot: usize, side: Side, port: u16) -> io::Result<LegSocks> {
        let rtcp_port = port.checked_add(1).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no RTCP port above 65535")
        })?;
        let rtp = UdpSocket::bind(SocketAddr::new(self.bind_ip, port))?;
        let rtcp = UdpSocket::bind(SocketAddr::new(self.bind_ip, rtcp_port))?;
        for (s, is_rtcp) in [(&rtp, false), (&rtcp, true)] {
            s.set_nonblocking(true)?;
            if let Err(e) = setsockopt(s, sockopt::RcvBuf, &SOCK_BUF)
                .and_then(|()| setsockopt(s, sockopt::SndBuf, &SOCK_BUF))
            {
                tracing::debug!(error = %e, "could not size media socket buffers");
            }
            self.epoll.add(
                s,
                EpollEvent::new(EpollFlags::EPOLLIN, token(slot, side, is_rtcp)),
            )?;
        }
        Ok(LegSocks { port, rtp, rtcp })
    }

    fn open_failed(&self, session: SessionId, port: u16, e: &io::Error) {
        (self.events)(MediaEvent::OpenFailed {
            session,
            reason: format!(
                "cannot bind media ports {}:{port}/{}: {e}",
                self.bind_ip,
                port.wrapping_add(1)
            ),
        });
    }

    fn open(&mut self, now: Instant, id: SessionId, a: LegMedia, b: Option<LegMedia>) {
        if self.index.contains_key(&id) {
            self.update(now, id, Side::A, a);
            if let Some(b) = b {
                self.update(now, id, Side::B, b);
            }
            return;
        }
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let sa = match self.bind_leg(slot, Side::A, a.port) {
            Ok(s) => s,
            Err(e) => {
                self.open_failed(id, a.port, &e);
                self.free.push(slot);
                return;
            }
        };
        let sb = match &b {
            Some(b) => match self.bind_leg(slot, Side::B, b.port) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.open_failed(id, b.port, &e);
                    self.free.push(slot);
                    return;
                }
            },
            None => None,
        };
        let entry = Entry {
            session: MediaSession::new(now, id, a, b, self.cfg.clone()),
            socks: [Some(sa), sb],
        };
        if slot == self.slots.len() {
            self.slots.push(Some(entry));
        } else {
            self.slots[slot] = Some(entry);
        }
        self.index.insert(id, slot);
    }

    fn update(&mut self, now: Instant, id: SessionId, side: Side, leg: LegMedia) {
        let Some(&slot) = self.index.get(&id) else {
            tracing::debug!(session = id.0, "media update for an unknown session");
            return;
        };
        let port = self.slots[slot]
            .as_ref()
            .and_then(|e| e.socks[side.index()].as_ref().map(|s| s.port));
        if port != Some(leg.port) {
            // Close the old sockets first: the new port may be the old one's neighbour.
            if let Some(Some(e)) = self.slots.get_mut(slot) {
                e.socks[side.index()] = None;
            }
            match self.bind_leg(slot, side, leg.port) {
                Ok(s) => {
                    if let Some(Some(e)) = self.slots.get_mut(slot) {
                        e.socks[side.index()] = Some(s);
                    }
                }
                Err(e) => {
                    self.open_failed(id, leg.port, &e);
                    return;
                }
            }
        }
        if let Some(Some(e)) = self.slots.get_mut(slot) {
            e.session.update(now, side, leg);
        }
    }

    fn close(&mut self, id: SessionId) {
        let Some(slot) = self.index.remove(&id) else {
            return;
        };
        if let Some(mut e) = self.slots.get_mut(slot).and_then(Option::take) {
            while let Some(ev) = e.session.poll_event() {
                (self.events)(ev);
            }
            let stats = e.session.stats();
            drop(e);
            (self.events)(MediaEvent::Closed { session: id, stats });
        }
        self.free.push(slot);
    }

    fn close_all(&mut self) {
        let ids: Vec<SessionId> = self.index.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }
}

#[cfg(test)]
mod tests;

/// Resolves prompt names, reading `file:REL` names (relative to `files_dir`) and resampling
/// them to the library's rate.
fn resolve_files(
    lib: &crate::media::play::PromptLibrary,
    files_dir: &std::path::Path,
    lang: &str,
    names: &[String],
) -> Vec<Arc<[i16]>> {
    let mut out = Vec::new();
    for n in names {
        if let Some(rel) = n.strip_prefix("file:") {
            match crate::runtime::wav::read(&files_dir.join(rel)) {
                Ok(p) => {
                    let rate = lib.rate.max(8000);
                    let pcm = if p.rate == rate {
                        p.samples
                    } else {
                        let mut r = crate::media::resample::Resampler::new(p.rate, rate);
                        let mut v = Vec::new();
                        r.process(&p.samples, &mut v);
                        v
                    };
                    out.push(Arc::from(pcm));
                }
                Err(e) => tracing::warn!(error = %e, "recorded message not played"),
            }
        } else if let Some(p) = lib.get(lang, n) {
            out.push(p);
        }
    }
    out
}
