//! How an edge fills an [`AdRequest`]: appending strings, codes and sizes to its pools and
//! getting back the references the request's fields hold.
//!
//! Crate-private, so that only an edge (today `openrtb`) writes a request and every reference
//! it stores points inside the pool it names. Nothing here reads the wire: the edge decides
//! which values to copy, these methods decide where they live.

use std::marker::PhantomData;

use super::{AdRequest, Buffers, Currency, FlexSize, Imp, ListRef, Size, TextRef};

impl AdRequest {
    /// The pools the request's `TextRef`s and `ListRef`s point into.
    pub(crate) fn buffers_mut(&mut self) -> &mut Buffers {
        &mut self.buffers
    }

    pub(crate) fn push_imp(&mut self, imp: Imp) {
        self.imps.push(imp);
    }

    /// Appends to `cur`, the currencies bids may use.
    pub(crate) fn extend_currencies(&mut self, currencies: impl IntoIterator<Item = Currency>) {
        self.currencies.extend(currencies);
    }
}

impl Buffers {
    pub(crate) fn push_text(&mut self, value: &str) -> TextRef {
        let start = offset(self.text.len());
        self.text.push_str(value);
        TextRef {
            start,
            end: offset(self.text.len()),
        }
    }

    /// Text already in the arena.
    pub(crate) fn text(&self, text: TextRef) -> &str {
        self.text
            .get(text.start as usize..text.end as usize)
            .unwrap_or("")
    }

    /// A sub-range of text already in the arena (`value` must be a slice of `within`).
    pub(crate) fn sub_text(&self, within: TextRef, value: &str) -> TextRef {
        let whole = self.text(within);
        let skipped = (value.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
        let start = within.start.saturating_add(offset(skipped));
        let end = start.saturating_add(offset(value.len())).min(within.end);
        TextRef {
            start: start.min(end),
            end,
        }
    }

    pub(crate) fn push_texts<'s>(
        &mut self,
        values: impl IntoIterator<Item = &'s str>,
    ) -> ListRef<TextRef> {
        let start = offset(self.texts.len());
        for value in values {
            let text = self.push_text(value);
            self.texts.push(text);
        }
        list_ref(start, self.texts.len())
    }

    /// Codes that fit a `u16`, in order; the others are skipped.
    pub(crate) fn push_codes(&mut self, codes: impl IntoIterator<Item = i64>) -> ListRef<u16> {
        let start = offset(self.codes.len());
        self.codes.extend(
            codes
                .into_iter()
                .filter_map(|code| u16::try_from(code).ok()),
        );
        list_ref(start, self.codes.len())
    }

    /// Pushes codes sorted and without repeats, so lookups can binary-search.
    pub(crate) fn push_code_set(&mut self, codes: impl IntoIterator<Item = i64>) -> ListRef<u16> {
        let start = self.codes.len();
        self.codes.extend(
            codes
                .into_iter()
                .filter_map(|code| u16::try_from(code).ok()),
        );
        let set = self.codes.get_mut(start..).unwrap_or(&mut []);
        set.sort_unstable();
        // Compact in place; Vec::dedup works on the whole Vec only.
        let mut kept = 0;
        for read in 0..set.len() {
            if kept == 0 || set.get(kept - 1) != set.get(read) {
                set.swap(kept, read);
                kept += 1;
            }
        }
        self.codes.truncate(start + kept);
        list_ref(offset(start), self.codes.len())
    }

    /// Starts one banner's size lists; push its sizes, then `finish`.
    pub(crate) fn banner_sizes(&mut self) -> BannerSizes<'_> {
        BannerSizes {
            sizes_start: offset(self.sizes.len()),
            flex_start: offset(self.flex_sizes.len()),
            buffers: self,
        }
    }
}

/// One banner's fixed and flexible sizes while they are being appended.
pub(crate) struct BannerSizes<'b> {
    buffers: &'b mut Buffers,
    sizes_start: u32,
    flex_start: u32,
}

impl BannerSizes<'_> {
    /// Appends a fixed size unless it has a zero side or this banner already lists it.
    pub(crate) fn push_size(&mut self, size: Size) {
        let known = self
            .buffers
            .sizes
            .get(self.sizes_start as usize..)
            .unwrap_or(&[])
            .contains(&size);
        if size.w > 0 && size.h > 0 && !known {
            self.buffers.sizes.push(size);
        }
    }

    pub(crate) fn push_flex_size(&mut self, size: FlexSize) {
        self.buffers.flex_sizes.push(size);
    }

    pub(crate) fn finish(self) -> (ListRef<Size>, ListRef<FlexSize>) {
        (
            list_ref(self.sizes_start, self.buffers.sizes.len()),
            list_ref(self.flex_start, self.buffers.flex_sizes.len()),
        )
    }
}

fn offset(len: usize) -> u32 {
    // Edges refuse bodies over u32::MAX bytes (`openrtb::BODY_BYTES_MAX`), and the arena never
    // holds more than the body, so this saturates only if that limit is removed.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn list_ref<T>(start: u32, end: usize) -> ListRef<T> {
    ListRef {
        start,
        end: offset(end),
        pool: PhantomData,
    }
}
