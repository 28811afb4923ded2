//! Bytes of rendered text with room that stays initialized: a writer asks for [`TextBuf::room`],
//! writes into it and keeps what it wrote with [`TextBuf::advance`]. The room past the text
//! holds whatever was written there before (zeroed once, when the buffer grows), so a row is
//! rendered straight where it is written out: no stack buffer copied in, no zeroing per row
//! (safe code cannot write a `Vec<u8>`'s spare capacity and keep it, and resizing it zeroes it
//! every time).

/// Text bytes in a buffer whose room past the text is kept initialized.
#[derive(Clone, Default)]
pub struct TextBuf {
    /// Every byte initialized: the text is `bytes[..len]`, the room `bytes[len..]`.
    bytes: Vec<u8>,
    len: usize,
}

impl std::fmt::Debug for TextBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextBuf")
            .field("len", &self.len)
            .field("room", &self.bytes.len())
            .finish()
    }
}

impl TextBuf {
    pub fn new() -> Self {
        TextBuf::default()
    }

    /// A buffer with `capacity` bytes of room (zeroed pages from the allocator).
    pub fn with_capacity(capacity: usize) -> Self {
        TextBuf {
            bytes: vec![0; capacity],
            len: 0,
        }
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text, to change bytes in place.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of room the buffer has without growing (text plus room).
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Empties the text, keeping the memory.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` bytes of the text.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Drops the first `n` bytes of the text, moving the rest to the front.
    pub fn drain_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// At least `min` bytes of room after the text (the buffer grows, at least doubling, when
    /// it has less). What is written there becomes text with [`TextBuf::advance`].
    #[inline]
    pub fn room(&mut self, min: usize) -> &mut [u8] {
        if self.bytes.len() - self.len < min {
            self.grow(min);
        }
        &mut self.bytes[self.len..]
    }

    #[inline(never)]
    #[cold]
    fn grow(&mut self, min: usize) {
        let want = (self.len + min).max(self.bytes.len() * 2).max(64);
        self.bytes.resize(want, 0);
    }

    /// Keeps the next `n` bytes of the room (written through [`TextBuf::room`]) as text.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.bytes.len() - self.len, "advanced past the room");
        self.len += n;
    }

    pub fn extend_from_slice(&mut self, text: &[u8]) {
        self.room(text.len())[..text.len()].copy_from_slice(text);
        self.len += text.len();
    }

    pub fn push(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_what_was_kept_and_room_survives_clearing() {
        let mut t = TextBuf::new();
        assert!(t.is_empty());
        t.extend_from_slice(b"hello");
        t.push(b' ');
        let room = t.room(5);
        assert!(room.len() >= 5);
        room[..5].copy_from_slice(b"world");
        // Written into the room but not kept: not text.
        assert_eq!(t.as_bytes(), b"hello ");
        t.advance(5);
        assert_eq!(t.as_bytes(), b"hello world");
        t.as_mut_bytes()[0] = b'H';
        assert_eq!(t.as_bytes(), b"Hello world");

        let cap = t.capacity();
        t.clear();
        assert_eq!(t.as_bytes(), b"");
        // The room keeps its size and its old bytes: nothing grows or is zeroed again.
        assert_eq!(t.room(cap).len(), cap);
        assert_eq!(&t.room(1)[..5], b"Hello");
        assert_eq!(t.capacity(), cap);
    }

    #[test]
    fn grows_to_what_is_asked_and_drains_from_the_front() {
        let mut t = TextBuf::with_capacity(4);
        t.extend_from_slice(b"abc");
        assert!(t.room(1000).len() >= 1000);
        assert_eq!(t.as_bytes(), b"abc");
        t.extend_from_slice(&[b'x'; 100]);
        assert_eq!(t.len(), 103);
        t.drain_front(2);
        assert_eq!(&t.as_bytes()[..3], b"cxx");
        assert_eq!(t.len(), 101);
        t.truncate(1);
        assert_eq!(t.as_bytes(), b"c");
        t.drain_front(10);
        assert!(t.is_empty());
    }

    #[test]
    #[should_panic(expected = "advanced past the room")]
    fn advancing_past_the_room_is_refused() {
        let mut t = TextBuf::with_capacity(8);
        t.advance(9);
    }
}
