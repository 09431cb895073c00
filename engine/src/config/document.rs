//! Reading a TOML config so that one problem does not hide the next.
//!
//! serde stops at the first unknown field or wrong type, and an operator who fixes a file one
//! error per run learns to distrust the checker. So the text is parsed as a TOML document first
//! (a syntax error is the one thing that stops everything: the parser cannot go on), then
//! deserialized whole; each time serde refuses, the problem is recorded with the line of the
//! field it names, that field is taken out of a working copy of the document, and the rest is
//! deserialized again. Every round removes one field, so the loop ends; what remains is a config
//! with defaults where the bad fields were, on which the semantic checks still run.
//!
//! Lines come from the untouched document, by the field's path: the working copy has no
//! spans, and its array indices shift as elements are removed, so paths are translated back to
//! the file's own indices before they are reported.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{DocumentMut, ImDocument, Item, Value};

/// Problems reported per config file. Past this many the file is not a config of ours (or not
/// one a person wrote), and each further round would deserialize the whole document again.
pub(crate) const CONFIG_PROBLEMS_MAX: usize = 100;

/// One step of a path from the document's root.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Where a field is: `http.body_bytes_max`, `bidders[2].media[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Segment>);

impl FieldPath {
    fn from_serde(path: &serde_path_to_error::Path) -> FieldPath {
        use serde_path_to_error::Segment as S;
        FieldPath(
            path.iter()
                .map(|segment| match segment {
                    S::Seq { index } => Segment::Index(*index),
                    S::Map { key } => Segment::Key(key.clone()),
                    S::Enum { variant } => Segment::Key(variant.clone()),
                    S::Unknown => Segment::Key("?".to_owned()),
                })
                .collect(),
        )
    }

    /// Reads back what `Display` writes; the semantic checks name fields this way.
    pub(crate) fn parse(text: &str) -> FieldPath {
        let mut segments = Vec::new();
        for part in text.split('.').filter(|part| !part.is_empty()) {
            let (key, mut indices) = match part.find('[') {
                Some(open) => part.split_at(open),
                None => (part, ""),
            };
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_owned()));
            }
            while let Some(rest) = indices.strip_prefix('[') {
                let Some((index, after)) = rest.split_once(']') else {
                    break;
                };
                match index.parse() {
                    Ok(index) => segments.push(Segment::Index(index)),
                    Err(_) => segments.push(Segment::Key(index.to_owned())),
                }
                indices = after;
            }
        }
        FieldPath(segments)
    }

    /// Whether `self` is `other` or inside it (`http.x` is inside `http`).
    pub(crate) fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (segment_idx, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if segment_idx == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// One problem found while reading the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentProblem {
    /// Empty for a syntax error, which belongs to the file.
    pub(crate) field: FieldPath,
    pub(crate) reason: String,
    pub(crate) line: Option<usize>,
}

/// What a lenient read of a config text gives.
#[derive(Debug)]
pub(crate) struct Lenient<T> {
    /// The value with defaults wherever a problem was; `None` after a syntax error, or when a
    /// problem could not be taken out of the document (at its root).
    pub(crate) value: Option<T>,
    pub(crate) problems: Vec<DocumentProblem>,
    /// Array elements taken out, as (the array in the file's indices, the element's index in
    /// the file), so paths into the value can be given the file's indices back.
    removed: Vec<(FieldPath, usize)>,
    /// The file as parsed, with its spans; `None` after a syntax error.
    document: Option<ImDocument<String>>,
}

impl<T> Lenient<T> {
    /// `path` names a field of `value` (after removals); the same field in the file.
    pub(crate) fn path_in_file(&self, path: &FieldPath) -> FieldPath {
        translate(path, &self.removed)
    }

    /// The line of a field of the file (a path from [`Lenient::path_in_file`]).
    pub(crate) fn line_in_file(&self, path: &FieldPath) -> Option<usize> {
        line_of(self.document.as_ref()?, path)
    }
}

