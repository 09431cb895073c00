//! Key tables: from a request's value (a domain, a segment id, a MIME type, a banner size) to
//! what the index stored for it. Text is matched ASCII case-insensitively without copying or
//! lower-casing the request's text: keys are stored lower-cased, and the hash folds upper-case
//! ASCII letters as it reads, eight bytes at a time. This keeps a lookup free of allocation
//! and of a scratch buffer whose length would have to be bounded.
//!
//! The tables are hashbrown `HashTable`s, which take the hash and the equality as closures, so
//! a `&str` from the request's arena can probe a table of keys held in one string arena.
//! The hash is seeded per index from `std`'s random state. The keys come from campaign data
//! (trusted); requests only probe, so a hostile request cannot grow a table or lengthen its
//! probe sequences.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::adrequest::Size;

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
const FINAL_MULTIPLIER: u64 = 0xa076_1d64_78bd_642f;

/// The product's high and low halves folded together: every input bit reaches every output
/// bit, which hashbrown needs (it uses both the low bits and the top seven).
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Lower-cases the ASCII letters of eight bytes at once and leaves every other byte (including
/// non-ASCII UTF-8 bytes) as it is, like `u8::to_ascii_lowercase` on each byte.
#[inline]
pub(crate) fn ascii_lowercase_word(word: u64) -> u64 {
    const LOW_SEVEN_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_SEVEN_BITS;
    // Adding never carries into the next byte: each byte is at most 0x7f + 0x3f.
    let above_z = low + 0x2525_2525_2525_2525; // high bit set where byte > b'Z'
    let from_a = low + 0x3f3f_3f3f_3f3f_3f3f; // high bit set where byte >= b'A'
    let upper = from_a & !above_z & !word & HIGH_BITS;
    word | (upper >> 2)
}

/// The 1 to 7 bytes of a tail as one word, from at most two loads: a byte-wise copy would
/// call `memcpy`. Overlapping reads repeat bytes, which is fine for a hash.
#[inline]
fn tail_word(tail: &[u8]) -> u64 {
    let len = tail.len();
    debug_assert!((1..8).contains(&len));
    let u32_at = |start: usize| {
        tail.get(start..start + 4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map_or(0, |bytes| u64::from(u32::from_le_bytes(bytes)))
    };
    if len >= 4 {
        u32_at(0) | u32_at(len - 4) << 32
    } else {
        let byte_at = |idx: usize| u64::from(tail.get(idx).copied().unwrap_or(0));
        byte_at(0) | byte_at(len / 2) << 8 | byte_at(len - 1) << 16
    }
}

/// The hash of `text` as if it were ASCII lower-cased.
#[inline]
pub(crate) fn folded_text_hash(seed: u64, text: &[u8]) -> u64 {
    let mut hash = seed ^ text.len() as u64;
    let mut chunks = text.chunks_exact(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let word = ascii_lowercase_word(u64::from_le_bytes(bytes));
        hash = folded_multiply(hash ^ word, MULTIPLIER);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let word = ascii_lowercase_word(tail_word(tail));
        hash = folded_multiply(hash ^ word, MULTIPLIER);
    }
    folded_multiply(hash, FINAL_MULTIPLIER)
}

/// Whether `text` equals `key` (lower-case) but for the case of ASCII letters, eight bytes at
/// a time.
#[inline]
fn folded_eq(key: &[u8], text: &[u8]) -> bool {
    if key.len() != text.len() {
        return false;
    }
    let mut key_chunks = key.chunks_exact(8);
    let mut text_chunks = text.chunks_exact(8);
    for (key_chunk, text_chunk) in (&mut key_chunks).zip(&mut text_chunks) {
        let mut key_bytes = [0u8; 8];
        let mut text_bytes = [0u8; 8];
        key_bytes.copy_from_slice(key_chunk);
        text_bytes.copy_from_slice(text_chunk);
        if u64::from_le_bytes(key_bytes) != ascii_lowercase_word(u64::from_le_bytes(text_bytes)) {
            return false;
        }
    }
    key_chunks
        .remainder()
        .iter()
        .zip(text_chunks.remainder())
        .all(|(&key_byte, &text_byte)| key_byte == text_byte.to_ascii_lowercase())
}

/// A seed for one index's tables.
pub(crate) fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
}

#[derive(Debug)]
struct TextEntry<V> {
    text_start: usize,
    text_len: usize,
    value: V,
}

/// A table from lower-cased text to `V`, probed case-insensitively.
#[derive(Debug)]
pub(crate) struct TextKeys<V> {
    seed: u64,
    /// Every key, lower-cased, one after another.
    texts: String,
    table: HashTable<TextEntry<V>>,
}

impl<V> TextKeys<V> {
    pub(crate) fn new(seed: u64) -> Self {
        TextKeys {
            seed,
            texts: String::new(),
            table: HashTable::new(),
        }
    }

    fn entry_text<'t>(texts: &'t str, entry: &TextEntry<V>) -> &'t [u8] {
        texts
            .as_bytes()
            .get(entry.text_start..entry.text_start + entry.text_len)
            .unwrap_or(&[])
    }

    /// Adds a key; a key already present (in any case) keeps its first value.
    pub(crate) fn insert(&mut self, key: &str, value: V) {
        let hash = folded_text_hash(self.seed, key.as_bytes());
        let TextKeys { seed, texts, table } = self;
        let known = table
            .find(hash, |entry| {
                Self::entry_text(texts, entry).eq_ignore_ascii_case(key.as_bytes())
            })
            .is_some();
        if known {
            return;
        }
        let text_start = texts.len();
        texts.extend(key.chars().map(|c| c.to_ascii_lowercase()));
        let entry = TextEntry {
            text_start,
            text_len: texts.len() - text_start,
            value,
        };
        let seed = *seed;
        let texts = &*texts;
        table.insert_unique(hash, entry, |entry| {
            folded_text_hash(seed, Self::entry_text(texts, entry))
        });
    }

    /// Gives back what the key arena's growth over-allocated.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.texts.shrink_to_fit();
    }

    #[inline]
    pub(crate) fn get(&self, text: &str) -> Option<&V> {
        let hash = folded_text_hash(self.seed, text.as_bytes());
        self.table
            .find(hash, |entry| {
                folded_eq(Self::entry_text(&self.texts, entry), text.as_bytes())
            })
            .map(|entry| &entry.value)
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.texts.capacity() + self.table.allocation_size()
    }
}

