//! A session's outgoing queue: bounded in messages and in bytes, with a close slot that is never
//! full.
//!
//! The document actor and the session actor put frames into the [`Outbox`] without waiting
//! (`try_send`); the session's writer (`session::writer`) drains the [`OutboxReceiver`]
//! into the socket, every frame queued at a wake-up into one write. A client that stops reading
//! fills the queue, and the sender that finds it full closes the session as `too_slow`. Two
//! promises hold that a plain bounded channel cannot keep:
//!
//! - **Bytes are bounded, not only messages.** A queue of 1024 messages of 64 KiB each is 64 MiB
//!   per slow client; the byte budget caps it. One message larger than the whole budget (a big
//!   welcome snapshot) is still admitted into an empty queue, so no session is made unjoinable.
//! - **A close always gets through.** `Outgoing::Close` does not take a queue slot: it goes into
//!   a separate slot the writer looks at before the queue. A normal close is written after the
//!   frames queued before it (and none queued after it); a `too_slow` close skips the queue, since
//!   the client is not reading it. The writer then has `SessionConfig::close_grace` (counted from
//!   the request) to deliver the close frame before it drops the socket.
//!
//! The receiver is polled (`poll_recv`), not awaited by a task of its own: the session's writer
//! polls it when the connection can take more bytes. A fan-out queues into many outboxes with
//! [`Outbox::try_send_held`] and wakes their writers together at its end ([`HeldWakes`]),
//! through one doorbell per worker thread (`bell.rs`).
//!
//! The queue is a `VecDeque` under a mutex rather than a channel: a bounded tokio channel
//! allocates a block of 32 slots up front (1.3 KiB per session, idle or not), while an empty
//! deque holds nothing, and one that grew for a burst is let go once drained. The document
//! thread and the session's writer are the only ones to take the lock, each briefly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use tokio::sync::mpsc::error::TrySendError;

use crate::wire::common::{CloseCode, CloseReason};

mod bell;
use bell::Bell;

/// A frame queued for a session's socket.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Text(Arc<str>),
    /// A WebSocket ping (heartbeat) or pong (answer to the client's ping).
    Ping,
    Pong(bytes::Bytes),
    /// Close the socket with this reason. Never refused as `Full`: see the module docs.
    Close(CloseReason),
}

impl Outgoing {
    /// The bytes this frame holds in memory while it waits.
    fn weight(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Pong(bytes) => bytes.len(),
            Outgoing::Ping | Outgoing::Close(_) => 0,
        }
    }
}

/// The limits of one outbox.
#[derive(Debug, Clone, Copy)]
pub struct OutboxLimits {
    /// Most frames queued.
    pub messages: usize,
    /// Most bytes queued (a single larger frame is admitted into an empty queue).
    pub bytes: usize,
}

/// A requested close, and where in the queue it takes effect.
#[derive(Debug, Clone)]
struct PendingClose {
    reason: CloseReason,
    /// Frames queued before the close was asked for (counted from the start): the writer sends
    /// those first. `None`: skip the queue.
    after: Option<u64>,
    /// When it was asked for (the writer's grace period runs from here).
    at: Instant,
}

/// A queue that grew past this many frames for a burst is let go once drained; smaller ones
/// are kept for the next message.
const KEPT_CAPACITY: usize = 4;

