//! A doorbell per connection thread: the wake-ups of one fan-out, given to each thread at once.
//!
//! Every session's writer runs on one of the HTTP worker threads, and a fan-out from a
//! document's thread wakes one writer per session. Waking a task on another thread that sleeps
//! costs a system call; the thread then starts writing at once, sleeps again before the next
//! wake-up arrives, and is woken again: up to one wake-up of the thread per session. With a
//! bell, the document's thread hands a thread's writers to that thread's bell in one list and
//! rings it once; the bell's task, on that thread, wakes them there (a local wake-up: no system
//! call, no lock shared with the other thread).
//!
//! A writer polled outside an actix arbiter (a test driving it by hand) has no bell and is
//! woken directly.

use std::cell::OnceCell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use futures_util::task::AtomicWaker;

/// The bell of one thread.
#[derive(Default)]
pub(super) struct Bell {
    /// Writers to wake on the bell's thread.
    pending: Mutex<Vec<Waker>>,
    /// The bell's task.
    ringer: AtomicWaker,
}

thread_local! {
    static BELL: OnceCell<Option<Arc<Bell>>> = const { OnceCell::new() };
}

impl Bell {
    /// This thread's bell, its task started on first use; `None` outside an actix arbiter.
    pub(super) fn of_this_thread() -> Option<Arc<Bell>> {
        BELL.with(|bell| bell.get_or_init(Bell::start).clone())
    }

    fn start() -> Option<Arc<Bell>> {
        let arbiter = actix::Arbiter::try_current()?;
        let bell = Arc::new(Bell::default());
        let task = bell.clone();
        // Woken writers are swapped out into `waking`, whose room is kept between rings.
        let mut waking = Vec::new();
        let ring = std::future::poll_fn(move |cx| {
            task.ringer.register(cx.waker());
            std::mem::swap(&mut waking, &mut *task.lock());
            for waker in waking.drain(..) {
                waker.wake();
            }
            Poll::<()>::Pending
        });
        arbiter.spawn(ring).then_some(bell)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `wakers` (emptied, its room kept) to the bell's thread and rings it once.
    pub(super) fn ring(&self, wakers: &mut Vec<Waker>) {
        self.lock().append(wakers);
        self.ringer.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::task::{Context, Wake};
    use std::time::Duration;

    use super::super::{outbox, HeldWakes, OutboxLimits, Outgoing};

    /// A waker that reports each wake-up on a channel, with the thread it was woken on.
    struct Reporting(mpsc::Sender<std::thread::ThreadId>);

    impl Wake for Reporting {
        fn wake(self: std::sync::Arc<Self>) {
            let _ = self.0.send(std::thread::current().id());
        }
    }

    fn reporting() -> (std::task::Waker, mpsc::Receiver<std::thread::ThreadId>) {
        let (tx, rx) = mpsc::channel();
        (std::sync::Arc::new(Reporting(tx)).into(), rx)
    }

    fn text(s: &str) -> Outgoing {
        Outgoing::Text(s.into())
    }

    const LIMITS: OutboxLimits = OutboxLimits {
        messages: 8,
        bytes: 1024,
    };

    #[test]
    fn held_wake_ups_wait_for_wake_all_and_wake_each_writer_once() {
        let (tx, mut rx) = outbox(LIMITS);
        let (waker, woken) = reporting();
        assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        // Outside an arbiter there is no bell: the writer is woken directly.
        assert!(matches!(rx.shared.bell.get(), Some(None)));

        let mut held = HeldWakes::default();
        tx.try_send_held(text("a"), &mut held).unwrap();
        tx.try_send_held(text("b"), &mut held).unwrap();
        assert!(woken.try_recv().is_err(), "no wake-up before wake_all");
        held.wake_all();
        assert!(woken.try_recv().is_ok());
        assert!(woken.try_recv().is_err(), "one wake-up for both messages");

        let mut cx = Context::from_waker(&waker);
        for want in ["a", "b"] {
            let got = rx.poll_recv(&mut cx);
            assert!(matches!(got, std::task::Poll::Ready(Some(Outgoing::Text(t))) if &*t == want));
        }
    }

    #[test]
    fn a_writer_on_an_arbiter_is_woken_on_its_own_thread_through_the_bell() {
        let (tx, rx) = outbox(LIMITS);
        let (waker, woken) = reporting();
        let (registered, on_arbiter) = mpsc::channel();
        let _system = actix::System::new();
        let arbiter = actix::Arbiter::new();
        arbiter.spawn(async move {
            let mut rx = rx;
            assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
            let _ = registered.send((std::thread::current().id(), rx));
        });
        let (arbiter_thread, rx) = on_arbiter.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            matches!(rx.shared.bell.get(), Some(Some(_))),
            "the writer's thread has a bell"
        );

        let mut held = HeldWakes::default();
        tx.try_send_held(text("a"), &mut held).unwrap();
        assert!(woken.try_recv().is_err(), "no wake-up before wake_all");
        held.wake_all();
        let woken_on = woken.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(
            woken_on, arbiter_thread,
            "woken by the bell's task, on its thread"
        );
        arbiter.stop();
    }
}
