//! The body's language when neither the envelope nor the HTML states it.
//!
//! whatlang (offline, trigram profiles, MIT) answers for any of its 69 languages, but a call costs
//! about 100 µs whatever the sample's length: it scores the text against every profile of its script,
//! some forty for Latin. English is most of what news crawlers fetch, and plain English announces
//! itself in its function words, so a sample whose first words are plainly English is answered
//! without whatlang; everything else, mixed text included, goes to whatlang.

use std::sync::LazyLock;

use foldhash::HashSet;

use crate::stages::text::{in_any_case_among, prefix_chars, short_word_key};

/// whatlang needs a few sentences to be sure; on less its guess is noise.
pub const MIN_WORDS: usize = 8;
/// whatlang reads the first characters only: on wcxb-dev the first 1,000 give the same answer as the
/// first 2,000 on every page, and its cost grows with the sample.
const SAMPLE_CHARS: usize = 1_000;
/// Words of the sample the function-word test reads.
const SAMPLE_WORDS: usize = 200;
/// English's most frequent function words found in no other language it is confused with. In
/// English prose they are about one word in six. The second-person and "how"/"can" words are a
/// guide's or a product page's: without them, 64 of wcxb-dev's 791 English pages fell under
/// `MIN_ENGLISH_SHARE` and went to whatlang; with them, 13 (the same answers: whatlang said English).
const ENGLISH: &str = "the and that with this which have has were from they their would been are what when who \
    there about said you your our how can";
/// Frequent function words of the other languages of Latin-script news, leaving out those that are
/// English words too ("die", "do", "will", "was", "met", "per", "um", "van").
const OTHER: &str = "der das und ist nicht ein eine zu den von mit sich auf für dem auch wird \
    le la les des du est une que qui dans pour pas sur aux elle sont avec \
    el los las y es por con para una su al lo como más pero sus \
    il di che non della per del sono gli alla nel \
    os uma da em não com na mais dos ao ele das \
    het een en ik te dat zijn voor niet \
    och att det som är på för \
    og er til af ikke";
/// The longest of those words, in bytes: a longer word needs no lookup.
const LONGEST_FUNCTION_WORD: usize = 6;
/// Plainly English: English function words are at least this share of the sample's words …
const MIN_ENGLISH_SHARE: f32 = 0.08;
/// … and other languages' function words at most this share of the English ones.
const MAX_OTHER_PER_ENGLISH: f32 = 0.1;

/// Both lists by `text::short_word_key`, looked up in any case (`text::in_any_case_among`): a
/// capitalised word is no longer lowercased into a string of its own.
static ENGLISH_KEYS: LazyLock<HashSet<u64>> = LazyLock::new(|| keys(ENGLISH));
static OTHER_KEYS: LazyLock<HashSet<u64>> = LazyLock::new(|| keys(OTHER));

fn keys(words: &str) -> HashSet<u64> {
    let key = |word: &str| short_word_key(word.as_bytes()).expect("function words are at most seven bytes");
    words.split_whitespace().map(key).collect()
}

/// ISO 639-1 code of the language `body` is written in, if it can be told.
pub fn detect(body: &str) -> Option<String> {
    let sample = prefix_chars(body, SAMPLE_CHARS);
    if is_plainly_english(sample) {
        return Some("en".to_owned());
    }
    let info = whatlang::detect(sample)?;
    isolang::Language::from_639_3(info.lang().code())?.to_639_1().map(str::to_owned)
}

