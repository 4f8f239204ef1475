//! Small text measures shared by the stages.

/// The word in lowercase, allocating only when it has an uppercase letter.
pub fn lowercase(word: &str) -> std::borrow::Cow<'_, str> {
    if word.chars().any(char::is_uppercase) { word.to_lowercase().into() } else { word.into() }
}

/// Calls `f` with `word` in lowercase (as `str::to_lowercase` gives it), lowered on the stack when
/// the word is short ASCII: the entity and keyword rules lowercase hundreds of words an article
/// only to look each up once.
pub fn with_lowercase<R>(word: &str, f: impl FnOnce(&str) -> R) -> R {
    const STACK_BYTES: usize = 32;
    if word.len() <= STACK_BYTES {
        // Copied, lowered and checked for ASCII in one pass over the bytes.
        let mut buffer = [0u8; STACK_BYTES];
        let mut ascii = true;
        for (lowered, &byte) in buffer.iter_mut().zip(word.as_bytes()) {
            ascii &= byte.is_ascii();
            *lowered = byte.to_ascii_lowercase();
        }
        if ascii {
            return f(std::str::from_utf8(&buffer[..word.len()]).expect("ASCII is UTF-8"));
        }
    }
    f(&word.to_lowercase())
}

/// `text.split("\n\n")`, the breaks found by `memchr::memmem` (the standard splitter's two-way
/// search, run over whole bodies several times an article, was 2 % of the metadata stage).
pub fn split_paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let breaks = memchr::memmem::find_iter(text.as_bytes(), b"\n\n").map(|at| (at, at + 2));
    let mut start = 0;
    breaks.chain(std::iter::once((text.len(), text.len()))).map(move |(end, next)| {
        let paragraph = &text[start..end];
        start = next;
        paragraph
    })
}

/// `str::to_lowercase`, with each run of ASCII copied and lowercased in place. The standard one
/// takes its fast path only up to a text's first non-ASCII character and then converts character
/// by character, and half the lines of crawled pages hold one (’ “ • —).
pub fn to_lowercase(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest.bytes().position(|b| !b.is_ascii()).unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let Some(c) = rest.chars().next() else { break };
        if c == 'Σ' {
            // Its lowercase depends on whether it ends a word: the standard function knows the rule.
            return text.to_lowercase();
        }
        if is_punctuation_or_symbol(c) {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The blocks of punctuation, currency signs, box drawing, shapes and symbols, where no character
/// is a letter or a number nor has a lowercase form: ’ “ • — … ━ □ are most of a crawled page's
/// non-ASCII characters, and the Unicode tables are searched for each otherwise.
fn is_punctuation_or_symbol(c: char) -> bool {
    matches!(c, '\u{2000}'..='\u{206F}' | '\u{20A0}'..='\u{20CF}' | '\u{2500}'..='\u{26FF}')
}

/// `char::is_alphanumeric`, answered without a table search for ASCII and for punctuation.
pub fn is_alphanumeric(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphanumeric() } else { !is_punctuation_or_symbol(c) && c.is_alphanumeric() }
}

/// Whether `text` has no more than `words` whitespace-separated tokens, without counting the rest
/// of a long paragraph.
pub fn has_at_most_words(text: &str, words: usize) -> bool {
    words_up_to(text, words.saturating_add(1)) <= words
}

/// `text.split_whitespace().take(limit).count()`: its whitespace-separated tokens, counted up to
/// `limit`. ASCII text is read a byte at a time (the metadata rules count the words of every line a
/// page set aside, and decoding their characters was about 2 % of that stage by perf).
pub fn words_up_to(text: &str, limit: usize) -> usize {
    if !text.is_ascii() {
        return text.split_whitespace().take(limit).count();
    }
    let mut count = 0;
    let mut in_word = false;
    for &byte in text.as_bytes() {
        let starts_word = !in_word && !is_ascii_whitespace(byte);
        in_word = !is_ascii_whitespace(byte);
        if starts_word {
            if count == limit {
                break;
            }
            count += 1;
        }
    }
    count
}

/// Words as whitespace-separated tokens that contain a letter or digit.
pub fn word_count(text: &str) -> usize {
    // One pass over the characters (it runs on every whole body): a word is counted at its first
    // letter or digit, and whitespace starts the next one.
    let mut count = 0;
    let mut counted = false;
    for c in text.chars() {
        if c.is_whitespace() {
            counted = false;
        } else if !counted && c.is_alphanumeric() {
            count += 1;
            counted = true;
        }
    }
    count
}

/// `char::is_whitespace` for an ASCII byte: unlike `u8::is_ascii_whitespace`, it counts the
/// vertical tab.
pub const fn is_ascii_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t'..=b'\r')
}

