//! The hub (SPEC 3.9): publish = durable append, then hand the record to the
//! stream's subscribers in subscription order. Live subscriptions see later
//! publishes; followed ones first catch up from the position saved at
//! `position/<name>` and save their position after every record handled.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::store::Store;
use crate::value::State;
use crate::{Error, Record, Result, Value};

/// A subscriber's callback; `Err` carries the handler's own message.
pub type Handler = Rc<dyn Fn(&Record) -> std::result::Result<(), String>>;

/// The kv key a followed subscription saves its position under.
pub fn position_key(name: &str) -> String {
    format!("position/{name}")
}

struct Sub {
    id: u64,
    stream: String,
    /// `Some(name)` for a followed subscription.
    follow: Option<String>,
    handler: Handler,
    /// A followed subscription is catching up: a publish from inside its
    /// own handler leaves the new record to that running catch-up.
    busy: Cell<bool>,
}

impl Sub {
    fn label(&self) -> String {
        match &self.follow {
            Some(name) => format!("{name:?} (id {})", self.id),
            None => format!("{}", self.id),
        }
    }
}

/// Publish and subscribe over a store (SPEC 3.9).
pub struct Hub {
    store: Arc<Store>,
    subs: RefCell<Vec<Rc<Sub>>>,
    next_id: Cell<u64>,
}

impl Hub {
    /// A hub with no subscriptions over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Hub {
            store,
            subs: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
        }
    }

    /// The store it publishes to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Appends, then hands the record to every subscriber of `stream`.
    ///
    /// A failing handler does not stop the others (each read model gets the
    /// record); the first failure is returned after all ran. The append is
    /// never undone. Handlers may publish or (un)subscribe: no borrow of
    /// the subscriber list is held while one runs.
    pub fn publish(&self, stream: &str, event: Value) -> Result<u64> {
        crate::value::check_name("publish", "stream", stream)?;
        let seq = self.store.append(stream, event)?;
        let subs: Vec<Rc<Sub>> = self
            .subs
            .borrow()
            .iter()
            .filter(|s| s.stream == stream)
            .cloned()
            .collect();
        // Live subscribers get the record as stored (with its `at`).
        let record = match subs.iter().any(|s| s.follow.is_none()) {
            true => self.store.read(stream, seq - 1, Some(1))?.pop(),
            false => None,
        };
        let mut first_error = None;
        for sub in subs {
            if !self.is_subscribed(sub.id) {
                continue;
            }
            let outcome: std::result::Result<(), CatchUpError> = match (&sub.follow, &record) {
                (Some(_), _) if sub.busy.get() => Ok(()),
                (Some(name), _) => self.catch_up_busy(&sub, name, stream),
                (None, Some(record)) => {
                    (sub.handler)(record).map_err(|msg| CatchUpError::Handler(seq, msg))
                }
                (None, None) => Ok(()), // truncated away by an earlier handler
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e.into_error(sub.label(), stream));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(seq),
        }
    }

    /// A live subscription; returns its id.
    pub fn subscribe(&self, stream: &str, handler: Handler) -> Result<u64> {
        crate::value::check_name("subscribe", "stream", stream)?;
        Ok(self.add(stream, None, handler))
    }

    /// A catch-up subscription: hands every record after the saved position,
    /// then each later publish. If catching up fails, nothing is subscribed
    /// and the position stays at the last record handled.
    pub fn follow(&self, name: &str, stream: &str, handler: Handler) -> Result<u64> {
        crate::value::check_name("follow", "subscription", name)?;
        crate::value::check_name("follow", "stream", stream)?;
        self.catch_up(name, stream, &handler)
            .map_err(|e| e.into_error(format!("{name:?}"), stream))?;
        Ok(self.add(stream, Some(name.to_string()), handler))
    }

    /// Stops a subscription; `true` if it existed. A followed subscription's
    /// saved position stays, so a later `follow` resumes from it.
    pub fn unsubscribe(&self, id: u64) -> bool {
        let mut subs = self.subs.borrow_mut();
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    fn is_subscribed(&self, id: u64) -> bool {
        self.subs.borrow().iter().any(|s| s.id == id)
    }

    fn add(&self, stream: &str, follow: Option<String>, handler: Handler) -> u64 {
        let id = self.next_id.replace(self.next_id.get() + 1);
        self.subs.borrow_mut().push(Rc::new(Sub {
            id,
            stream: stream.to_string(),
            follow,
            handler,
            busy: Cell::new(false),
        }));
        id
    }

    /// The saved position of a followed subscription (0 if none).
    pub fn position(&self, name: &str) -> Result<u64> {
        match self.store.kv_get(&position_key(name))? {
            None => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                Error::invalid("follow", format!("position/{name} holds {v}, not a seq"))
            }),
        }
    }

    /// `catch_up` for a subscribed follower, marked busy while it runs and
    /// repeated until nothing new arrived meanwhile (its handler may have
    /// published to its own stream).
    fn catch_up_busy(
        &self,
        sub: &Sub,
        name: &str,
        stream: &str,
    ) -> std::result::Result<(), CatchUpError> {
        sub.busy.set(true);
        let result = (|| loop {
            self.catch_up(name, stream, &sub.handler)?;
            let last = self.store.last_seq(stream).map_err(CatchUpError::Kernel)?;
            if self.position(name).map_err(CatchUpError::Kernel)? >= last {
                return Ok(());
            }
        })();
        sub.busy.set(false);
        result
    }

    /// Hands every record after the saved position, saving the position
    /// after each.
    fn catch_up(
        &self,
        name: &str,
        stream: &str,
        handler: &Handler,
    ) -> std::result::Result<(), CatchUpError> {
        let pos = self.position(name).map_err(CatchUpError::Kernel)?;
        let key = position_key(name);
        self.store
            .fold(
                stream,
                State {
                    value: (),
                    seq: pos,
                },
                |(), rec: Record| {
                    handler(&rec).map_err(|msg| CatchUpError::Handler(rec.seq, msg))?;
                    self.store.kv_put(&key, Value::from(rec.seq))?;
                    Ok::<(), CatchUpError>(())
                },
            )
            .map(|_| ())
    }
}

