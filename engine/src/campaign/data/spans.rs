//! Where each advertiser and campaign entry sits in a data file's text.
//!
//! serde stops at the first type error, but an operator fixing a file of ten thousand
//! campaigns wants every broken entry at once, each with its line and column. So the loader
//! first checks the file as a whole (syntax and top-level shape, through serde), then this
//! scanner finds the text of every element of `"advertisers"` and `"campaigns"`, and each entry
//! is deserialized on its own: a type error in one entry no longer hides the next, and its
//! position inside the entry maps back to the file. (serde_json's `RawValue` would do the
//! splitting, but it needs a feature the engine does not enable.)
//!
//! The scanner runs only on text serde has already accepted as JSON, so it only needs to find
//! boundaries; it still never indexes out of bounds or panics on anything else, and it is
//! iterative, so nesting depth cannot overflow the stack.

/// One entry's text: `start..end` in bytes, starting at `line`:`column` (both from 1, the
/// column in bytes, as serde_json counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub(super) struct FileSpans {
    pub advertisers: Vec<Span>,
    pub campaigns: Vec<Span>,
}

struct Scanner<'t> {
    bytes: &'t [u8],
    at: usize,
    line: usize,
    line_start: usize,
}

/// Why the text does not have the shape the scanner expects; only possible if serde accepted
/// something the scanner does not (e.g. a top-level array, which serde reads as a struct).
const NOT_AN_OBJECT: &str =
    "the file must be a JSON object with \"advertisers\" and \"campaigns\" arrays";

impl<'t> Scanner<'t> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' => self.at += 1,
                b'\n' => self.newline(),
                _ => break,
            }
        }
    }

    fn newline(&mut self) {
        self.at += 1;
        self.line += 1;
        self.line_start = self.at;
    }

    fn expect(&mut self, byte: u8) -> Result<(), &'static str> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(NOT_AN_OBJECT)
        }
    }

    /// Skips a string whose opening quote is at `self.at`; returns the bytes between the
    /// quotes. JSON strings hold no raw newline, so the line count is unaffected.
    fn string(&mut self) -> Result<&'t [u8], &'static str> {
        self.at += 1;
        let start = self.at;
        loop {
            // Jump to the next quote or backslash: string contents are most of a data file
            // (markup), and a search beats a byte-by-byte match.
            let rest = self.bytes.get(self.at..).unwrap_or_default();
            let skip = rest
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\')
                .ok_or(NOT_AN_OBJECT)?;
            self.at += skip;
            match self.peek() {
                Some(b'"') => break,
                _ => self.at += 2,
            }
        }
        let raw = self.bytes.get(start..self.at).ok_or(NOT_AN_OBJECT)?;
        self.at += 1;
        Ok(raw)
    }

    /// Skips one value starting at `self.at` (after whitespace).
    fn value(&mut self) -> Result<(), &'static str> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{' | b'[') => self.container(),
            Some(_) => {
                // A number, true, false or null: it ends at a delimiter.
                while let Some(byte) = self.peek() {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.at += 1;
                }
                Ok(())
            }
            None => Err(NOT_AN_OBJECT),
        }
    }

    /// Skips an object or array whose opening bracket is at `self.at`, counting depth rather
    /// than recursing.
    fn container(&mut self) -> Result<(), &'static str> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.at += 1;
                }
                Some(b'}' | b']') => {
                    depth = depth.saturating_sub(1);
                    self.at += 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(b'\n') => self.newline(),
                Some(_) => self.at += 1,
                None => return Err(NOT_AN_OBJECT),
            }
        }
    }

    /// The elements of the array starting at `self.at`.
    fn array_elements(&mut self) -> Result<Vec<Span>, &'static str> {
        let mut spans = Vec::new();
        self.expect(b'[')?;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(spans);
        }
        loop {
            self.skip_whitespace();
            let (start, line, column) = (self.at, self.line, self.at - self.line_start + 1);
            self.value()?;
            spans.push(Span {
                start,
                end: self.at,
                line,
                column,
            });
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(spans);
                }
                _ => return Err(NOT_AN_OBJECT),
            }
        }
    }
}