/// The word without its possessive "'s" or "’s" ("Russia's" → "Russia"), if it has one.
pub fn without_possessive(word: &str) -> Option<&str> {
    word.strip_suffix("'s").or_else(|| word.strip_suffix("’s"))
}

/// The first `chars` characters of `text` (all of it when shorter), without copying.
pub fn prefix_chars(text: &str, chars: usize) -> &str {
    // Every character takes at least one byte, and an ASCII one exactly one: most samples are
    // cut without decoding a character (decoding them was 1 % of the metadata stage's instructions).
    if text.len() <= chars {
        return text;
    }
    if text.as_bytes()[..chars].is_ascii() {
        return &text[..chars];
    }
    text.char_indices().nth(chars).map_or(text, |(end, _)| &text[..end])
}

/// Text whose UTF-8 was read as Latin-1 or Windows-1252 somewhere before it reached us
/// ("Investorâ€™s", "Investorâ\u{80}\u{99}s"), read again as UTF-8 ("Investor’s"). Text that does
/// not re-encode to valid UTF-8 holding a multi-byte character is returned as it is, so ordinary
/// accented text ("Café", "naïve") is never touched: its bytes are not valid UTF-8.
pub fn repair_mojibake(text: &str) -> std::borrow::Cow<'_, str> {
    if text.is_ascii() {
        return text.into();
    }
    let bytes = if text.chars().all(|c| u32::from(c) <= 0xFF) {
        text.chars().map(|c| u32::from(c) as u8).collect()
    } else {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
        if unmappable {
            return text.into();
        }
        bytes.into_owned()
    };
    match String::from_utf8(bytes) {
        Ok(repaired) if !repaired.is_ascii() => repaired.into(),
        _ => text.into(),
    }
}

/// Trims a line and folds every run of whitespace (including no-break spaces) into one space.
pub fn normalize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut push = |word: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    };
    // Crawled text indents its lines with spaces: nearly every line is single-spaced inside them.
    let inner = line.trim_matches(' ');
    if is_single_spaced(inner) {
        out.push_str(inner);
        return out;
    }
    // Of the others, most are ASCII: `split_ascii_whitespace` is the fastest split there. The one
    // ASCII character `char::is_whitespace` takes and `u8::is_ascii_whitespace` does not, the
    // vertical tab, sends a line the other way.
    if line.is_ascii() && !line.contains('\x0B') {
        line.split_ascii_whitespace().for_each(&mut push);
        return out;
    }
    // Else split as `split_whitespace` does, a byte test per byte instead of a decode and a
    // Unicode lookup per character: only a character starting with one of the bytes that begin a
    // non-ASCII space (U+0085 and U+00A0; U+1680; U+2000 to U+205F; U+3000) is decoded.
    let bytes = line.as_bytes();
    let mut word_start = None;
    let mut i = 0;
    while i < bytes.len() {
        let space = match bytes[i] {
            byte if byte.is_ascii() => usize::from(is_ascii_whitespace(byte)),
            0xC2 | 0xE1 | 0xE2 | 0xE3 => {
                line[i..].chars().next().filter(|c| c.is_whitespace()).map_or(0, char::len_utf8)
            }
            _ => 0,
        };
        if space > 0 {
            if let Some(start) = word_start.take() {
                push(&line[start..i]);
            }
            i += space;
        } else {
            word_start.get_or_insert(i);
            i += 1;
        }
    }
    if let Some(start) = word_start {
        push(&line[start..]);
    }
    out
}