/// Deserializes `text` as a `T`, collecting every problem serde reports (see the module doc).
pub(crate) fn deserialize_leniently<T: DeserializeOwned>(text: &str) -> Lenient<T> {
    let mut lenient = Lenient {
        value: None,
        problems: Vec::new(),
        removed: Vec::new(),
        document: None,
    };
    let original = match ImDocument::parse(text.to_owned()) {
        Ok(document) => document,
        Err(error) => {
            lenient.problems.push(DocumentProblem {
                field: FieldPath::default(),
                reason: one_line(error.message()),
                // An error at the end of the file (an unclosed array) belongs to the last
                // line with something on it, not to the empty line after the last newline.
                line: error
                    .span()
                    .map(|span| line_at(text, span.start.min(text.trim_end().len()))),
            });
            return lenient;
        }
    };
    let mut working: DocumentMut = original.clone().into_mut();
    while lenient.problems.len() < CONFIG_PROBLEMS_MAX {
        let deserializer = toml_edit::de::Deserializer::from(working.clone());
        let error = match serde_path_to_error::deserialize::<_, T>(deserializer) {
            Ok(value) => {
                lenient.value = Some(value);
                break;
            }
            Err(error) => error,
        };
        let working_path = FieldPath::from_serde(error.path());
        let file_path = translate(&working_path, &lenient.removed);
        lenient.problems.push(DocumentProblem {
            line: line_of(&original, &file_path),
            field: file_path.clone(),
            reason: one_line(error.into_inner().message()),
        });
        if !remove(working.as_item_mut(), &working_path.0) {
            break;
        }
        if let (Some(Segment::Index(index)), Some((_, parent))) =
            (file_path.0.last(), file_path.0.split_last())
        {
            lenient.removed.push((FieldPath(parent.to_vec()), *index));
        }
    }
    lenient.document = Some(original);
    lenient
}

/// The line (from 1) of the field at `path` in the file, or of the nearest enclosing field
/// there when the path goes deeper than the file (a missing field names its table).
fn line_of(document: &ImDocument<String>, path: &FieldPath) -> Option<usize> {
    let mut item = document.as_item();
    let mut span: Option<Range<usize>> = None;
    for segment in &path.0 {
        let (next, next_span) = match segment {
            Segment::Key(key) => {
                let Some(table) = item.as_table_like() else {
                    break;
                };
                let Some(next) = table.get(key) else {
                    break;
                };
                // The key's own line: an unknown field is a key, and a value sits on its
                // key's line unless it is a multi-line array, whose elements are indexed.
                let key_span = table.key(key).and_then(|key| key.span());
                (next, key_span.or_else(|| next.span()))
            }
            Segment::Index(index) => {
                let Some(next) = item.get(*index) else {
                    break;
                };
                (next, next.span())
            }
        };
        item = next;
        span = next_span.or(span);
    }
    span.map(|span| line_at(document.raw(), span.start))
}

/// Takes the field at `path` out of the document; false when it cannot (the root, or a path
/// the document does not have, which would make the next round fail the same way).
fn remove(root: &mut Item, path: &[Segment]) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let mut parent = root;
    for segment in parent_path {
        let next = match segment {
            Segment::Key(key) => parent
                .as_table_like_mut()
                .and_then(|table| table.get_mut(key)),
            Segment::Index(index) => parent.get_mut(*index),
        };
        let Some(next) = next else {
            return false;
        };
        parent = next;
    }
    match (last, parent) {
        (Segment::Key(key), parent) => parent
            .as_table_like_mut()
            .and_then(|table| table.remove(key))
            .is_some(),
        (Segment::Index(index), Item::ArrayOfTables(tables)) if *index < tables.len() => {
            tables.remove(*index);
            true
        }
        (Segment::Index(index), Item::Value(Value::Array(array))) if *index < array.len() => {
            array.remove(*index);
            true
        }
        _ => false,
    }
}

