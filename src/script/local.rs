//! `Local<T>`: a value that may sit inside a `Send + Sync` type but is only
//! ever touched on the thread that made it.
//!
//! A script transport holds a Rhai `FnPtr`, which is neither `Send` nor
//! `Sync` (rhai without its `sync` feature uses `Rc`). Every `Backend` must
//! be `Send + Sync` so a host can share a `Store` across threads; a store
//! over a script transport can still move, but only its owner thread can
//! call the closure: elsewhere `get` answers `None` (the caller reports an
//! error) and a drop leaks the value instead of touching its `Rc`s.

use std::mem::ManuallyDrop;
use std::thread::{self, ThreadId};

pub struct Local<T> {
    owner: ThreadId,
    value: ManuallyDrop<T>,
}

impl<T> Local<T> {
    pub fn new(value: T) -> Self {
        Local {
            owner: thread::current().id(),
            value: ManuallyDrop::new(value),
        }
    }

    /// The value, on the thread that made it; `None` on any other.
    pub fn get(&self) -> Option<&T> {
        (thread::current().id() == self.owner).then_some(&*self.value)
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        if thread::current().id() == self.owner {
            // SAFETY: dropped once, here, on the owner thread.
            unsafe { ManuallyDrop::drop(&mut self.value) }
        }
    }
}

// SAFETY: the value is reached only through `get` and `drop`, both of which
// check that they run on the owner thread; no other thread ever touches it.
unsafe impl<T> Send for Local<T> {}
// SAFETY: as above; shared access from other threads sees `None`.
unsafe impl<T> Sync for Local<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn only_the_owner_thread_sees_the_value() {
        let rc = Rc::new(5);
        let local = Local::new(rc.clone());
        assert_eq!(local.get().map(|r| **r), Some(5));
        thread::scope(|t| {
            t.spawn(|| assert!(local.get().is_none()));
        });
        drop(local);
        assert_eq!(Rc::strong_count(&rc), 1, "dropped on its own thread");
    }

    #[test]
    fn a_drop_elsewhere_leaks_rather_than_touch_the_value() {
        let rc = Rc::new(5);
        let local = Local::new(rc.clone());
        thread::spawn(move || drop(local)).join().unwrap();
        assert_eq!(Rc::strong_count(&rc), 2, "leaked, count untouched");
    }
}