/// Why handing records to a subscriber stopped.
enum CatchUpError {
    /// The handler failed on this seq with its own message.
    Handler(u64, String),
    /// The store failed (e.g. the records were truncated away).
    Kernel(Error),
}

impl From<Error> for CatchUpError {
    fn from(e: Error) -> Self {
        CatchUpError::Kernel(e)
    }
}

impl CatchUpError {
    fn into_error(self, subscription: String, stream: &str) -> Error {
        match self {
            CatchUpError::Handler(seq, msg) => Error::Handler {
                subscription,
                stream: stream.to_string(),
                seq,
                msg,
            },
            CatchUpError::Kernel(e) => Error::Remote {
                op: format!("subscription {subscription}"),
                msg: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;

    fn recorder(log: &Rc<RefCell<Vec<String>>>, tag: &'static str) -> Handler {
        let log = log.clone();
        Rc::new(move |r: &Record| {
            log.borrow_mut().push(format!("{tag}{}", r.seq));
            Ok(())
        })
    }

    #[test]
    fn subscribers_run_in_subscription_order_and_only_for_their_stream() {
        let hub = Hub::new(Arc::new(Store::mem()));
        let log = Rc::new(RefCell::new(Vec::new()));
        hub.subscribe("a", recorder(&log, "x")).unwrap();
        hub.subscribe("b", recorder(&log, "other")).unwrap();
        let y = hub.subscribe("a", recorder(&log, "y")).unwrap();
        hub.publish("a", json!(1)).unwrap();
        assert!(hub.unsubscribe(y));
        hub.publish("a", json!(2)).unwrap();
        assert_eq!(*log.borrow(), ["x1", "y1", "x2"]);
    }

    #[test]
    fn a_failing_handler_keeps_the_append_and_the_other_subscribers() {
        let hub = Hub::new(Arc::new(Store::mem()));
        let log = Rc::new(RefCell::new(Vec::new()));
        hub.subscribe("a", Rc::new(|_: &Record| Err("boom".to_string())))
            .unwrap();
        hub.follow("f", "a", recorder(&log, "f")).unwrap();
        let err = hub.publish("a", json!(1)).unwrap_err().to_string();
        assert!(
            err.contains("subscription 1") && err.contains("boom") && err.contains("seq 1"),
            "{err}"
        );
        assert_eq!(hub.store().last_seq("a").unwrap(), 1);
        assert_eq!(*log.borrow(), ["f1"]);
        assert_eq!(hub.position("f").unwrap(), 1);
    }

    #[test]
    fn follow_catches_up_from_the_saved_position() {
        let store = Arc::new(Store::mem());
        store
            .append_all("a", vec![json!(1), json!(2), json!(3)])
            .unwrap();
        store.kv_put(&position_key("f"), json!(1)).unwrap();
        let hub = Hub::new(store);
        let log = Rc::new(RefCell::new(Vec::new()));
        hub.follow("f", "a", recorder(&log, "")).unwrap();
        hub.publish("a", json!(4)).unwrap();
        assert_eq!(*log.borrow(), ["2", "3", "4"]);
        assert_eq!(hub.position("f").unwrap(), 4);
    }
}
