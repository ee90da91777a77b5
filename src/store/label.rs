//! A readable label per test case, so views can name cases by more than their md5 hash.
//!
//! The label is what the case provides as `label` or `name`, else its first short string
//! fields; a case with neither has none and views show its hash. Derived once per case
//! when a suite starts and stored with each case result.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// Fields longer than this are too long to name a case by.
pub const SHORT_FIELD_CHARS: usize = 60;
/// How many short string fields make a label.
pub const LABEL_FIELDS: usize = 2;
/// A label given as `label`/`name` is cut to this many characters.
pub const MAX_LABEL_CHARS: usize = 120;

/// The label of a case from its serialized JSON: a non-empty string `label` or `name`
/// field, else its first short string fields joined by " · ", else None.
pub fn label_from_json(case_json: &str) -> Option<String> {
    let scan: Scan = serde_json::from_str(case_json).ok()?;
    if let Some(given) = scan.given {
        return Some(given);
    }
    (!scan.short.is_empty()).then(|| scan.short.join(" · "))
}

/// A label the case gave itself: trimmed, cut to `MAX_LABEL_CHARS`, None when blank.
pub fn clean_label(text: &str) -> Option<String> {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return None;
    }
    if one_line.chars().count() <= MAX_LABEL_CHARS {
        return Some(one_line);
    }
    let cut: String = one_line.chars().take(MAX_LABEL_CHARS - 1).collect();
    Some(cut + "…")
}

/// What one pass over the case's top-level fields finds; other values are skipped unparsed.
#[derive(Default)]
struct Scan {
    given: Option<String>,
    short: Vec<String>,
}

impl<'de> serde::Deserialize<'de> for Scan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scan, D::Error> {
        d.deserialize_any(ScanVisitor)
    }
}

struct ScanVisitor;

impl<'de> Visitor<'de> for ScanVisitor {
    type Value = Scan;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
        let mut scan = Scan::default();
        let mut given_rank = usize::MAX; // "label" beats "name"
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let rank = match &*key {
                "label" => 0,
                "name" => 1,
                _ => usize::MAX,
            };
            let wanted = rank < given_rank || scan.short.len() < LABEL_FIELDS;
            if !wanted {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let Text(value) = map.next_value::<Text>()?;
            let Some(value) = value else { continue };
            if rank < given_rank {
                if let Some(label) = clean_label(&value) {
                    scan.given = Some(label);
                    given_rank = rank;
                    continue;
                }
            }
            let value = value.trim();
            if scan.short.len() < LABEL_FIELDS
                && !value.is_empty()
                && !value.contains('\n')
                && value.chars().count() <= SHORT_FIELD_CHARS
            {
                scan.short.push(value.to_string());
            }
        }
        Ok(scan)
    }

    // Not an object (a list, a string, a number): no fields to name it by.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scan, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scan::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Scan, E> {
        Ok(Scan::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scan, E> {
        Ok(Scan::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scan, E> {
        Ok(Scan::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scan, E> {
        Ok(Scan::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scan, E> {
        Ok(Scan::default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scan, E> {
        Ok(Scan::default())
    }
}

/// A string value (borrowed when it has no escapes), or None for any other JSON value.
struct Text<'de>(Option<Cow<'de, str>>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_label_or_name_wins() {
        assert_eq!(
            label_from_json(r#"{"q":"x","name":"greeting","label":"says hi"}"#).as_deref(),
            Some("says hi")
        );
        assert_eq!(
            label_from_json(r#"{"q":"x","n":1,"name":"greeting"}"#).as_deref(),
            Some("greeting")
        );
        // A blank or non-string label does not count.
        assert_eq!(
            label_from_json(r#"{"label":"  ","name":3,"q":"what"}"#).as_deref(),
            Some("what")
        );
    }

    #[test]
    fn else_the_first_two_short_string_fields() {
        let long = "y".repeat(61);
        let json = format!(
            r#"{{"n":1,"text":"{long}","question":"What is 2+2?","tags":["a"],"lang":"en","more":"z"}}"#
        );
        assert_eq!(label_from_json(&json).as_deref(), Some("What is 2+2? · en"));
        assert_eq!(
            label_from_json(r#"{"q":"a\nb","k":"kept \u00e9"}"#).as_deref(),
            Some("kept é")
        );
    }

    #[test]
    fn nothing_to_name_it_by_gives_none() {
        assert_eq!(label_from_json(r#"{"x":1,"y":[1,2],"z":{"a":"b"}}"#), None);
        assert_eq!(label_from_json(r#"[1,"a"]"#), None);
        assert_eq!(label_from_json(r#""text""#), None);
        assert_eq!(label_from_json("not json"), None);
        assert_eq!(label_from_json("{}"), None);
    }

    #[test]
    fn long_given_labels_are_cut_and_made_one_line() {
        let long = "word ".repeat(40);
        let label = clean_label(&long).unwrap();
        assert_eq!(label.chars().count(), MAX_LABEL_CHARS);
        assert!(label.ends_with('…'));
        assert_eq!(clean_label(" two\n lines ").as_deref(), Some("two lines"));
        assert_eq!(clean_label("\n"), None);
    }
}