/// Gives a path into the working document the file's indices: each element removed from the
/// same array at or before an index shifted the later ones down by one.
fn translate(path: &FieldPath, removed: &[(FieldPath, usize)]) -> FieldPath {
    let mut in_file = FieldPath::default();
    for segment in &path.0 {
        let segment = match segment {
            Segment::Index(index) => {
                let mut removed_here: Vec<usize> = removed
                    .iter()
                    .filter(|(array, _)| *array == in_file)
                    .map(|(_, removed_idx)| *removed_idx)
                    .collect();
                removed_here.sort_unstable();
                let mut index_in_file = *index;
                for removed_idx in removed_here {
                    if removed_idx <= index_in_file {
                        index_in_file += 1;
                    }
                }
                Segment::Index(index_in_file)
            }
            key => key.clone(),
        };
        in_file.0.push(segment);
    }
    in_file
}

/// Line (from 1) of the byte at `offset`.
fn line_at(text: &str, offset: usize) -> usize {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    before.iter().filter(|&&byte| byte == b'\n').count() + 1
}

/// A parser message on one line, so each problem is one line of output.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Doc {
        a: Section,
        list: Vec<Entry>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Section {
        x: u32,
        y: String,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Entry {
        n: u32,
    }

    /// (field, line) of each problem, in order.
    type Expected = [(&'static str, Option<usize>)];

    fn problems(text: &str) -> Vec<(String, Option<usize>)> {
        deserialize_leniently::<Doc>(text)
            .problems
            .iter()
            .map(|problem| (problem.field.to_string(), problem.line))
            .collect()
    }

    #[test]
    fn every_problem_with_its_line() {
        let cases: &[(&str, &Expected)] = &[
            ("", &[]),
            ("[a]\nx = 1\n", &[]),
            ("[a]\nxx = 1\n", &[("a.xx", Some(2))]),
            (
                "[a]\nx = \"one\"\ny = 2\nz = 3\n",
                &[("a.x", Some(2)), ("a.y", Some(3)), ("a.z", Some(4))],
            ),
            ("a = 5\nb = 1\n", &[("a", Some(1)), ("b", Some(2))]),
            ("a.x = \"s\"\n", &[("a.x", Some(1))]),
            ("a = { x = 1, w = 2 }\n", &[("a.w", Some(1))]),
            (
                "[[list]]\nm = 1\n[[list]]\nn = 2\n[[list]]\nn = \"x\"\n",
                &[("list[0].m", Some(2)), ("list[2].n", Some(6))],
            ),
            // A whole element of the wrong type goes; the next keeps its index in the file.
            (
                "list = [\n  1,\n  { n = 2 },\n  { n = -1 },\n]\n",
                &[("list[0]", Some(2)), ("list[2].n", Some(4))],
            ),
        ];
        for (text, expected) in cases {
            let expected: Vec<(String, Option<usize>)> = expected
                .iter()
                .map(|(field, line)| (field.to_string(), *line))
                .collect();
            assert_eq!(problems(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_rest_is_read_around_the_problems() {
        let lenient = deserialize_leniently::<Doc>("[a]\nx = \"one\"\ny = \"kept\"\nq = 1\n");
        let value = lenient.value.expect("read around the problems");
        assert_eq!(
            value.a,
            Section {
                x: 0,
                y: "kept".into()
            }
        );
    }

    #[test]
    fn a_syntax_error_stops_with_its_line() {
        let lenient = deserialize_leniently::<Doc>("[a]\nx = 1\ny = [\n");
        assert!(lenient.value.is_none());
        assert_eq!(lenient.problems.len(), 1);
        assert_eq!(lenient.problems[0].line, Some(3));
        assert!(lenient.problems[0].field.0.is_empty());
        assert!(!lenient.problems[0].reason.contains('\n'));
    }

    #[test]
    fn field_paths_read_back() {
        for text in [
            "a",
            "a.b",
            "bidders[3].media[0]",
            "currency.rates.EUR",
            "x[1][2]",
        ] {
            assert_eq!(FieldPath::parse(text).to_string(), text);
        }
        assert!(FieldPath::parse("http.x").starts_with(&FieldPath::parse("http")));
        assert!(!FieldPath::parse("httpx").starts_with(&FieldPath::parse("http")));
    }
}
