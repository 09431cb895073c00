//! Whether a creative can serve an impression: its format is one the impression accepts, and
//! its size, MIME type and duration fit. The auction uses [`creative_fits`] to choose a
//! creative; the index uses the same rules on its compact copy of the creatives
//! ([`CreativeFit`]) for what its posting lists cannot decide alone (flexible sizes, MIME
//! types, durations), so the two cannot disagree.
//!
//! Rules:
//! - banner: the impression has a banner, and the creative's `w`x`h` equals one of its sizes or
//!   fits one of its flexible sizes: `w >= wmin` and `w:h == wratio:hratio` (compared as
//!   `w * hratio == h * wratio`, exact in `u64`). A creative or a ratio with a zero side never
//!   fits. An interstitial banner without sizes fits nothing: the request does not carry the
//!   screen size the creative would have to match.
//! - video and audio: the impression has that object, one of the creative's MIME types is
//!   among its `mimes` (ASCII case-insensitive), and the duration lies within
//!   `[minduration, maxduration]`, where 0 means "no bound".
//! - native: the impression has a native object (the Native assets are the auction's concern).

use crate::adrequest::{AdRequest, FlexSize, Imp, MediaKinds, Size};
use crate::campaign::{Creative, CreativeFormat};

/// Whether `creative` can serve `imp` of `request` (format, size, MIME type, duration). See
/// the module doc for the rules.
pub fn creative_fits(creative: &Creative, request: &AdRequest, imp: &Imp) -> bool {
    match creative.format {
        CreativeFormat::Banner => {
            imp.media.contains(MediaKinds::BANNER)
                && banner_fits(
                    creative.w,
                    creative.h,
                    request.sizes(imp.sizes),
                    request.flex_sizes(imp.flex_sizes),
                )
        }
        CreativeFormat::Video => imp.video.is_some_and(|video| {
            duration_fits(
                creative.duration_s,
                video.minduration_s,
                video.maxduration_s,
            ) && mime_accepted(&creative.mimes, request, video.mimes)
        }),
        CreativeFormat::Audio => imp.audio.is_some_and(|audio| {
            duration_fits(
                creative.duration_s,
                audio.minduration_s,
                audio.maxduration_s,
            ) && mime_accepted(&creative.mimes, request, audio.mimes)
        }),
        CreativeFormat::Native => imp.media.contains(MediaKinds::NATIVE),
    }
}

fn mime_accepted(
    creative_mimes: &[String],
    request: &AdRequest,
    imp_mimes: crate::adrequest::ListRef<crate::adrequest::TextRef>,
) -> bool {
    request.texts(imp_mimes).any(|imp_mime| {
        creative_mimes
            .iter()
            .any(|mime| mime.eq_ignore_ascii_case(imp_mime))
    })
}

/// A banner of `w`x`h` fits one of the fixed `sizes` or one of the `flex_sizes`.
pub(crate) fn banner_fits(w: u32, h: u32, sizes: &[Size], flex_sizes: &[FlexSize]) -> bool {
    if w == 0 || h == 0 {
        return false;
    }
    sizes.contains(&Size { w, h }) || flex_sizes.iter().any(|&flex| flex_fits(w, h, flex))
}

/// `w`x`h` is at least `wmin` wide with the aspect ratio `wratio:hratio`.
pub(crate) fn flex_fits(w: u32, h: u32, flex: FlexSize) -> bool {
    flex.wratio != 0
        && flex.hratio != 0
        && w >= flex.wmin
        && u64::from(w) * u64::from(flex.hratio) == u64::from(h) * u64::from(flex.wratio)
}

/// `duration_s` within `[min_s, max_s]`, a 0 bound meaning none.
pub(crate) fn duration_fits(duration_s: u32, min_s: u32, max_s: u32) -> bool {
    (min_s == 0 || duration_s >= min_s) && (max_s == 0 || duration_s <= max_s)
}

/// What the index keeps of a creative to decide fit: 24 bytes instead of the model's strings.
/// MIME types are ids into the index's MIME table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CreativeFit {
    pub(crate) format: CreativeFormat,
    pub(crate) w: u32,
    pub(crate) h: u32,
    pub(crate) duration_s: u32,
    /// Range of the index's `creative_mime_ids`.
    pub(crate) mime_start: u32,
    pub(crate) mime_end: u32,
}

/// An impression's requirements, prepared once per impression for [`CreativeFit::fits`]: the
/// impression's MIME types as bitsets over the index's MIME ids.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImpFit<'a> {
    pub(crate) media: MediaKinds,
    pub(crate) sizes: &'a [Size],
    pub(crate) flex_sizes: &'a [FlexSize],
    /// `(minduration_s, maxduration_s)` when the impression has the object.
    pub(crate) video_durations_s: Option<(u32, u32)>,
    pub(crate) audio_durations_s: Option<(u32, u32)>,
    pub(crate) video_mime_words: &'a [u64],
    pub(crate) audio_mime_words: &'a [u64],
}

fn has_mime(mime_words: &[u64], mime_ids: &[u32]) -> bool {
    mime_ids.iter().any(|&mime_id| {
        mime_words
            .get(mime_id as usize / 64)
            .is_some_and(|word| word & (1 << (mime_id % 64)) != 0)
    })
}

impl CreativeFit {
    /// The same rules as [`creative_fits`], on the compact copy.
    pub(crate) fn fits(&self, imp: &ImpFit<'_>, creative_mime_ids: &[u32]) -> bool {
        let mime_ids = creative_mime_ids
            .get(self.mime_start as usize..self.mime_end as usize)
            .unwrap_or(&[]);
        match self.format {
            CreativeFormat::Banner => {
                imp.media.contains(MediaKinds::BANNER)
                    && banner_fits(self.w, self.h, imp.sizes, imp.flex_sizes)
            }
            CreativeFormat::Video => imp.video_durations_s.is_some_and(|(min_s, max_s)| {
                duration_fits(self.duration_s, min_s, max_s)
                    && has_mime(imp.video_mime_words, mime_ids)
            }),
            CreativeFormat::Audio => imp.audio_durations_s.is_some_and(|(min_s, max_s)| {
                duration_fits(self.duration_s, min_s, max_s)
                    && has_mime(imp.audio_mime_words, mime_ids)
            }),
            CreativeFormat::Native => imp.media.contains(MediaKinds::NATIVE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_sizes_need_the_ratio_and_the_minimum_width() {
        let flex = FlexSize {
            wmin: 300,
            wratio: 6,
            hratio: 5,
        };
        assert!(flex_fits(300, 250, flex));
        assert!(flex_fits(600, 500, flex));
        assert!(!flex_fits(240, 200, flex)); // too narrow
        assert!(!flex_fits(300, 251, flex)); // wrong ratio
        let degenerate = FlexSize {
            wmin: 0,
            wratio: 0,
            hratio: 0,
        };
        assert!(!flex_fits(300, 250, degenerate));
        assert!(!banner_fits(0, 0, &[Size { w: 0, h: 0 }], &[flex]));
    }

    #[test]
    fn zero_duration_bounds_are_open() {
        assert!(duration_fits(30, 0, 0));
        assert!(duration_fits(30, 15, 30));
        assert!(!duration_fits(31, 15, 30));
        assert!(!duration_fits(10, 15, 0));
        assert!(duration_fits(1000, 15, 0));
    }
}
