//! The fields of OpenWire commands a request log reads, in the order ActiveMQ's v12 marshallers
//! write them (`BaseCommand`: command id, response required; then each command's own), up to
//! the last field needed; the rest of a frame is skipped by its size. Nested and cached objects
//! (ids, destinations, the message a `MessageDispatch` carries) are walked field by field so the
//! tight encoding's boolean stream stays in step. Destinations sent once as cached objects are
//! remembered per direction ([`DestinationCache`]) so later commands naming them by cache index
//! still name them.

use super::wire::{types::*, Fields, MAX_DEPTH};
use crate::inline::InlineBytes;

/// Destinations remembered per direction (cache index, physical name).
pub const CACHED_DESTINATIONS: usize = 4;

/// The destinations a direction sent as new cached objects, the most recent ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct DestinationCache {
    slots: [(u16, InlineBytes<64>); CACHED_DESTINATIONS],
    next: u8,
}

impl DestinationCache {
    fn put(&mut self, index: u16, name: &[u8]) {
        let i = match self
            .slots
            .iter()
            .position(|(k, n)| *k == index && !n.is_empty())
        {
            Some(i) => i,
            None => {
                let i = usize::from(self.next) % CACHED_DESTINATIONS;
                self.next = self.next.wrapping_add(1);
                i
            }
        };
        let mut n = InlineBytes::EMPTY;
        n.push_lossy(name);
        self.slots[i] = (index, n);
    }

    /// Another object took `index`.
    fn forget(&mut self, index: u16) {
        for s in &mut self.slots {
            if s.0 == index {
                *s = Default::default();
            }
        }
    }

    fn get(&self, index: u16) -> Option<&[u8]> {
        self.slots
            .iter()
            .find(|(k, n)| *k == index && !n.is_empty())
            .map(|(_, n)| n.as_bytes())
    }
}

/// What a command says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Command<'a> {
    pub kind: u8,
    pub command_id: u32,
    pub response_required: bool,
    /// A response's correlation id: the command id it answers.
    pub answers: Option<u32>,
    /// The destination's physical name (queue or topic).
    pub destination: InlineBytes<128>,
    /// A `BrokerInfo`'s URL.
    pub broker_url: &'a [u8],
    /// A message's JMS correlation id.
    pub jms_correlation_id: &'a [u8],
    /// An `ExceptionResponse`'s or `ConnectionError`'s exception message (else its class).
    pub exception: Option<&'a [u8]>,
}

/// The negotiated encoding of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub tight: bool,
    pub cache: bool,
    pub version: u32,
}

impl Default for Encoding {
    /// ActiveMQ's defaults (a capture that missed the connection's start).
    fn default() -> Self {
        Encoding {
            tight: true,
            cache: true,
            version: 12,
        }
    }
}

struct Walk<'a, 'c> {
    f: Fields<'a>,
    enc: Encoding,
    cache: &'c mut DestinationCache,
}

/// Reads command `kind`'s fields from `body` (after the type byte). None when even its command
/// id does not read; otherwise what was read before the fields ran out or stopped making sense.
pub fn command<'a>(
    kind: u8,
    body: &'a [u8],
    enc: Encoding,
    cache: &mut DestinationCache,
) -> Option<Command<'a>> {
    let mut w = Walk {
        f: Fields::new(body, enc.tight)?,
        enc,
        cache,
    };
    let mut c = Command {
        kind,
        command_id: w.f.u32()?,
        response_required: w.f.bool()?,
        ..Command::default()
    };
    let _ = w.fields(&mut c);
    Some(c)
}

