//! The control socket: a unix stream socket where `zvon status` and `zvon agent …` send one
//! request line and read one answer ([`crate::api`] has the protocol).
//!
//! A connection task reads the line (bounded in length and time), decodes it, hands the
//! [`Request`] with a oneshot sender to the engine task, and writes whatever comes back. The
//! engine task owns the map from request id to waiting connection (see `engine_loop`); the
//! engine itself only sees `Input::Control` and answers with `Output::ControlReply`.
//!
//! The socket file is created with mode 0600 (only our user and root may connect), a stale
//! file left by a crashed daemon is replaced, a live daemon on it stops us from starting,
//! and the file is removed when [`ControlSocket`] is dropped (clean shutdown or a failed
//! start).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net as std_unix;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use super::{Event, RunError};
use crate::api::{self, Response};

/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection waits for the engine's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing the answer may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The answer when the engine is gone or going.
const SHUTTING_DOWN: &str = "zvon is shutting down";

/// The bound socket file; removes it when dropped (if it is still ours).
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    /// (device, inode) of the socket file we created.
    file: (u64, u64),
    listener: Option<std_unix::UnixListener>,
}

impl ControlSocket {
    /// Binds the socket at `path` with mode 0600.
    ///
    /// Call this while the process has a single thread: the umask is process-wide and is
    /// narrowed around `bind(2)` so that the socket never exists with a wider mode.
    pub fn bind(path: &Path) -> Result<Self, RunError> {
        let err = |source: io::Error| RunError::Control {
            path: path.to_owned(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => match std_unix::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(RunError::ControlInUse {
                        path: path.to_owned(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "removing a stale control socket");
                    std::fs::remove_file(path).map_err(err)?;
                }
                Err(e) => return Err(err(e)),
            },
            Ok(_) => {
                return Err(err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let listener = {
            use nix::sys::stat::{Mode, umask};
            let old = umask(Mode::from_bits_truncate(0o177));
            let l = std_unix::UnixListener::bind(path);
            umask(old);
            l.map_err(err)?
        };
        // The umask made it 0600 already; say so explicitly whatever the umask semantics.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        listener.set_nonblocking(true).map_err(err)?;
        let m = std::fs::symlink_metadata(path).map_err(err)?;
        Ok(ControlSocket {
            path: path.to_owned(),
            file: (m.dev(), m.ino()),
            listener: Some(listener),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts accepting connections (inside the runtime); the task ends when aborted.
    pub(super) fn serve(
        &mut self,
        tx: mpsc::Sender<Event>,
    ) -> io::Result<tokio::task::JoinHandle<()>> {
        let l = self
            .listener
            .take()
            .ok_or_else(|| io::Error::other("control socket already serving"))?;
        let l = UnixListener::from_std(l)?;
        // Not "listening": the e2e harness reads SIP addresses from lines saying that.
        tracing::info!(path = %self.path.display(), "control socket ready");
        Ok(tokio::spawn(accept_loop(l, tx)))
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // Only remove the file we created: another daemon may have replaced a file it
        // thought stale.
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.file);
        if ours {
            match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::debug!(path = %self.path.display(), "control socket removed"),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove the control socket")
                }
            }
        }
    }
}

async fn accept_loop(l: UnixListener, tx: mpsc::Sender<Event>) {
    loop {
        match l.accept().await {
            Ok((s, _)) => {
                tokio::spawn(connection(s, tx.clone()));
            }
            Err(e) => {
                // EMFILE and friends: do not spin.
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut s: UnixStream, tx: mpsc::Sender<Event>) {
    let rsp = answer(&mut s, &tx).await;
    let bytes = api::encode_response(&rsp);
    let write = async {
        s.write_all(&bytes).await?;
        s.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    {
        tracing::debug!(error = %e, "control client went away before the answer");
    }
}

async fn answer(s: &mut UnixStream, tx: &mpsc::Sender<Event>) -> Response {
    let line = match tokio::time::timeout(READ_TIMEOUT, read_line(s)).await {
        Err(_) => {
            return Response::error(format!(
                "no request line within {} s",
                READ_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(e)) => return Response::error(format!("reading the request: {e}")),
        Ok(Ok(Err(e))) => return Response::error(e.to_string()),
        Ok(Ok(Ok(line))) => line,
    };
    let req = match api::decode_request(&line) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "bad control request");
            return Response::error(e.to_string());
        }
    };
    tracing::debug!(command = req.command(), "control request");
    let (otx, orx) = oneshot::channel();
    let ask = async {
        if tx.send(Event::Control(req, otx)).await.is_err() {
            return Response::error(SHUTTING_DOWN);
        }
        orx.await.unwrap_or_else(|_| Response::error(SHUTTING_DOWN))
    };
    tokio::time::timeout(REPLY_TIMEOUT, ask)
        .await
        .unwrap_or_else(|_| {
            Response::error(format!(
                "the engine did not answer within {} s",
                REPLY_TIMEOUT.as_secs()
            ))
        })
}

/// Reads up to the first `\n` (or EOF). Bytes after the newline are ignored.
async fn read_line(s: &mut UnixStream) -> io::Result<Result<Vec<u8>, api::ProtocolError>> {
    // The line, its "\r\n", and one byte to tell "too long" from "exactly the limit".
    let cap = api::MAX_REQUEST_LINE + 2;
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Ok(buf));
        }
        let got = &chunk[..n];
        let nl = got.iter().position(|&b| b == b'\n');
        buf.extend_from_slice(&got[..nl.map_or(n, |i| i + 1)]);
        if buf.len() > cap {
            return Ok(Err(api::ProtocolError::TooLong));
        }
        if nl.is_some() {
            return Ok(Ok(buf));
        }
    }
}

/// How long the client waits for the daemon's answer (longer than the daemon's own
/// [`REPLY_TIMEOUT`], so the daemon's explanation arrives first).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The most answer text the client reads.
const MAX_ANSWER: u64 = 16 << 20;

/// Why the client could not get an answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No socket file: no daemon is running with this state directory / socket.
    #[error("zvon is not running (no control socket at {})", .0.display())]
    NoSocket(PathBuf),
    /// The file is there but nobody listens (the daemon crashed or is just stopping).
    #[error(
        "zvon is not running (nothing answers on the control socket at {}; a stale file from a daemon that did not exit cleanly)",
        .0.display()
    )]
    Refused(PathBuf),
    /// The socket is not ours to use.
    #[error(
        "permission denied on the control socket {}: run this as the user zvon runs as, or as root",
        .0.display()
    )]
    PermissionDenied(PathBuf),
    /// The daemon took too long.
    #[error("no answer from zvon on {} within {} s", .0.display(), CLIENT_TIMEOUT.as_secs())]
    Timeout(PathBuf),
    /// The connection closed without an answer (the daemon is stopping).
    #[error(
        "zvon closed the control connection on {} without answering (it may be stopping)",
        .0.display()
    )]
    Closed(PathBuf),
    /// Another IO error.
    #[error("control socket {}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The request cannot be sent or the answer did not decode.
    #[error(transparent)]
    Protocol(#[from] api::ProtocolError),
}

/// Sends one request to the daemon listening on `path` and returns its answer (blocking;
/// for the CLI).
pub fn request(path: &Path, req: &api::Request) -> Result<Response, ClientError> {
    use std::io::{Read, Write};
    let line = api::encode_request(req)?;
    let io_err = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => ClientError::NoSocket(path.to_owned()),
        io::ErrorKind::ConnectionRefused => ClientError::Refused(path.to_owned()),
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.to_owned()),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ClientError::Timeout(path.to_owned())
        }
        _ => ClientError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let mut s = std_unix::UnixStream::connect(path).map_err(io_err)?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(io_err)?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT)).map_err(io_err)?;
    s.write_all(line.as_bytes()).map_err(io_err)?;
    let mut answer = Vec::new();
    (&mut s)
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io_err)?;
    if answer.is_empty() {
        return Err(ClientError::Closed(path.to_owned()));
    }
    Ok(api::decode_response(&answer)?)
}
