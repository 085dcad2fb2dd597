//! The bounded connection pool: at most `pool_size` connections to a directory, in use or idle.
//!
//! Every login holds a semaphore permit while it talks to the directory, so at most
//! `pool_size` logins run at once and the others wait (up to the operation timeout). Each
//! permit holder also holds one connection *slot*: either an idle connection handed over, or
//! room for a new one, made by closing the oldest idle connection when all slots are taken.
//! Slots are counted under a lock, so open connections never exceed the bound. A connection is
//! kept idle for the next login only when the caller says it is safe to (see
//! `LdapDirectory`), and only for `max_idle`.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::conn::Stream;

pub(super) struct Pool {
    size: usize,
    permits: Semaphore,
    state: Mutex<State>,
    max_idle: Duration,
}

struct State {
    /// Kept connections, oldest first.
    idle: Vec<Idle>,
    /// Slots taken: leases holding one, plus idle connections.
    slots: usize,
}

struct Idle {
    stream: Stream,
    since: Instant,
}

/// The right to use one connection: a permit and a slot; the connection itself when an idle
/// one was handed over. Dropping it frees both.
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
    /// An idle connection handed over (otherwise the holder opens one).
    pub(super) idle: Option<Stream>,
    slot: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.slot {
            self.pool.state().slots -= 1;
        }
    }
}

/// No permit became free in time.
pub(super) struct Busy;

impl Pool {
    pub(super) fn new(size: usize, max_idle: Duration) -> Self {
        Self {
            size,
            permits: Semaphore::new(size),
            state: Mutex::new(State {
                idle: Vec::new(),
                slots: 0,
            }),
            max_idle,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most `wait`) for a permit. With `want_idle`, hands over the most recently used
    /// idle connection that is still fresh and quiet, closing stale ones on the way; otherwise
    /// reserves room for a new connection.
    pub(super) async fn lease(&self, wait: Duration, want_idle: bool) -> Result<Lease<'_>, Busy> {
        let permit = tokio::time::timeout(wait, self.permits.acquire())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let mut lease = Lease {
            pool: self,
            _permit: permit,
            idle: None,
            slot: false,
        };
        if want_idle {
            // The popped connection's slot passes to this lease.
            loop {
                let popped = self.state().idle.pop();
                let Some(mut candidate) = popped else {
                    break;
                };
                if candidate.since.elapsed() < self.max_idle && candidate.stream.is_quiet().await {
                    lease.idle = Some(candidate.stream);
                    lease.slot = true;
                    return Ok(lease);
                }
                // Older than max_idle, closed by the server, or with unread bytes: close it.
                drop(candidate);
                self.state().slots -= 1;
            }
        }
        let mut state = self.state();
        // Other permit holders take at most size - 1 slots, so when all are taken some are
        // idle: close the oldest to make room.
        while state.slots >= self.size && !state.idle.is_empty() {
            state.idle.remove(0);
            state.slots -= 1;
        }
        state.slots += 1;
        lease.slot = true;
        Ok(lease)
    }

    /// Ends a lease; keeps `stream` idle for the next login when given.
    pub(super) fn give_back(&self, mut lease: Lease<'_>, stream: Option<Stream>) {
        if let Some(stream) = stream
            && lease.slot
            && !self.max_idle.is_zero()
        {
            // The lease's slot passes to the idle connection.
            self.state().idle.push(Idle {
                stream,
                since: Instant::now(),
            });
            lease.slot = false;
        }
    }

    /// Idle connections now (for tests and metrics).
    pub(super) fn idle_count(&self) -> usize {
        self.state().idle.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A connected client stream and its server side (to keep open).
    async fn pair() -> (Stream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (Stream::Plain(client.unwrap()), accepted.unwrap().0)
    }

    fn slots(pool: &Pool) -> usize {
        pool.state().slots
    }

    #[tokio::test]
    async fn slots_never_exceed_the_size() {
        let pool = Pool::new(2, Duration::from_mins(1));
        let wait = Duration::from_millis(50);
        let a = pool.lease(wait, true).await.ok().unwrap();
        let b = pool.lease(wait, true).await.ok().unwrap();
        assert_eq!(slots(&pool), 2);
        assert!(
            pool.lease(wait, true).await.is_err(),
            "a third waits, then gives up"
        );
        let (stream_a, _server_a) = pair().await;
        let (stream_b, _server_b) = pair().await;
        pool.give_back(a, Some(stream_a));
        pool.give_back(b, Some(stream_b));
        assert_eq!((slots(&pool), pool.idle_count()), (2, 2));

        // A lease that wants a new connection closes the oldest idle one.
        let fresh = pool.lease(wait, false).await.ok().unwrap();
        assert!(fresh.idle.is_none());
        assert_eq!((slots(&pool), pool.idle_count()), (2, 1));
        // One that takes an idle one keeps the count.
        let reused = pool.lease(wait, true).await.ok().unwrap();
        assert!(reused.idle.is_some());
        assert_eq!((slots(&pool), pool.idle_count()), (2, 0));
        drop(fresh);
        pool.give_back(reused, None);
        assert_eq!((slots(&pool), pool.idle_count()), (0, 0));
    }

    #[tokio::test]
    async fn closed_idle_connections_are_not_handed_over() {
        let pool = Pool::new(1, Duration::from_mins(1));
        let wait = Duration::from_millis(50);
        let (stream, server) = pair().await;
        let lease = pool.lease(wait, true).await.ok().unwrap();
        pool.give_back(lease, Some(stream));
        drop(server); // the server goes away
        tokio::time::sleep(Duration::from_millis(20)).await;
        let lease = pool.lease(wait, true).await.ok().unwrap();
        assert!(lease.idle.is_none());
        assert_eq!((slots(&pool), pool.idle_count()), (1, 0));
    }
}
