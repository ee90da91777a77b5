//! Phone keys a persona presses, checked and normalised once, whether a script or a
//! language model chose them.

use std::fmt;

use crate::audio::dtmf;

/// Keys that are not all phone keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The keys as given.
    pub keys: String,
    /// The first character that is not a key; `None` when there are no keys at all.
    pub bad: Option<char>,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bad {
            None => write!(f, "{:?} has no keys to press", self.keys),
            Some(bad) => {
                write!(
                    f,
                    "{:?} is not a phone key (0-9, *, #, A-D)",
                    bad.to_string()
                )?;
                if self.keys != bad.to_string() {
                    write!(f, " in {:?}", self.keys)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The keys in `text` as the caller sends them: `0-9`, `*`, `#` and `A-D` (DTMF's fourth
/// column, upper-cased). Spaces, commas and hyphens between keys are dropped, as people
/// and models write "1, 2" or "4-3-2-1".
pub fn phone_keys(text: &str) -> Result<String, KeyError> {
    let mut keys = String::new();
    for c in text.chars() {
        if c.is_whitespace() || c == ',' || c == '-' {
            continue;
        }
        if dtmf::frequencies(c).is_none() {
            return Err(KeyError {
                keys: text.to_string(),
                bad: Some(c),
            });
        }
        keys.push(c.to_ascii_uppercase());
    }
    if keys.is_empty() {
        return Err(KeyError {
            keys: text.to_string(),
            bad: None,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised_and_bad_ones_named() {
        assert_eq!(phone_keys("1").unwrap(), "1");
        assert_eq!(phone_keys(" 4-3, 2 1#*").unwrap(), "4321#*");
        assert_eq!(phone_keys("a").unwrap(), "A");
        assert_eq!(
            phone_keys("x").unwrap_err().to_string(),
            r#""x" is not a phone key (0-9, *, #, A-D)"#
        );
        assert_eq!(
            phone_keys("12x").unwrap_err().to_string(),
            r#""x" is not a phone key (0-9, *, #, A-D) in "12x""#
        );
        assert_eq!(
            phone_keys(" , ").unwrap_err().to_string(),
            r#"" , " has no keys to press"#
        );
        assert_eq!(phone_keys("").unwrap_err().bad, None);
    }
}
