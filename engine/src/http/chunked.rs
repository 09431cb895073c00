//! `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), decoded as their bytes arrive.
//!
//! Bidders' HTTP servers send their JSON chunked when they stream it, so the bidder pools must
//! read it (`http::client` says which answers are chunked). Here, in `http`, because it is the
//! wire format; incremental, because the pool reads into a fixed buffer whatever the network
//! delivers, and a chunk boundary may fall anywhere in a read, even inside a size line or a
//! CRLF. [`ChunkedDecoder`] is a byte-level state machine: fed any split of the same bytes it
//! produces the same body or the same error, and it allocates nothing (the data bytes are
//! appended to the caller's reused body buffer).
//!
//! Limits, each an error rather than a wait: the decoded body is bounded by the caller's
//! `body_bytes_max` (a chunk announcing more than is left is refused before its data is read),
//! the encoded bytes by `encoded_bytes_max` (so a peer cannot make us parse unbounded framing
//! around a small body), a size line with its extensions by [`CHUNK_LINE_BYTES_MAX`], the
//! trailer section by [`TRAILER_BYTES_MAX`]. Time is the caller's: the pool's deadline covers
//! the whole exchange, so a peer trickling chunks gains nothing.
//!
//! Strict where leniency has been a smuggling vector: every line ends in CRLF (a bare LF is an
//! error), chunk data must be followed by CRLF, the size is hex digits only (no sign, no `0x`,
//! no overflow). Extensions are skipped (no control bytes inside); trailer fields are checked
//! for a `name:` shape and dropped.

/// Longest chunk-size line, extensions included, without its CRLF. A size needs at most 16 hex
/// digits; real extensions are a few dozen bytes. Longer is a peer we do not want to follow.
pub const CHUNK_LINE_BYTES_MAX: usize = 1024;

/// Most bytes of trailer fields after the last chunk, CRLFs included: the same room as a
/// response head ([`super::client::RESPONSE_HEAD_BYTES_MAX`]); bidders send none or one.
pub const TRAILER_BYTES_MAX: usize = 8 * 1024;

/// How many encoded bytes a body limit allows: framing may at most equal the body limit (a
/// body sent in chunks averaging a handful of bytes or more fits; one sent a byte at a time
/// with long extensions does not), plus room for the last chunk and the trailers.
pub fn encoded_bytes_max(body_bytes_max: usize) -> usize {
    body_bytes_max
        .saturating_mul(2)
        .saturating_add(CHUNK_LINE_BYTES_MAX + TRAILER_BYTES_MAX + 16)
}

const _: () = assert!(
    CHUNK_LINE_BYTES_MAX >= 16 + 2,
    "a full u64 size and some extension"
);

/// Why a chunked body cannot be read. Each leaves the connection unusable: where the next
/// response starts is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A size line that is not hex digits, optional whitespace and extensions.
    #[error("bad chunk size")]
    BadChunkSize,
    /// More hex digits than a 64-bit size holds.
    #[error("chunk size overflows")]
    ChunkSizeOverflow,
    /// A size line over [`CHUNK_LINE_BYTES_MAX`].
    #[error("chunk size line too long")]
    LineTooLong,
    /// A line or a chunk's data not followed by CRLF.
    #[error("missing CRLF in chunked body")]
    MissingCrlf,
    /// A trailer line that is not `name: value`.
    #[error("bad trailer field")]
    BadTrailer,
    /// Trailer fields over [`TRAILER_BYTES_MAX`].
    #[error("trailers too large")]
    TrailersTooLarge,
    /// The decoded body would exceed its limit.
    #[error("chunked body too large")]
    BodyTooLarge,
    /// The encoded bytes exceed their limit.
    #[error("chunked encoding too large")]
    EncodedTooLarge,
}

impl ChunkedError {
    /// A short phrase for logs and the bidder's error count.
    pub fn reason(self) -> &'static str {
        match self {
            ChunkedError::BadChunkSize => "bad chunk size",
            ChunkedError::ChunkSizeOverflow => "chunk size overflow",
            ChunkedError::LineTooLong => "chunk line too long",
            ChunkedError::MissingCrlf => "chunk missing crlf",
            ChunkedError::BadTrailer => "bad trailer",
            ChunkedError::TrailersTooLarge => "trailers too large",
            ChunkedError::BodyTooLarge => "chunked body too large",
            ChunkedError::EncodedTooLarge => "chunked encoding too large",
        }
    }
}

/// How far one [`ChunkedDecoder::decode`] call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used. All of them unless `done`; when `done`, what follows belongs to
    /// whatever comes after this message.
    pub consumed: usize,
    /// The last chunk, the trailers and the final CRLF were read: the body is complete.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The hex digits of a size; `digits` read so far.
    Size {
        digits: u8,
    },
    /// Whitespace after the digits, before `;` or CR.
    AfterSize,
    /// Chunk extensions, skipped up to CR.
    Extension,
    /// CR of a size line read, LF expected.
    SizeLf,
    /// `chunk_bytes_left` data bytes to copy.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// A trailer field's name, up to `:`.
    TrailerName,
    /// A trailer field's value, up to CR.
    TrailerValue,
    TrailerLf,
    /// CR of the final empty line read, LF expected.
    FinalLf,
    Done,
}