impl<'a> Walk<'a, '_> {
    fn fields(&mut self, c: &mut Command<'a>) -> Option<()> {
        match c.kind {
            BROKER_INFO => {
                self.cached(0)?;
                c.broker_url = self.f.string()?;
            }
            CONSUMER_INFO => {
                self.cached(0)?;
                self.f.bool()?;
                let d = self.cached(0)?;
                set(c, d);
            }
            // Producer id, consumer id or connection id; then the destination.
            PRODUCER_INFO | MESSAGE_PULL | DESTINATION_INFO => {
                self.cached(0)?;
                let d = self.cached(0)?;
                set(c, d);
            }
            MESSAGE_ACK => {
                let d = self.cached(0)?;
                set(c, d);
            }
            MESSAGE_DISPATCH => {
                self.cached(0)?;
                let d = self.cached(0)?;
                set(c, d);
                // The message: its own fields (its JMS correlation id).
                if self.f.bool()? {
                    let t = self.f.u8()?;
                    self.marshall_aware(t)?;
                    if (MESSAGE_FIRST..=MESSAGE_LAST).contains(&t) {
                        self.message(c, 1)?;
                    }
                }
            }
            MESSAGE_FIRST..=MESSAGE_LAST => self.message(c, 0)?,
            CONNECTION_ERROR => c.exception = self.f.throwable()?,
            RESPONSE..=INTEGER_RESPONSE => {
                c.answers = Some(self.f.u32()?);
                if c.kind == EXCEPTION_RESPONSE {
                    c.exception = self.f.throwable()?;
                }
            }
            _ => {}
        }
        Some(())
    }

    /// A message's fields up to its JMS correlation id.
    fn message(&mut self, c: &mut Command<'a>, depth: u8) -> Option<()> {
        self.cached(depth)?; // producer id
        let d = self.cached(depth)?;
        set(c, d);
        self.cached(depth)?; // transaction id
        self.cached(depth)?; // original destination
        self.nested(depth)?; // message id
        self.cached(depth)?; // original transaction id
        self.f.string()?; // group id
        self.f.u32()?; // group sequence
        c.jms_correlation_id = self.f.string()?;
        Some(())
    }

    /// A marshall-aware object (a message) may come in its cached marshalled form, with its own
    /// size, type and boolean stream (tight encoding only).
    fn marshall_aware(&mut self, t: u8) -> Option<()> {
        let aware = t == WIREFORMAT_INFO || (MESSAGE_FIRST..=MESSAGE_LAST).contains(&t);
        if self.enc.tight && aware && self.f.bool()? {
            self.f.u32()?;
            self.f.u8()?;
            self.f = Fields::new(self.f.rest(), true)?;
        }
        Some(())
    }

    /// A cached object: new (with its cache index) or named by its index. Returns the
    /// destination it is, if it is one.
    fn cached(&mut self, depth: u8) -> Option<Dest<'a>> {
        if !self.enc.cache {
            return self.nested(depth);
        }
        let new = self.f.bool()?;
        let index = u16::from_be_bytes(self.f.take(2)?.try_into().ok()?);
        if !new {
            return Some(self.cache.get(index).map(Dest::copy).unwrap_or(Dest::None));
        }
        let d = self.nested(depth)?;
        match d {
            Dest::Fresh(name) => self.cache.put(index, name),
            _ => self.cache.forget(index),
        }
        Some(d)
    }

    /// A nested object (null, or a type byte and its fields).
    fn nested(&mut self, depth: u8) -> Option<Dest<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        if !self.f.bool()? {
            return Some(Dest::None);
        }
        let t = self.f.u8()?;
        match t {
            QUEUE..=TEMP_TOPIC => return self.f.string().map(Dest::Fresh),
            MESSAGE_ID => {
                if self.enc.version >= 10 {
                    self.f.string()?;
                }
                self.cached(depth + 1)?;
                self.f.long()?;
                self.f.long()?;
            }
            LOCAL_TRANSACTION_ID => {
                self.f.long()?;
                self.cached(depth + 1)?;
            }
            XA_TRANSACTION_ID => {
                self.f.u32()?;
                self.f.bytes()?;
                self.f.bytes()?;
            }
            CONNECTION_ID | BROKER_ID => {
                self.f.string()?;
            }
            SESSION_ID => {
                self.f.string()?;
                self.f.long()?;
            }
            CONSUMER_ID | PRODUCER_ID => {
                self.f.string()?;
                self.f.long()?;
                self.f.long()?;
            }
            _ => return None,
        }
        Some(Dest::None)
    }
}

/// A destination read from the frame or from the cache.
#[derive(Debug, Clone, Copy)]
enum Dest<'a> {
    None,
    Fresh(&'a [u8]),
    Cached(InlineBytes<64>),
}

impl Dest<'_> {
    fn copy(name: &[u8]) -> Self {
        let mut n = InlineBytes::EMPTY;
        n.push_lossy(name);
        Dest::Cached(n)
    }
}

fn set(c: &mut Command<'_>, d: Dest<'_>) {
    match d {
        Dest::None => {}
        Dest::Fresh(n) => c.destination.push_lossy(n),
        Dest::Cached(n) => c.destination.push_lossy(n.as_bytes()),
    }
}
