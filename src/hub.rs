//! The hub (SPEC 3.9): publish = durable append, then hand the record to the
//! subscribers of its stream, its category and all streams, in subscription
//! order. Live subscriptions see later publishes; followed ones first catch
//! up from the position saved at `position/<name>` (a seq for a stream, a
//! pos for a category or all) and save their position after every record
//! handled. `pump` catches followers and attached views up with records
//! appended around the hub.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::source::Source;
use crate::store::Store;
use crate::value::State;
use crate::{Error, Record, Result, Value};

/// A subscriber's callback; `Err` carries the handler's own message.
pub type Handler = Rc<dyn Fn(&Record) -> std::result::Result<(), String>>;

/// An attached view's refresh: folds what is new, returns how many records
/// it folded; `Err` carries the message.
pub type Refresh = Rc<dyn Fn() -> std::result::Result<u64, String>>;

/// The kv key a followed subscription saves its position under.
pub fn position_key(name: &str) -> String {
    format!("position/{name}")
}

struct Sub {
    id: u64,
    source: Source,
    /// `Some(name)` for a followed subscription.
    follow: Option<String>,
    handler: Handler,
    /// `Some` for an attached view: what `pump` runs.
    refresh: Option<Refresh>,
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

    /// Appends, then hands the record to every subscriber whose source holds
    /// `stream`.
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
            .filter(|s| s.source.contains(stream))
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
            let outcome: std::result::Result<u64, CatchUpError> = match (&sub.follow, &record) {
                (Some(_), _) if sub.busy.get() => Ok(0),
                (Some(name), _) => self.catch_up_busy(&sub, name),
                (None, Some(record)) => (sub.handler)(record)
                    .map(|()| 1)
                    .map_err(|msg| CatchUpError::handler(record, msg)),
                (None, None) => Ok(0), // truncated away by an earlier handler
            };
            if let Err(e) = outcome {
                first_error.get_or_insert(e.into_error(sub.label()));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(seq),
        }
    }

    /// A live subscription; returns its id.
    pub fn subscribe(&self, source: impl Into<Source>, handler: Handler) -> Result<u64> {
        let source = source.into();
        source.check("subscribe")?;
        Ok(self.add(source, None, handler, None))
    }

    /// A catch-up subscription: hands every record after the saved position,
    /// then each later publish. If catching up fails, nothing is subscribed
    /// and the position stays at the last record handled.
    pub fn follow(&self, name: &str, source: impl Into<Source>, handler: Handler) -> Result<u64> {
        let source = source.into();
        crate::value::check_name("follow", "subscription", name)?;
        source.check("follow")?;
        self.catch_up(name, &source, &handler)
            .map_err(|e| e.into_error(format!("{name:?}")))?;
        Ok(self.add(source, Some(name.to_string()), handler, None))
    }

    /// An attached view: `refresh` runs after each publish to `source` and
    /// on `pump`. The caller loaded the view first.
    pub fn attach(&self, source: impl Into<Source>, refresh: Refresh) -> Result<u64> {
        let source = source.into();
        source.check("attach")?;
        let r = refresh.clone();
        let handler: Handler = Rc::new(move |_| r().map(drop));
        Ok(self.add(source, None, handler, Some(refresh)))
    }

    /// Hands every followed subscription and attached view the records
    /// appended since its position, by anyone; returns how many records
    /// were handed. With a `timeout`, when there is nothing new, first waits
    /// up to that long for a record (on backends that other processes can
    /// write; elsewhere nothing can arrive while this runs).
    pub fn pump(&self, timeout: Option<Duration>) -> Result<u64> {
        let handed = self.pump_once()?;
        match timeout {
            Some(t) if handed == 0 && !t.is_zero() => {
                let last = self.store.last_pos()?;
                self.store.backend()?.wait_for(last, t)?;
                self.pump_once()
            }
            _ => Ok(handed),
        }
    }

    fn pump_once(&self) -> Result<u64> {
        let subs: Vec<Rc<Sub>> = self.subs.borrow().clone();
        let (mut handed, mut first_error) = (0, None);
        for sub in subs {
            if !self.is_subscribed(sub.id) {
                continue;
            }
            let outcome = match (&sub.follow, &sub.refresh) {
                (Some(_), _) if sub.busy.get() => Ok(0),
                (Some(name), _) => self.catch_up_busy(&sub, name),
                (None, Some(refresh)) => {
                    refresh().map_err(|msg| CatchUpError::Kernel(Error::invalid("pump", msg)))
                }
                (None, None) => Ok(0),
            };
            match outcome {
                Ok(n) => handed += n,
                Err(e) => {
                    first_error.get_or_insert(e.into_error(sub.label()));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(handed),
        }
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

    fn add(
        &self,
        source: Source,
        follow: Option<String>,
        handler: Handler,
        refresh: Option<Refresh>,
    ) -> u64 {
        let id = self.next_id.replace(self.next_id.get() + 1);
        self.subs.borrow_mut().push(Rc::new(Sub {
            id,
            source,
            follow,
            handler,
            refresh,
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
    /// repeated until a round hands nothing (its handler may have published
    /// to its own source); returns how many records it handed.
    fn catch_up_busy(&self, sub: &Sub, name: &str) -> std::result::Result<u64, CatchUpError> {
        sub.busy.set(true);
        let result = (|| {
            let mut total = 0;
            loop {
                match self.catch_up(name, &sub.source, &sub.handler)? {
                    0 => return Ok(total),
                    n => total += n,
                }
            }
        })();
        sub.busy.set(false);
        result
    }

    /// Hands every record after the saved position, saving the position
    /// after each; returns how many it handed.
    fn catch_up(
        &self,
        name: &str,
        source: &Source,
        handler: &Handler,
    ) -> std::result::Result<u64, CatchUpError> {
        let pos = self.position(name).map_err(CatchUpError::Kernel)?;
        let key = position_key(name);
        self.store
            .fold(source, State { value: 0, seq: pos }, |n, rec: Record| {
                handler(&rec).map_err(|msg| CatchUpError::handler(&rec, msg))?;
                let at = source.position(rec.seq, rec.pos);
                self.store.kv_put(&key, Value::from(at))?;
                Ok::<u64, CatchUpError>(n + 1)
            })
            .map(|st| st.value)
    }
}

/// Why handing records to a subscriber stopped.
enum CatchUpError {
    /// The handler failed on this record with its own message.
    Handler {
        stream: String,
        seq: u64,
        msg: String,
    },
    /// The store failed (e.g. the records were truncated away).
    Kernel(Error),
}

impl From<Error> for CatchUpError {
    fn from(e: Error) -> Self {
        CatchUpError::Kernel(e)
    }
}

impl CatchUpError {
    fn handler(rec: &Record, msg: String) -> Self {
        CatchUpError::Handler {
            stream: rec.stream.clone(),
            seq: rec.seq,
            msg,
        }
    }

    fn into_error(self, subscription: String) -> Error {
        match self {
            CatchUpError::Handler { stream, seq, msg } => Error::Handler {
                subscription,
                stream,
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
    fn publish_reaches_stream_category_and_all_subscribers_in_order() {
        let hub = Hub::new(Arc::new(Store::mem()));
        let log = Rc::new(RefCell::new(Vec::new()));
        hub.subscribe(Source::All, recorder(&log, "all")).unwrap();
        hub.subscribe("user-1", recorder(&log, "s")).unwrap();
        hub.subscribe(Source::category("user"), recorder(&log, "cat"))
            .unwrap();
        hub.subscribe(Source::category("order"), recorder(&log, "no"))
            .unwrap();
        hub.publish("user-1", json!(1)).unwrap();
        assert_eq!(*log.borrow(), ["all1", "s1", "cat1"]);
    }

    #[test]
    fn pump_catches_followers_up_with_appends_around_the_hub() {
        let hub = Hub::new(Arc::new(Store::mem()));
        let log = Rc::new(RefCell::new(Vec::new()));
        hub.follow("f", Source::category("user"), recorder(&log, ""))
            .unwrap();
        hub.store().append("order-1", json!(0)).unwrap();
        hub.store().append("user-1", json!(1)).unwrap();
        hub.store().append("user-2", json!(2)).unwrap();
        assert_eq!(hub.pump(None).unwrap(), 2);
        assert_eq!(hub.pump(Some(Duration::from_millis(1))).unwrap(), 0);
        assert_eq!(*log.borrow(), ["1", "1"]);
        assert_eq!(hub.position("f").unwrap(), 3, "the last pos handled");
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
