//! [`StatePool`]: the preallocated parser states of one protocol in one worker. Only flows of
//! that protocol take one, so a large state (HTTP/2's two HPACK tables) costs memory only for the
//! connections that need it. Memory is reserved up front to the capacity and touched as states
//! are first used; a full pool refuses (the tracker counts it).

use super::parser::L7Parser;

/// Preallocated states of one protocol.
#[derive(Debug)]
pub struct StatePool<T> {
    states: Vec<T>,
    /// Taken, per state (so a double release is noticed in O(1)).
    live: Vec<bool>,
    free: Vec<u32>,
    cap: usize,
}

impl<T: L7Parser> StatePool<T> {
    pub fn new(capacity: u32) -> Self {
        StatePool {
            states: Vec::with_capacity(capacity as usize),
            live: Vec::with_capacity(capacity as usize),
            free: Vec::with_capacity(capacity as usize),
            cap: capacity as usize,
        }
    }

    /// A fresh state, or None when all are taken.
    pub fn alloc(&mut self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            self.states[i as usize].reset();
            self.live[i as usize] = true;
            return Some(i);
        }
        if self.states.len() < self.cap {
            self.states.push(T::default());
            self.live.push(true);
            return Some((self.states.len() - 1) as u32);
        }
        None
    }

    /// Gives state `i` back. Releasing a state twice is ignored.
    pub fn release(&mut self, i: u32) {
        if let Some(live) = self.live.get_mut(i as usize) {
            if *live {
                *live = false;
                self.free.push(i);
            }
        }
    }

    pub fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.states.get_mut(i as usize)
    }

    /// States in use now.
    pub fn in_use(&self) -> usize {
        self.states.len() - self.free.len()
    }

    /// Most bytes the pool can take.
    pub fn memory_bytes(capacity: u32) -> u64 {
        u64::from(capacity) * (std::mem::size_of::<T>() as u64 + 5)
    }
}