#[derive(Default)]
struct Queue {
    frames: VecDeque<Outgoing>,
    bytes: usize,
    /// Frames accepted so far.
    sent: u64,
    close: Option<PendingClose>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Set once a close is in `queue.close` (read without the lock on every poll).
    closing: AtomicBool,
    /// Live [`Outbox`] handles: at zero the receiver ends.
    senders: AtomicUsize,
    /// The receiver is gone: nothing is accepted any more.
    receiver_gone: AtomicBool,
    /// Wakes the writer when a frame or a close arrives, or the last sender goes.
    waker: AtomicWaker,
    /// The bell of the writer's thread (set when it first waits; `None` outside an arbiter),
    /// through which [`HeldWakes`] wakes it.
    bell: OnceLock<Option<Arc<Bell>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half, cloned into the document actor's `Peer` and kept by the session actor.
pub struct Outbox {
    shared: Arc<Shared>,
    limits: OutboxLimits,
}

/// Writers to wake once a fan-out has filled every outbox it sends to.
///
/// Waking a writer is waking a task on another thread (the connection's worker): when that
/// thread sleeps, a system call wakes it, and it starts on the first session while the
/// fan-out is still filling the others' outboxes, goes back to sleep, and is woken again for
/// the next one, up to once per session. Held wake-ups are given once every message is
/// queued, one list per thread through that thread's bell (`bell.rs`): one wake-up of each
/// worker thread per fan-out.
#[derive(Default)]
pub struct HeldWakes {
    held: Vec<Arc<Shared>>,
    /// Per bell, the writers to wake through it (lists emptied, their room kept).
    by_bell: Vec<(Arc<Bell>, Vec<std::task::Waker>)>,
}

impl HeldWakes {
    /// Wakes every writer held, each once.
    pub fn wake_all(&mut self) {
        for shared in self.held.drain(..) {
            let Some(Some(bell)) = shared.bell.get() else {
                shared.waker.wake();
                continue;
            };
            let Some(waker) = shared.waker.take() else {
                continue;
            };
            match self.by_bell.iter_mut().find(|(b, _)| Arc::ptr_eq(b, bell)) {
                Some((_, wakers)) => wakers.push(waker),
                None => self.by_bell.push((bell.clone(), vec![waker])),
            }
        }
        for (bell, wakers) in &mut self.by_bell {
            if !wakers.is_empty() {
                bell.ring(wakers);
            }
        }
    }
}

/// The receiving half, drained by the session's writer.
pub struct OutboxReceiver {
    shared: Arc<Shared>,
    received: u64,
    close_taken: bool,
}

/// A new outbox and its receiver.
pub fn outbox(limits: OutboxLimits) -> (Outbox, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        closing: AtomicBool::new(false),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        waker: AtomicWaker::new(),
        bell: OnceLock::new(),
    });
    (
        Outbox {
            shared: shared.clone(),
            limits: OutboxLimits {
                messages: limits.messages.max(1),
                bytes: limits.bytes,
            },
        },
        OutboxReceiver {
            shared,
            received: 0,
            close_taken: false,
        },
    )
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Outbox {
            shared: self.shared.clone(),
            limits: self.limits,
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.waker.wake();
        }
    }
}

impl Outbox {
    /// Queues `msg` without waiting. `Full` when the message or byte budget is spent (the client
    /// is too slow), `Closed` when the writer is gone. A `Close` is never `Full`: the first
    /// close asked for wins, later ones are ignored.
    pub fn try_send(&self, msg: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        self.push(msg)?;
        self.shared.waker.wake();
        Ok(())
    }

    /// As [`try_send`](Self::try_send), but the writer is not woken yet: `held` wakes it,
    /// with every other outbox it holds, when [`HeldWakes::wake_all`] is called.
    pub fn try_send_held(
        &self,
        msg: Outgoing,
        held: &mut HeldWakes,
    ) -> Result<(), TrySendError<Outgoing>> {
        self.push(msg)?;
        if !held
            .held
            .last()
            .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
        {
            held.held.push(self.shared.clone());
        }
        Ok(())
    }