/// Whether a line is already as `normalize_line` leaves it (most are): words parted by single
/// ASCII spaces, none at either end, no other space character. It may say no to a line that is
/// (one with a control character or a no-break space), which then takes the full split.
fn is_single_spaced(line: &str) -> bool {
    let bytes = line.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') || line.contains("  ") {
        return false;
    }
    // Control characters (the tab and line breaks among them) and the lead bytes of U+0085,
    // U+00A0, U+1680 and U+3000, tested 32 bytes at a time with an or over each block, which
    // compiles to vector instructions.
    let suspect = |byte: u8| (byte < 0x20) | (byte == 0xC2) | (byte == 0xE1) | (byte == 0xE3);
    if bytes.chunks(32).any(|block| block.iter().fold(false, |found, &byte| found | suspect(byte))) {
        return false;
    }
    // U+2000 to U+205F start with 0xE2, as the quotes, dashes and bullets of every page do: decoded.
    bytes
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == 0xE2)
        .all(|(i, _)| !line[i..].chars().next().is_some_and(char::is_whitespace))
}

/// The line without closing quotes and brackets, so `…said.”` still ends in a full stop.
fn without_closers(line: &str) -> &str {
    line.trim_end_matches(['"', '\'', '’', '”', '»', ')', ']', '*', ' '])
}

/// Ends like a sentence: `.`, `!`, `?` or `…`, possibly inside closing quotes.
pub fn ends_like_sentence(line: &str) -> bool {
    without_closers(line).ends_with(['.', '!', '?', '…'])
}

pub fn ends_with_colon(line: &str) -> bool {
    without_closers(line).ends_with(':')
}

const MINOR_WORDS: [&str; 24] = [
    "a", "an", "the", "and", "or", "but", "nor", "of", "in", "on", "at", "to", "for", "by", "with", "from", "as", "vs",
    "vs.", "into", "over", "via", "per", "is",
];
/// The longest minor word, in bytes: a longer word is never compared with the list.
const LONGEST_MINOR_WORD: usize = 4;

/// A word of at most seven bytes as one number: its bytes, little-endian, and its length in the
/// top byte (so "a" and "a\0" differ). Looking such a word up in a short list or a set is then
/// integer compares, not calls to `memcmp`. `None` for a longer word.
pub const fn short_word_key(word: &[u8]) -> Option<u64> {
    word_key(word, false)
}

/// `short_word_key` of an ASCII word, lowercased: built from its bytes as they are read, with no
/// copy. `None` for a longer or non-ASCII word.
pub fn lowercase_word_key(word: &str) -> Option<u64> {
    word_key(word.as_bytes(), true)
}

/// Whether `word`, in any case, is in `keys`, a set of lowercase words' `short_word_key`s. An
/// ASCII word (nearly every one) is keyed as it is read; only a word beyond ASCII ("Für") is
/// lowercased into a string first.
pub fn in_any_case_among(keys: &foldhash::HashSet<u64>, word: &str) -> bool {
    let key = lowercase_word_key(word).or_else(|| short_word_key(lowercase(word).as_bytes()));
    key.is_some_and(|key| keys.contains(&key))
}

/// The key layout of both: with `lowercase`, ASCII letters are folded and any other byte above
/// ASCII makes the word keyless.
const fn word_key(word: &[u8], lowercase: bool) -> Option<u64> {
    if word.len() > 7 {
        return None;
    }
    let mut key = (word.len() as u64) << 56;
    let mut i = 0;
    while i < word.len() {
        let mut byte = word[i];
        if lowercase {
            if !byte.is_ascii() {
                return None;
            }
            byte = byte.to_ascii_lowercase();
        }
        key |= (byte as u64) << (8 * i);
        i += 1;
    }
    Some(key)
}

const MINOR_WORD_KEYS: [u64; MINOR_WORDS.len()] = {
    let mut keys = [0; MINOR_WORDS.len()];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = match short_word_key(MINOR_WORDS[i].as_bytes()) {
            Some(key) => key,
            None => panic!("a minor word is longer than seven bytes"),
        };
        i += 1;
    }
    keys
};

/// One of `MINOR_WORDS` in any case (they are all ASCII, so a non-ASCII word is none of them).
fn is_minor_word(word: &str) -> bool {
    word.len() <= LONGEST_MINOR_WORD && lowercase_word_key(word).is_some_and(|key| MINOR_WORD_KEYS.contains(&key))
}

/// Share of the words (minor words aside) that start with a capital: headlines in title case score 1.
pub fn title_case_ratio(line: &str) -> f32 {
    let mut major = 0usize;
    let mut capitalised = 0usize;
    for word in line.split_whitespace() {
        if let Some(is_capitalised) = title_case_word(word) {
            major += 1;
            capitalised += usize::from(is_capitalised);
        }
    }
    if major == 0 { 0.0 } else { capitalised as f32 / major as f32 }
}