/// The sample's function words are English's and hardly any other language's.
fn is_plainly_english(sample: &str) -> bool {
    let (mut words, mut english, mut other) = (0usize, 0usize, 0usize);
    for word in sample.split_whitespace().take(SAMPLE_WORDS) {
        let word = word.trim_matches(|c: char| !c.is_alphabetic());
        if word.is_empty() {
            continue;
        }
        words += 1;
        if word.len() <= LONGEST_FUNCTION_WORD {
            english += usize::from(in_any_case_among(&ENGLISH_KEYS, word));
            other += usize::from(in_any_case_among(&OTHER_KEYS, word));
        }
    }
    words >= MIN_WORDS
        && english as f32 >= MIN_ENGLISH_SHARE * words as f32
        && other as f32 <= MAX_OTHER_PER_ENGLISH * english as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH_TEXT: &str = "Russia said on Friday it had not given up on the ceasefire deal for Syria, despite the \
        collapse of a truce this week. Kremlin spokesman Dmitry Peskov told reporters that Moscow would continue its \
        military operations, and that the United States had failed to separate moderate rebels from militants.";

    #[test]
    fn plain_english_is_answered_without_whatlang_and_whatlang_agrees() {
        assert!(is_plainly_english(ENGLISH_TEXT));
        assert_eq!(whatlang::detect(ENGLISH_TEXT).map(|info| info.lang()), Some(whatlang::Lang::Eng));
        assert_eq!(detect(ENGLISH_TEXT).as_deref(), Some("en"));
    }

    #[test]
    fn a_guide_addressing_its_reader_is_plainly_english() {
        let guide = "Choosing a camera can feel overwhelming. You can start with your budget, your subject and how \
            you plan to share your photos. Our guide compares twelve models in three price bands, explains how sensor \
            size affects low light, and shows you how to test autofocus in a store.";
        assert!(is_plainly_english(guide));
        assert_eq!(whatlang::detect(guide).map(|info| info.lang()), Some(whatlang::Lang::Eng));
    }

    #[test]
    fn other_languages_and_mixed_text_go_to_whatlang() {
        let texts = [
            (
                "de",
                "Russland hat am Freitag erklärt, dass es die Waffenruhe in Syrien nicht aufgegeben habe. Der Sprecher des Kreml sagte, die Vereinigten Staaten hätten die gemäßigten Rebellen nicht von den Extremisten getrennt.",
            ),
            (
                "fr",
                "La Russie a déclaré vendredi qu'elle n'avait pas renoncé à l'accord de cessez-le-feu en Syrie, malgré l'effondrement de la trêve cette semaine. Le porte-parole du Kremlin a dit que les opérations militaires continueraient.",
            ),
            (
                "es",
                "Rusia dijo el viernes que no había renunciado al acuerdo de alto el fuego para Siria, a pesar del colapso de la tregua esta semana. El portavoz del Kremlin dijo que las operaciones militares continuarían.",
            ),
            (
                "nl",
                "Rusland zei vrijdag dat het de wapenstilstand voor Syrië niet had opgegeven, ondanks het instorten van het bestand deze week. De woordvoerder van het Kremlin zei dat de militaire operaties zouden doorgaan.",
            ),
            (
                "it",
                "La Russia ha detto venerdì che non ha rinunciato all'accordo di cessate il fuoco per la Siria, nonostante il crollo della tregua questa settimana. Il portavoce del Cremlino ha detto che le operazioni militari continueranno.",
            ),
            (
                "pt",
                "A Rússia disse na sexta-feira que não desistiu do acordo de cessar-fogo para a Síria, apesar do colapso da trégua esta semana. O porta-voz do Kremlin disse que as operações militares vão continuar.",
            ),
            (
                "de",
                "Der Sprecher sagte am Freitag: „The United States have failed, and that is the problem with this deal.“ Die Gespräche über die Waffenruhe sollen nach Angaben des Kreml in der kommenden Woche weitergehen.",
            ),
        ];
        for (code, text) in texts {
            assert!(!is_plainly_english(text), "{code}: {text}");
            assert_eq!(detect(text).as_deref(), Some(code), "{text}");
        }
    }

    #[test]
    fn function_words_are_found_in_any_case_and_no_others() {
        for (list, keys) in [(ENGLISH, &*ENGLISH_KEYS), (OTHER, &*OTHER_KEYS)] {
            let listed: Vec<&str> = list.split_whitespace().collect();
            for word in listed.iter().chain(&["thee", "an", "ands", "x", "führ"]) {
                for form in [word.to_string(), title_case(word), word.to_uppercase()] {
                    assert_eq!(in_any_case_among(keys, &form), listed.contains(word), "{form}");
                }
            }
        }
    }

    fn title_case(word: &str) -> String {
        let mut chars = word.chars();
        chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
    }

    #[test]
    fn a_few_words_are_never_plainly_english() {
        assert!(
            ENGLISH.split_whitespace().chain(OTHER.split_whitespace()).all(|word| word.len() <= LONGEST_FUNCTION_WORD)
        );
        assert!(!is_plainly_english("the and that"));
    }
}