    /// Queues `msg` (a close is asked for at once, with its wake-up) without waking the writer.
    fn push(&self, msg: Outgoing) -> Result<(), TrySendError<Outgoing>> {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(msg));
        }
        if let Outgoing::Close(reason) = msg {
            self.close(reason);
            return Ok(());
        }
        let weight = msg.weight();
        {
            let mut queue = self.shared.lock();
            let over_bytes = queue.bytes > 0 && queue.bytes + weight > self.limits.bytes;
            if over_bytes || queue.frames.len() >= self.limits.messages {
                drop(queue);
                crate::metrics::get().outbox_drops.inc();
                return Err(TrySendError::Full(msg));
            }
            queue.frames.push_back(msg);
            queue.bytes += weight;
            queue.sent += 1;
        }
        Ok(())
    }

    /// Asks the writer to close the socket with `reason`: after the frames queued so far, or
    /// at once for `too_slow` (the client is not reading them). The first close wins.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut queue = self.shared.lock();
            if queue.close.is_some() {
                return;
            }
            crate::metrics::get().disconnected(reason.code);
            let after = (reason.code != CloseCode::TooSlow).then_some(queue.sent);
            queue.close = Some(PendingClose {
                reason,
                after,
                at: Instant::now(),
            });
            self.shared.closing.store(true, Ordering::Release);
        }
        self.shared.waker.wake();
    }

    /// Bytes queued now (for tests and metrics).
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().bytes
    }
}

