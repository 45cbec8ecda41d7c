//! Text as the demos keep it: cut to a size without splitting a character.

/// `text`, cut to at most `max` bytes at a character boundary: what a bounded log keeps of a
/// field a client chose (an origin, a `Referer`, a body).
pub fn cut(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("é", 1), "", "é is two bytes");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("short", 99), "short");
    }
}