/// Decodes one chunked body; make a new one (or [`ChunkedDecoder::reset`]) per message.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data bytes left in the current chunk.
    chunk_bytes_left: u64,
    /// Bytes of the current size line.
    line_bytes: usize,
    trailer_bytes: usize,
    /// Data bytes of the chunks announced so far (all read once `Done`).
    body_bytes: usize,
    encoded_bytes: usize,
    body_bytes_max: usize,
    encoded_bytes_max: usize,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `body_bytes_max` decoded bytes, sent in at most
    /// `encoded_bytes_max` bytes (see [`encoded_bytes_max`]).
    pub fn new(body_bytes_max: usize, encoded_bytes_max: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            chunk_bytes_left: 0,
            line_bytes: 0,
            trailer_bytes: 0,
            body_bytes: 0,
            encoded_bytes: 0,
            body_bytes_max,
            encoded_bytes_max,
        }
    }

    /// Ready for the next message, with the same limits.
    pub fn reset(&mut self) {
        *self = ChunkedDecoder::new(self.body_bytes_max, self.encoded_bytes_max);
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes what it can of `input`, appending chunk data to `body`. Call again with the
    /// bytes that arrive next until `done`. After an error the decoder is spent.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Progress, ChunkedError> {
        let mut consumed = 0;
        while consumed < input.len() && self.state != State::Done {
            // Checked byte by byte, so that where the input was split never changes which
            // limit a body breaks first.
            let allowance = self
                .encoded_bytes_max
                .saturating_sub(self.encoded_bytes.saturating_add(consumed));
            if allowance == 0 {
                return Err(ChunkedError::EncodedTooLarge);
            }
            let rest = &input[consumed..];
            if self.state == State::Data {
                // At most the chunk's announced size, which was checked against the limit.
                let take = usize::try_from(self.chunk_bytes_left)
                    .unwrap_or(usize::MAX)
                    .min(rest.len())
                    .min(allowance);
                body.extend_from_slice(&rest[..take]);
                self.chunk_bytes_left -= take as u64;
                consumed += take;
                if self.chunk_bytes_left == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(rest[0])?;
            consumed += 1;
        }
        self.encoded_bytes = self.encoded_bytes.saturating_add(consumed);
        Ok(Progress {
            consumed,
            done: self.state == State::Done,
        })
    }

    /// One framing byte (anything but chunk data).
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        use ChunkedError as E;
        if matches!(
            self.state,
            State::Size { .. } | State::AfterSize | State::Extension
        ) && byte != b'\r'
        {
            self.line_bytes += 1;
            if self.line_bytes > CHUNK_LINE_BYTES_MAX {
                return Err(E::LineTooLong);
            }
        }
        if matches!(
            self.state,
            State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf
        ) {
            self.trailer_bytes += 1;
            if self.trailer_bytes > TRAILER_BYTES_MAX {
                return Err(E::TrailersTooLarge);
            }
        }
        self.state = match (self.state, byte) {
            (State::Size { digits }, _) if byte.is_ascii_hexdigit() => {
                let digit = u64::from(hex_value(byte));
                self.chunk_bytes_left = self
                    .chunk_bytes_left
                    .checked_mul(16)
                    .and_then(|size| size.checked_add(digit))
                    .ok_or(E::ChunkSizeOverflow)?;
                State::Size {
                    digits: digits.saturating_add(1),
                }
            }
            (State::Size { digits: 0 }, b'\n') => return Err(E::MissingCrlf),
            (State::Size { digits: 0 }, _) => return Err(E::BadChunkSize),
            (State::Size { .. }, _) => {
                self.start_chunk()?;
                self.after_size(byte)?
            }
            (State::AfterSize, _) => self.after_size(byte)?,
            (State::Extension, b'\r') => State::SizeLf,
            (State::Extension, b'\n') => return Err(E::MissingCrlf),
            (State::Extension, _) if byte.is_ascii_control() && byte != b'\t' => {
                return Err(E::BadChunkSize)
            }
            (State::Extension, _) => State::Extension,
            (State::SizeLf, b'\n') if self.chunk_bytes_left == 0 => State::TrailerStart,
            (State::SizeLf, b'\n') => State::Data,
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => {
                self.line_bytes = 0;
                State::Size { digits: 0 }
            }
            (State::SizeLf | State::DataCr | State::DataLf, _) => return Err(E::MissingCrlf),
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart | State::TrailerName, _) if is_token_byte(byte) => {
                State::TrailerName
            }
            (State::TrailerStart, b'\n') => return Err(E::MissingCrlf),
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerStart | State::TrailerName, _) => return Err(E::BadTrailer),
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, b'\n') => return Err(E::MissingCrlf),
            (State::TrailerValue, _) if byte.is_ascii_control() && byte != b'\t' => {
                return Err(E::BadTrailer)
            }
            (State::TrailerValue, _) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::FinalLf, b'\n') => State::Done,
            (State::TrailerLf | State::FinalLf, _) => return Err(E::MissingCrlf),
            // `decode` copies data itself and stops at `Done`.
            (State::Data | State::Done, _) => self.state,
        };
        Ok(())
    }

    /// The size is complete: refuse it now if its data could not fit.
    fn start_chunk(&mut self) -> Result<(), ChunkedError> {
        let room = self.body_bytes_max.saturating_sub(self.body_bytes) as u64;
        if self.chunk_bytes_left > room {
            return Err(ChunkedError::BodyTooLarge);
        }
        // Within the limit, which is a usize.
        self.body_bytes += self.chunk_bytes_left as usize;
        Ok(())
    }

    /// The byte after a size's digits (or after whitespace following them).
    fn after_size(&self, byte: u8) -> Result<State, ChunkedError> {
        match byte {
            b' ' | b'\t' => Ok(State::AfterSize),
            b';' => Ok(State::Extension),
            b'\r' => Ok(State::SizeLf),
            b'\n' => Err(ChunkedError::MissingCrlf),
            _ => Err(ChunkedError::BadChunkSize),
        }
    }
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// `tchar` of RFC 9110 §5.6.2: the bytes of a field name.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests;