impl OutboxReceiver {
    /// The next frame to write: a pending close comes before the frames queued after it was
    /// asked for. `None` once the close was handed out, or when every sender is gone and the
    /// queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        if self.close_taken {
            return Poll::Ready(None);
        }
        // Registered before the queue is read: whatever arrives after the read wakes us.
        self.register(cx);
        let mut queue = self.shared.lock();
        if let Some(PendingClose { reason, after, .. }) = &queue.close {
            let before_close = after.is_some_and(|n| self.received < n);
            if !before_close {
                let reason = reason.clone();
                self.close_taken = true;
                queue.frames = VecDeque::new();
                queue.bytes = 0;
                return Poll::Ready(Some(Outgoing::Close(reason)));
            }
        }
        if let Some(msg) = queue.frames.pop_front() {
            queue.bytes -= msg.weight();
            if queue.frames.is_empty() && queue.frames.capacity() > KEPT_CAPACITY {
                queue.frames = VecDeque::new();
            }
            self.received += 1;
            return Poll::Ready(Some(msg));
        }
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    /// Asks to be woken by the next frame or close (through this thread's bell, when held).
    fn register(&self, cx: &Context<'_>) {
        self.shared.bell.get_or_init(Bell::of_this_thread);
        self.shared.waker.register(cx.waker());
    }

    /// [`poll_recv`](Self::poll_recv) as a future.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// When a close was asked for, if it was; otherwise the task is woken when one is.
    pub fn poll_close_requested(&mut self, cx: &mut Context<'_>) -> Option<Instant> {
        self.register(cx);
        self.close_requested_at()
    }

    /// When a close was asked for, if it was.
    pub fn close_requested_at(&self) -> Option<Instant> {
        if !self.shared.closing.load(Ordering::Acquire) {
            return None;
        }
        self.shared.lock().close.as_ref().map(|p| p.at)
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        // What is still queued will never be written: let it go now, not with the last sender.
        let frames = std::mem::take(&mut self.shared.lock().frames);
        drop(frames);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Outgoing {
        Outgoing::Text(Arc::from("x".repeat(n)))
    }

    fn limits(messages: usize, bytes: usize) -> OutboxLimits {
        OutboxLimits { messages, bytes }
    }

    fn is_full(r: Result<(), TrySendError<Outgoing>>) -> bool {
        matches!(r, Err(TrySendError::Full(_)))
    }

    #[tokio::test]
    async fn the_byte_budget_refuses_what_would_exceed_it_and_frees_what_is_written() {
        let (tx, mut rx) = outbox(limits(100, 1000));
        tx.try_send(text(600)).unwrap();
        tx.try_send(text(400)).unwrap();
        assert_eq!(tx.queued_bytes(), 1000);
        assert!(is_full(tx.try_send(text(1))), "the budget is spent");
        assert!(rx.recv().await.is_some());
        assert_eq!(tx.queued_bytes(), 400);
        tx.try_send(text(600)).unwrap();
        assert!(is_full(tx.try_send(text(1))));
    }

    #[tokio::test]
    async fn one_frame_larger_than_the_budget_is_admitted_into_an_empty_queue_only() {
        let (tx, mut rx) = outbox(limits(100, 1000));
        tx.try_send(text(5000)).unwrap();
        assert!(is_full(tx.try_send(text(1))));
        rx.recv().await.unwrap();
        tx.try_send(text(5000)).unwrap();
        assert!(is_full(tx.try_send(text(5000))));
    }

    #[tokio::test]
    async fn the_message_count_is_bounded_too() {
        let (tx, _rx) = outbox(limits(3, 1 << 20));
        for _ in 0..3 {
            tx.try_send(Outgoing::Ping).unwrap();
        }
        assert!(is_full(tx.try_send(Outgoing::Ping)));
    }

    #[tokio::test]
    async fn a_close_gets_through_a_full_queue_and_skips_it_when_too_slow() {
        let (tx, mut rx) = outbox(limits(2, 1 << 20));
        tx.try_send(text(1)).unwrap();
        tx.try_send(text(2)).unwrap();
        assert!(is_full(tx.try_send(text(3))));
        tx.try_send(Outgoing::Close(CloseReason::new(
            CloseCode::TooSlow,
            "slow",
        )))
        .unwrap();
        match rx.recv().await {
            Some(Outgoing::Close(r)) => assert_eq!(r.code, CloseCode::TooSlow),
            other => panic!("expected the close first, got {other:?}"),
        }
        assert!(rx.recv().await.is_none(), "nothing after the close");
    }

    #[tokio::test]
    async fn a_normal_close_comes_after_what_was_queued_before_it_and_before_the_rest() {
        let (tx, mut rx) = outbox(limits(10, 1 << 20));
        tx.try_send(text(1)).unwrap();
        tx.try_send(text(2)).unwrap();
        tx.close(CloseReason::new(CloseCode::TokenExpired, "expired"));
        tx.try_send(text(3)).unwrap();
        tx.close(CloseReason::new(
            CloseCode::Normal,
            "a later close is ignored",
        ));
        let mut got = Vec::new();
        while let Some(msg) = rx.recv().await {
            got.push(match msg {
                Outgoing::Text(t) => t.len().to_string(),
                Outgoing::Close(r) => r.code.name().to_string(),
                other => format!("{other:?}"),
            });
        }
        assert_eq!(got, ["1", "2", "token_expired"]);
    }

    #[tokio::test]
    async fn a_close_wakes_a_waiting_writer_and_is_refused_once_the_writer_is_gone() {
        let (tx, mut rx) = outbox(limits(10, 1000));
        let writer = tokio::spawn(async move {
            let first = rx.recv().await;
            (first, rx)
        });
        tokio::task::yield_now().await;
        tx.close(CloseReason::new(CloseCode::HelloTimeout, "late"));
        let (first, rx) = writer.await.unwrap();
        assert!(matches!(first, Some(Outgoing::Close(_))));
        drop(rx);
        assert!(matches!(
            tx.try_send(Outgoing::Close(CloseReason::new(CloseCode::Normal, "x"))),
            Err(TrySendError::Closed(_))
        ));
        assert!(matches!(tx.try_send(text(1)), Err(TrySendError::Closed(_))));
    }

    #[tokio::test]
    async fn a_queue_that_grew_for_a_burst_is_let_go_once_drained() {
        let (tx, mut rx) = outbox(limits(1000, 1 << 20));
        for _ in 0..100 {
            tx.try_send(text(10)).unwrap();
        }
        assert!(rx.shared.lock().frames.capacity() >= 100);
        for _ in 0..100 {
            rx.recv().await.unwrap();
        }
        assert_eq!(rx.shared.lock().frames.capacity(), 0);
        assert_eq!(tx.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn without_senders_the_receiver_ends() {
        let (tx, mut rx) = outbox(limits(10, 1000));
        tx.try_send(text(1)).unwrap();
        drop(tx);
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_none());
    }
}