/// A table from a banner size to `V`.
#[derive(Debug)]
pub(crate) struct SizeKeys<V> {
    seed: u64,
    table: HashTable<(Size, V)>,
}

impl<V> SizeKeys<V> {
    pub(crate) fn new(seed: u64) -> Self {
        SizeKeys {
            seed,
            table: HashTable::new(),
        }
    }

    fn hash(seed: u64, size: Size) -> u64 {
        let packed = u64::from(size.w) << 32 | u64::from(size.h);
        folded_multiply(seed ^ packed, MULTIPLIER)
    }

    /// Adds a key; a key already present keeps its first value.
    pub(crate) fn insert(&mut self, size: Size, value: V) {
        let seed = self.seed;
        let hash = Self::hash(seed, size);
        if self.table.find(hash, |(key, _)| *key == size).is_none() {
            self.table
                .insert_unique(hash, (size, value), |(key, _)| Self::hash(seed, *key));
        }
    }

    #[inline]
    pub(crate) fn get(&self, size: Size) -> Option<&V> {
        self.table
            .find(Self::hash(self.seed, size), |(key, _)| *key == size)
            .map(|(_, value)| value)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.table.iter().map(|(_, value)| value)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.table.allocation_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lowercasing_matches_the_byte_wise_one_for_every_byte() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut bytes = [b'x'; 8];
                bytes[position] = byte;
                let folded = ascii_lowercase_word(u64::from_le_bytes(bytes)).to_le_bytes();
                let expected = bytes.map(|b| b.to_ascii_lowercase());
                assert_eq!(folded, expected, "byte {byte:#x} at {position}");
            }
        }
    }

    #[test]
    fn folded_eq_ignores_the_case_of_the_text_only() {
        assert!(folded_eq(b"news.example.com", b"NEWS.Example.COM"));
        assert!(folded_eq(b"iab3", b"IAB3"));
        assert!(folded_eq(b"", b""));
        assert!(!folded_eq(b"news.example.com", b"news.example.con"));
        assert!(!folded_eq(b"news.example.com", b"news.example.co"));
        assert!(!folded_eq(b"example[", b"example{"));
        // `[` is not `{` lower-cased, and non-ASCII bytes are left as they are.
        assert!(!folded_eq("caf\u{e9}".as_bytes(), "CAF\u{c9}".as_bytes()));
    }

    #[test]
    fn text_keys_match_case_insensitively() {
        let mut keys = TextKeys::new(random_seed());
        keys.insert("news.example.com", 1);
        keys.insert("IAB3", 2);
        keys.insert("iab3", 3); // same key: first value kept
        keys.insert("a-much-longer-key-than-eight-bytes.example", 4);
        assert_eq!(keys.get("NEWS.Example.COM"), Some(&1));
        assert_eq!(keys.get("iab3"), Some(&2));
        assert_eq!(keys.get("IaB3"), Some(&2));
        assert_eq!(
            keys.get("A-MUCH-LONGER-KEY-THAN-EIGHT-BYTES.EXAMPLE"),
            Some(&4)
        );
        assert_eq!(keys.get("example.com"), None);
        assert_eq!(keys.get(""), None);
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn size_keys_tell_sizes_apart() {
        let mut keys = SizeKeys::new(random_seed());
        keys.insert(Size { w: 300, h: 250 }, 1);
        keys.insert(Size { w: 250, h: 300 }, 2);
        assert_eq!(keys.get(Size { w: 300, h: 250 }), Some(&1));
        assert_eq!(keys.get(Size { w: 250, h: 300 }), Some(&2));
        assert_eq!(keys.get(Size { w: 300, h: 251 }), None);
    }
}
