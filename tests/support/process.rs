//! A child process killed when dropped: a test or benchmark that fails half-way leaves none running.
//! Shared by the tests (`common`), the Tansu harness and the end-to-end benchmark.

use std::ops::{Deref, DerefMut};
use std::process::Child;

pub struct KilledOnDrop(pub Child);

impl Deref for KilledOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KilledOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
