//! Who wrote it: bylines ("By Jane Doe and John Roe", "Written by …", "Author: …"), wire credits
//! ("Agence France-Presse . Moscow", "By Reuters", "Moscow (AFP) —") and the agency they name.
//!
//! A wire agency is the article's origin only where the page credits it — a credit or byline
//! line, the dateline's parentheses, the HTML's author — never because the story mentions it
//! ("Reuters reported that…" is a source, not the author).

use std::sync::LazyLock;

use regex::Regex;

/// Wire agencies by canonical name, with the ways pages write them (lowercase).
const AGENCIES: [(&str, &[&str]); 18] = [
    ("AFP", &["agence france-presse", "agence france presse", "afp"]),
    ("Reuters", &["reuters", "thomson reuters"]),
    ("AP", &["associated press", "the associated press", "ap"]),
    ("Xinhua", &["xinhua", "xinhua news agency"]),
    ("dpa", &["dpa", "deutsche presse-agentur"]),
    ("Anadolu", &["anadolu", "anadolu agency", "aa"]),
    ("EFE", &["efe", "agencia efe"]),
    ("ANSA", &["ansa"]),
    ("UPI", &["upi", "united press international"]),
    ("PTI", &["pti", "press trust of india"]),
    ("IANS", &["ians", "indo-asian news service"]),
    ("TASS", &["tass", "itar-tass"]),
    ("RIA Novosti", &["ria novosti", "ria"]),
    ("Interfax", &["interfax"]),
    ("Kyodo", &["kyodo", "kyodo news"]),
    ("Yonhap", &["yonhap"]),
    ("Bloomberg", &["bloomberg", "bloomberg news"]),
    ("IRNA", &["irna"]),
];

/// The agency `name` (a whole credit, byline value or parenthesis) designates, if it is one.
pub fn agency_named(name: &str) -> Option<&'static str> {
    let folded = fold_name(name);
    let folded = folded.trim_end_matches(" staff").trim_end_matches(" news agency").trim();
    AGENCIES.iter().find(|(_, forms)| forms.contains(&folded)).map(|(canonical, _)| *canonical)
}

fn fold_name(name: &str) -> String {
    name.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase().replace(['–', '—'], "-")
}

/// A credit line: an agency and perhaps a place, separated by punctuation — "Agence France-Presse .
/// Moscow", "AFP | Moscow", "Source: Reuters", "— AFP". Returns the agency and the place.
pub fn credit_line(line: &str) -> Option<(&'static str, Option<String>)> {
    let line = CREDIT_LEAD_IN.replace(line.trim(), "");
    let mut parts = line.split(['.', '|', '/', ',', '–', '—', '-', ':']).map(str::trim).filter(|p| !p.is_empty());
    let first = parts.next()?;
    // "Agence France-Presse" was split at its hyphen: rejoin the agency names that carry one.
    let (agency, rest): (&'static str, Vec<&str>) = match agency_named(first) {
        Some(agency) => (agency, parts.collect()),
        None => {
            let all: Vec<&str> =
                line.split(['.', '|', '/', ',', ':']).map(str::trim).filter(|p| !p.is_empty()).collect();
            let (first, rest) = all.split_first()?;
            (agency_named(first)?, rest.to_vec())
        }
    };
    let place = rest.first().filter(|p| is_place_shaped(p)).map(|p| p.to_string());
    (rest.len() <= 1).then_some((agency, place))
}

static CREDIT_LEAD_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(?:[-–—]\s*|source\s*:\s*|(?:by|from|via)\s+|\(|\[)").expect("valid regex"));

fn is_place_shaped(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    (1..=3).contains(&words.len()) && words.iter().all(|w| w.starts_with(char::is_uppercase))
}

/// "By Jane Doe", "Written by Jane Doe and John Roe | 30 Sept 2016", "Author: Jane Doe", "By: …".
static BYLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:[•·*\-–—|]\s*)?(?:by|written by|words by|reporting by|text by|story by|recipe by|posted by|author|authors|byline)\s*[:\-–]?\s+(.+)$")
        .expect("valid regex")
});

/// Where a byline's names end: a date (its month too), a separator, "Published", "Updated", "In
/// <section>".
static BYLINE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\s[|•·–—]\s|\s-\s|\s*\|\s*|(?:Published|Updated|Posted|Last updated|Modified)\b|\s+(?:On|In|at|on)\b|\s(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d|\d|[(\[])")
        .expect("valid regex")
});