/// Finds every entry of the top-level `"advertisers"` and `"campaigns"` arrays of `text`.
pub(super) fn file_spans(text: &str) -> Result<FileSpans, &'static str> {
    let mut scanner = Scanner {
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
    };
    let mut spans = FileSpans::default();
    scanner.expect(b'{')?;
    scanner.skip_whitespace();
    if scanner.peek() == Some(b'}') {
        return Ok(spans);
    }
    loop {
        scanner.skip_whitespace();
        if scanner.peek() != Some(b'"') {
            return Err(NOT_AN_OBJECT);
        }
        let raw_key = std::str::from_utf8(scanner.string()?).map_err(|_| NOT_AN_OBJECT)?;
        // A key may be written with escapes ("campaign\u0073"); serde accepted it, so must we.
        let key = if raw_key.contains('\\') {
            serde_json::from_str::<String>(&format!("\"{raw_key}\"")).map_err(|_| NOT_AN_OBJECT)?
        } else {
            raw_key.to_owned()
        };
        scanner.expect(b':')?;
        scanner.skip_whitespace();
        match key.as_str() {
            "advertisers" if scanner.peek() == Some(b'[') => {
                spans.advertisers = scanner.array_elements()?;
            }
            "campaigns" if scanner.peek() == Some(b'[') => {
                spans.campaigns = scanner.array_elements()?;
            }
            _ => scanner.value()?,
        }
        scanner.skip_whitespace();
        match scanner.peek() {
            Some(b',') => scanner.at += 1,
            Some(b'}') => return Ok(spans),
            _ => return Err(NOT_AN_OBJECT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'t>(text: &'t str, spans: &[Span]) -> Vec<&'t str> {
        spans
            .iter()
            .map(|span| text.get(span.start..span.end).unwrap_or("?"))
            .collect()
    }

    #[test]
    fn finds_entries_with_positions() {
        let text = "{\n  \"advertisers\": [ {\"id\": \"a\"} ],\n  \"campaigns\": [\n    {\"id\": \"c1\", \"x\": [1, {\"y\": \"}]\\\"\"}]},\n    {\"id\": \"c2\"}, 7, \"s\", null\n  ]\n}\n";
        let spans = file_spans(text).expect("valid");
        assert_eq!(texts(text, &spans.advertisers), ["{\"id\": \"a\"}"]);
        assert_eq!(
            texts(text, &spans.campaigns),
            [
                "{\"id\": \"c1\", \"x\": [1, {\"y\": \"}]\\\"\"}]}",
                "{\"id\": \"c2\"}",
                "7",
                "\"s\"",
                "null"
            ]
        );
        assert_eq!(
            (spans.advertisers[0].line, spans.advertisers[0].column),
            (2, 20)
        );
        assert_eq!((spans.campaigns[0].line, spans.campaigns[0].column), (4, 5));
        assert_eq!((spans.campaigns[1].line, spans.campaigns[1].column), (5, 5));
    }

    #[test]
    fn escaped_keys_and_empty_arrays() {
        let text = r#"{"campaign\u0073": [], "advertisers": [{}]}"#;
        let spans = file_spans(text).expect("valid");
        assert!(spans.campaigns.is_empty());
        assert_eq!(spans.advertisers.len(), 1);
        assert!(file_spans("{}").is_ok());
    }

    #[test]
    fn refuses_other_shapes_without_panicking() {
        for text in [
            "",
            "[]",
            "[[], []]",
            "{",
            "{\"campaigns\": [",
            "{\"a\" 1}",
            "\"x\"",
        ] {
            assert!(file_spans(text).is_err(), "{text}");
        }
    }
}