/// `title_case_ratio(line) == 1.0`, stopping at the first word that is not capitalised: most lines
/// asked are prose, which gives itself away within a few words.
pub fn is_title_case(line: &str) -> bool {
    let mut major = false;
    for word in line.split_whitespace() {
        match title_case_word(word) {
            Some(false) => return false,
            Some(true) => major = true,
            None => {}
        }
    }
    major
}

/// How one word counts in `title_case_ratio`: not at all (`None`) when it is a minor word or holds
/// no letter or digit, else whether its first letter or digit is a capital or a digit.
pub fn title_case_word(word: &str) -> Option<bool> {
    if is_minor_word(word) {
        return None;
    }
    // Most words start with their first letter or digit.
    if let Some(&first) = word.as_bytes().first()
        && first.is_ascii_alphanumeric()
    {
        return Some(first.is_ascii_uppercase() || first.is_ascii_digit());
    }
    if word.is_ascii() {
        let first = *word.as_bytes().iter().find(|b| b.is_ascii_alphanumeric())?;
        return Some(first.is_ascii_uppercase() || first.is_ascii_digit());
    }
    let first = word.chars().find(|&c| is_alphanumeric(c))?;
    Some(first.is_uppercase() || first.is_numeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unicode_space_parts_words_like_an_ascii_one() {
        for space in ('\u{0}'..=char::MAX).filter(|c| c.is_whitespace()) {
            assert_eq!(normalize_line(&format!("a{space}“b” c")), "a “b” c", "U+{:04X}", u32::from(space));
        }
    }

    #[test]
    fn punctuation_and_symbols_are_no_letters_nor_numbers_and_have_no_lowercase_form() {
        for c in ('\u{0}'..=char::MAX).filter(|&c| is_punctuation_or_symbol(c)) {
            assert_eq!(c.to_lowercase().collect::<String>(), c.to_string(), "U+{:04X}", u32::from(c));
            assert!(!c.is_alphanumeric(), "U+{:04X}", u32::from(c));
        }
        for c in '\u{0}'..=char::MAX {
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "U+{:04X}", u32::from(c));
        }
    }

    proptest::proptest! {
        /// The same words as `split_whitespace` finds, whatever spaces, Unicode ones included, part them.
        #[test]
        fn normalised_lines_hold_the_words_split_whitespace_finds(
            text in "( {0,3}[a-z©’—ẞ]{1,4}){0,8} {0,2}[\t\n\u{b}\u{85}\u{a0}\u{1680}\u{2000}-\u{200b}\u{2028}\u{202f}\u{205f}\u{3000}]?( {0,3}[a-z©’—ẞ]{1,4}){0,4} {0,2}"
        ) {
            proptest::prop_assert_eq!(normalize_line(&text), text.split_whitespace().collect::<Vec<_>>().join(" "));
        }

        /// Byte for byte what `str::to_lowercase` gives, Greek capital sigma and its final form included.
        #[test]
        fn lowercase_runs_agree_with_the_standard_lowercase(text in "[a-zA-Z .\n’“•ÀÉİẞΣΑΩ\u{130}\u{1E9E}]{0,60}") {
            proptest::prop_assert_eq!(to_lowercase(&text), text.to_lowercase());
        }

        /// A line is title case exactly when every word `title_case_ratio` counts is capitalised.
        #[test]
        fn title_case_lines_are_those_of_ratio_one(line in "([A-Za-z0-9\"(]{0,1}[A-Za-zÉé]{0,5} {1,2}|of |the |— ){0,6}") {
            proptest::prop_assert_eq!(is_title_case(&line), title_case_ratio(&line) >= 1.0);
        }

        /// The byte count agrees with the standard splitter, ASCII or not.
        #[test]
        fn words_are_counted_as_the_standard_splitter_splits_them(
            text in proptest::prop_oneof!["[ab \t\n\u{0B}\u{0C}\r]{0,30}", "[ab \t\n\u{0B}\u{0C}\r\u{A0}é]{0,30}"],
            limit in 0usize..12,
        ) {
            proptest::prop_assert_eq!(words_up_to(&text, limit), text.split_whitespace().take(limit).count());
            proptest::prop_assert_eq!(has_at_most_words(&text, limit), text.split_whitespace().count() <= limit);
        }

        /// The ASCII shortcut cuts where counting characters cuts.
        #[test]
        fn prefixes_hold_the_first_characters(text in "[a-z é’\u{1F600}]{0,40}", chars in 0usize..45) {
            let expected: String = text.chars().take(chars).collect();
            proptest::prop_assert_eq!(prefix_chars(&text, chars), expected.as_str());
        }

        /// The lowercase a word is looked up by is `str::to_lowercase`'s, on the stack or not.
        #[test]
        fn words_are_looked_up_in_the_standard_lowercase(word in "[a-zA-Z’İΣ-]{0,40}") {
            proptest::prop_assert_eq!(with_lowercase(&word, str::to_owned), word.to_lowercase());
        }

        /// The same pieces as `str::split` at a blank line, runs of three or more line breaks included.
        #[test]
        fn paragraphs_split_as_the_standard_splitter_splits_them(text in "[ab\n]{0,30}") {
            proptest::prop_assert_eq!(
                split_paragraphs(&text).collect::<Vec<_>>(),
                text.split("\n\n").collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn sentence_ends_are_found_inside_closing_quotes() {
        assert!(ends_like_sentence("‘Moscow maintains its interest.’"));
        assert!(ends_like_sentence("he said.\""));
        assert!(!ends_like_sentence("Russia says Syria bombing continues"));
        assert!(ends_with_colon("at the following addresses:"));
    }

    #[test]
    fn short_word_keys_tell_every_word_of_up_to_seven_bytes_apart() {
        let words: [&[u8]; 6] = [b"", b"a", b"a\0", b"an", "für".as_bytes(), b"abcdefg"];
        let keys: Vec<u64> = words.iter().map(|w| short_word_key(w).unwrap()).collect();
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), words.len());
        assert_eq!(short_word_key(b"abcdefgh"), None);
    }

    #[test]
    fn normalize_line_folds_every_kind_of_whitespace() {
        assert_eq!(normalize_line("  Storm\tcloses \r\x0C ports  "), "Storm closes ports");
        assert_eq!(normalize_line("a\x0Bb"), "a b", "a vertical tab is whitespace");
        assert_eq!(normalize_line("\u{a0}Café\u{2003}\u{a0}ouvert\u{3000}"), "Café ouvert");
        assert_eq!(normalize_line(" \t "), "");
    }

    #[test]
    fn title_case_ratio_ignores_minor_words() {
        assert_eq!(title_case_ratio("Airstrikes Hit Two Hospitals in Besieged Syrian City of Aleppo"), 1.0);
        assert!(title_case_ratio("Russia says Syria bombing continues") < 0.5);
    }

    #[test]
    fn words_are_counted_only_when_they_hold_a_letter_or_digit() {
        assert_eq!(word_count("Moscow\u{a0}— said: 3 “quotes” -- ... Ki-moon\n\tend"), 6);
        assert_eq!(word_count(""), 0);
        assert_eq!(word_count(" • | — "), 0);
    }

    #[test]
    fn minor_words_are_found_in_any_case_and_only_whole() {
        for word in ["of", "Of", "OF", "vs.", "With"] {
            assert!(is_minor_word(word), "{word}");
        }
        for word in ["often", "o", "Über", "", "off"] {
            assert!(!is_minor_word(word), "{word}");
        }
    }

    #[test]
    fn no_minor_word_is_longer_than_the_length_gate() {
        assert!(MINOR_WORDS.iter().all(|minor| minor.len() <= LONGEST_MINOR_WORD));
    }

    #[test]
    fn utf8_read_as_latin1_or_windows_1252_is_read_again_as_utf8() {
        assert_eq!(repair_mojibake("A DIY Investor\u{e2}\u{80}\u{99}s Guide"), "A DIY Investor’s Guide");
        assert_eq!(repair_mojibake("Investorâ€™s Guide"), "Investor’s Guide");
        assert_eq!(repair_mojibake("SÃ£o Paulo"), "São Paulo");
    }

    #[test]
    fn accented_text_is_left_as_it_is() {
        for text in ["Café au lait", "naïve façade", "Ürümqi – a city", "plain ascii", "Zürich’s “new” plan"]
        {
            assert_eq!(repair_mojibake(text), text);
        }
    }
}