/// Credentials and roles that follow names in bylines ("Jane Doe, MD", "Jane Doe, Staff Writer").
const NOT_NAMES: [&str; 21] = [
    "staff",
    "staff writer",
    "contributor",
    "editor",
    "correspondent",
    "reporter",
    "senior editor",
    "contributing writer",
    "guest author",
    "admin",
    "team",
    "writer",
    "news desk",
    "updated",
    // Labels printed in author boxes, beside or instead of the name.
    "by",
    "written by",
    "the author",
    "author",
    "about the author",
    "sign in",
    "sign",
];

/// Words of job titles, which follow names in bylines and are never part of one.
const ROLE_WORDS: [&str; 19] = [
    "director",
    "editor",
    "manager",
    "writer",
    "founder",
    "ceo",
    "expert",
    "reporter",
    "correspondent",
    "contributor",
    "officer",
    "president",
    "head",
    "staff",
    "sr",
    "jr",
    "co-founder",
    "reviewer",
    "coordinator",
];

/// The names a byline line gives, if the line is a byline.
pub fn byline_names(line: &str) -> Option<Vec<String>> {
    let names = BYLINE.captures(line.trim())?.get(1)?.as_str();
    let names = split_names(names);
    (!names.is_empty()).then_some(names)
}

/// A value that lists names ("By Jane Doe, John Roe and Ann Poe") as the names, each trimmed of
/// lead-ins, credentials and whatever follows the names (dates, sections, separators).
pub fn split_names(value: &str) -> Vec<String> {
    let value = value.trim();
    let value = BYLINE.captures(value).and_then(|c| c.get(1)).map_or(value, |m| m.as_str());
    let value = BYLINE_END.find(value).map_or(value, |end| &value[..end.start()]);
    value
        .split([',', ';', '&'])
        .flat_map(|part| part.split(" and "))
        .map(|part| part.trim().trim_end_matches(['.', ':']).trim())
        .filter(|part| is_name_shaped(part))
        .map(str::to_owned)
        .collect()
}

/// One to five words, each starting with a capital (particles such as "de", "van", "al-" aside),
/// and not a credential ("MD", "PhD") or a role.
fn is_name_shaped(part: &str) -> bool {
    let words: Vec<&str> = part.split_whitespace().collect();
    if words.is_empty() || words.len() > 5 || NOT_NAMES.contains(&part.to_lowercase().as_str()) {
        return false;
    }
    let role = words.iter().any(|w| ROLE_WORDS.contains(&w.to_lowercase().trim_end_matches('.')));
    let credential =
        words.len() == 1 && words[0].len() <= 5 && words[0].chars().filter(|c| c.is_uppercase()).count() >= 2;
    let capitalised = words.iter().filter(|w| w.starts_with(char::is_uppercase)).count();
    !role && !credential && capitalised * 2 > words.len() && words[0].starts_with(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bylines_give_their_names_without_dates_or_credentials() {
        assert_eq!(byline_names("By Korin MillerPublished: Jan 29, 2025").unwrap(), ["Korin Miller"]);
        assert_eq!(byline_names("By Korin Miller Published: Jan 29, 2025").unwrap(), ["Korin Miller"]);
        assert_eq!(
            byline_names("Written by Danielle DeSiato, Donna Enzmann, and Natalie Nguyen").unwrap(),
            ["Danielle DeSiato", "Donna Enzmann", "Natalie Nguyen"]
        );
        assert_eq!(byline_names("• by Christian Roth").unwrap(), ["Christian Roth"]);
        assert_eq!(byline_names("By: Benjamin Johnson, Sr. Director of Operations").unwrap()[0], "Benjamin Johnson");
        assert_eq!(byline_names("by Jason Rostar | SEO | 8 min Read").unwrap(), ["Jason Rostar"]);
        assert_eq!(split_names("Dylan Bailey, MS, RD, FAND"), ["Dylan Bailey"]);
        assert_eq!(split_names("Luke Kim December 19, 2025"), ["Luke Kim"]);
        assert_eq!(split_names("Recipe by PJ Hamel"), ["PJ Hamel"]);
        assert_eq!(split_names("Meghan Neville, Content Marketing Coordinator"), ["Meghan Neville"]);
        assert!(byline_names("by the way, the ports are closed").is_none());
    }

    #[test]
    fn credit_lines_name_the_agency_and_the_place() {
        assert_eq!(credit_line("Agence France-Presse . Moscow"), Some(("AFP", Some("Moscow".into()))));
        assert_eq!(credit_line("— AFP"), Some(("AFP", None)));
        assert_eq!(credit_line("Source: Reuters"), Some(("Reuters", None)));
        assert_eq!(credit_line("AFP reported that the talks failed"), None);
    }

    #[test]
    fn agency_names_are_canonical() {
        assert_eq!(agency_named("Associated Press"), Some("AP"));
        assert_eq!(agency_named("Reuters Staff"), Some("Reuters"));
        assert_eq!(agency_named("Jane Doe"), None);
    }
}
