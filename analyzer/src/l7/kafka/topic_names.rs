//! Kafka topic names by topic id, learned by a worker from every Metadata response (v10+) it
//! reads, on any connection. Fetch v13+ and Produce v13 (what librdkafka 2.x and Java clients
//! send to Kafka 3.1+ and 4.x brokers) name topics by id only, and a client asks one broker for
//! metadata and fetches from every partition leader: on a cluster of several brokers most fetch
//! connections never carry a Metadata response. Topic ids are unique in a cluster (random
//! UUIDs), so one table per worker serves every connection it analyses.
//!
//! Bounded: [`ENTRIES`] names of up to [`NAME_MAX`] bytes in one table, allocated at the first
//! name learned (a worker that sees no Kafka keeps none) and counted whole in the memory plan
//! ([`MEMORY_BYTES`]). Each id has a home slot and [`PROBE`] slots after it; when they are all
//! taken by other ids, the home slot's name gives way to the newer one. A name longer than
//! Kafka allows is not remembered (the row shows the id's text, as before any Metadata).

use crate::inline::InlineBytes;

/// Names remembered by a worker.
pub const ENTRIES: usize = 1024;
/// Longest name remembered: Kafka's own limit (249 bytes; a broker refuses longer names), so
/// every topic a broker names is remembered. An entry is five cache lines.
pub const NAME_MAX: usize = 249;
/// Slots looked at for an id, from its home slot on.
const PROBE: usize = 8;

/// A slot: its id at the start of a cache line, so a probe reads one line.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Entry {
    id: [u8; 16],
    name: InlineBytes<NAME_MAX>,
}

const FREE: Entry = Entry {
    id: [0; 16],
    name: InlineBytes::EMPTY,
};

/// The most memory the table takes.
pub const MEMORY_BYTES: u64 = (ENTRIES * std::mem::size_of::<Entry>()) as u64;

/// One worker's topic names, created at the first name.
#[derive(Default)]
pub struct TopicNames {
    slots: Option<Box<[Entry]>>,
}

impl std::fmt::Debug for TopicNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicNames")
            .field("created", &self.slots.is_some())
            .field("names", &self.len())
            .finish()
    }
}

/// The home slot of `id`: ids are random UUIDs (v4), so their bytes are already spread; the
/// fold keeps a table of made-up ids (0, 1, 2, ...) spread too.
fn home(id: &[u8; 16]) -> usize {
    let (a, b) = id.split_at(8);
    let a = u64::from_le_bytes(a.try_into().unwrap_or_default());
    let b = u64::from_le_bytes(b.try_into().unwrap_or_default());
    let h = (a ^ b.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize % ENTRIES
}

impl TopicNames {
    /// Remembers that topic `id` is called `name`. An all-zero id (Kafka's "no id"), an empty
    /// name or one longer than [`NAME_MAX`] is not remembered.
    pub fn learn(&mut self, id: [u8; 16], name: &[u8]) {
        if id == [0; 16] || name.is_empty() || name.len() > NAME_MAX {
            return;
        }
        let slots = self
            .slots
            .get_or_insert_with(|| vec![FREE; ENTRIES].into_boxed_slice());
        let h = home(&id);
        let mut free = None;
        for i in 0..PROBE {
            let at = (h + i) % ENTRIES;
            let e = &slots[at];
            if e.id == id {
                if e.name.as_bytes() != name {
                    slots[at].name = InlineBytes::from_slice(name);
                }
                return;
            }
            if free.is_none() && e.name.is_empty() {
                free = Some(at);
            }
        }
        slots[free.unwrap_or(h)] = Entry {
            id,
            name: InlineBytes::from_slice(name),
        };
    }

    /// The name learned for topic `id`.
    pub fn name(&self, id: &[u8; 16]) -> Option<&[u8]> {
        let slots = self.slots.as_ref()?;
        let h = home(id);
        (0..PROBE)
            .map(|i| &slots[(h + i) % ENTRIES])
            .find(|e| e.id == *id && !e.name.is_empty())
            .map(|e| e.name.as_bytes())
    }

    /// Names remembered.
    pub fn len(&self) -> usize {
        self.slots
            .as_ref()
            .map_or(0, |s| s.iter().filter(|e| !e.name.is_empty()).count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[12..].copy_from_slice(&n.to_be_bytes());
        id
    }

    #[test]
    fn an_entry_is_five_cache_lines() {
        assert_eq!(std::mem::size_of::<Entry>(), 320);
        assert_eq!(MEMORY_BYTES, 320 << 10);
    }

    #[test]
    fn names_are_found_by_id_and_renamed() {
        let mut t = TopicNames::default();
        assert_eq!(t.name(&id(1)), None);
        assert!(t.slots.is_none(), "nothing allocated before a name");
        t.learn(id(1), b"orders");
        t.learn(id(2), b"payments");
        assert_eq!(t.name(&id(1)), Some(&b"orders"[..]));
        assert_eq!(t.name(&id(2)), Some(&b"payments"[..]));
        assert_eq!(t.name(&id(3)), None);
        t.learn(id(1), b"orders-v2");
        assert_eq!(t.name(&id(1)), Some(&b"orders-v2"[..]));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn what_is_not_remembered() {
        let mut t = TopicNames::default();
        t.learn([0; 16], b"no-id");
        t.learn(id(1), b"");
        t.learn(id(2), &[b'a'; NAME_MAX + 1]);
        t.learn(id(3), &[b'b'; NAME_MAX]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.name(&[0; 16]), None);
        assert_eq!(t.name(&id(2)), None);
        assert_eq!(t.name(&id(3)), Some(&[b'b'; NAME_MAX][..]));
    }

    #[test]
    fn a_full_table_stays_bounded_and_keeps_the_newest() {
        let mut t = TopicNames::default();
        for n in 1..=(ENTRIES as u32 * 4) {
            t.learn(id(n), format!("topic-{n}").as_bytes());
            assert_eq!(t.name(&id(n)), Some(format!("topic-{n}").as_bytes()));
        }
        assert!(t.len() <= ENTRIES);
        // Most of the last table's worth are still there.
        let kept = (ENTRIES as u32 * 3 + 1..=ENTRIES as u32 * 4)
            .filter(|&n| t.name(&id(n)).is_some())
            .count();
        assert!(kept > ENTRIES / 2, "{kept}");
    }
}
