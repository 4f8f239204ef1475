//! Calendar dates written in text: "2016-09-30", "2016/9/30", "September 30, 2016", "29 September
//! 2016", "30-Sep-2016", "30/09/2016", "30-09-2016". Shared by the cleaner (to recognise date lines)
//! and the metadata stage.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;

use super::text::has_at_most_words;

const MONTHS: &str = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

const ISO: &str = r"(?-u:\b)(\d{4})-(\d{1,2})-(\d{1,2})(?:T\d{1,2}:\d{2}(?::\d{2})?)?(?-u:\b)";
/// Year first with slashes, dots or bullets ("2025/4/29", "2025.12.17", "2025•01•08": East Asian,
/// technical and design pages);
/// both separators must be the same, which the regex cannot say (no backreferences).
const YEAR_FIRST: &str = r"(?-u:\b)(\d{4})([/.•])(\d{1,2})([/.•])(\d{1,2})(?-u:\b)";
static MONTH_DAY_YEAR: LazyLock<String> =
    LazyLock::new(|| format!(r"(?i)(?-u:\b)({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?[,.]?\s+(\d{{4}})"));
static DAY_MONTH_YEAR: LazyLock<String> =
    LazyLock::new(|| format!(r"(?i)(?-u:\b)(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTHS})\.?,?\s+(\d{{4}})"));
/// The day and a month's name joined by hyphens or dots: "19-Dec-2025", "25.Jun.2019".
static DAY_MONTH_YEAR_JOINED: LazyLock<String> =
    LazyLock::new(|| format!(r"(?i)(?-u:\b)(\d{{1,2}})[.-]({MONTHS})\.?[.-](\d{{4}})"));
/// A capitalised month glued to the word before it by a crawler that dropped the space:
/// "By Kathryn GiuffridaMar 5, 2025", "calendarApr 16, 2024", "Mental HealthDECEMBER 22, 2022".
/// The capital is the evidence, so this one is case-sensitive: "dismay 5, 2025" is no date.
static GLUED_MONTH_DAY_YEAR: LazyLock<String> = LazyLock::new(|| {
    let capitalised = MONTHS.split('|').map(|month| month[..1].to_uppercase() + &month[1..]);
    let capitals = MONTHS.split('|').map(str::to_uppercase);
    let months: Vec<String> = capitalised.chain(capitals).collect();
    format!(r"(?-u:\B)({})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", months.join("|"))
});
/// A day glued to the lowercase word before it: "date12 Nov 2025" (a "Date" label), "Yucy3/4/2025"
/// (an author's name). The match takes the word's last letter with it.
static GLUED_DAY_MONTH_YEAR: LazyLock<String> =
    LazyLock::new(|| format!(r"[a-z](\d{{1,2}})\s+((?i:{MONTHS}))\.?,?\s+(\d{{4}})"));
/// The slashed form of the same glue: "Yucy3/4/2025".
const GLUED_NUMERIC: &str = r"[a-z](\d{1,2})(/)(\d{1,2})/(\d{4})(?-u:\b)";
const NUMERIC: &str = r"(?-u:\b)(\d{1,2})([/.-])(\d{1,2})[/.-](\d{4})(?-u:\b)";

/// Each form's regex, at its `Form`'s index.
static FORMS: LazyLock<[Regex; Form::ALL.len()]> =
    LazyLock::new(|| Form::ALL.map(|form| Regex::new(&form.pattern()).expect("valid date regex")));
/// All the forms in one regex, for the question most lines get: is there a date at all? It
/// answers in one pass without captures, where the nine forms' searches each read the line.
static ANY_FORM: LazyLock<Regex> = LazyLock::new(|| any_of(&Form::ALL));

/// Either form a page writes its dates out in (`DayOrder::of_lines`): most lines with a year hold
/// neither, and one scan tells them apart where counting each form's matches took two.
static WRITTEN_OUT: LazyLock<Regex> = LazyLock::new(|| any_of(&[Form::MonthDayYear, Form::DayMonthYear]));

/// One regex matching wherever any of `forms` does.
fn any_of(forms: &[Form]) -> Regex {
    let alternatives: Vec<String> = forms.iter().map(|form| format!("(?:{})", form.pattern())).collect();
    Regex::new(&alternatives.join("|")).expect("valid date regex")
}

/// The ways a date is written, each one regex (`FORMS`).
#[derive(Clone, Copy)]
enum Form {
    Iso,
    YearFirst,
    MonthDayYear,
    GluedMonthDayYear,
    DayMonthYear,
    DayMonthYearJoined,
    GluedDayMonthYear,
    Numeric,
    GluedNumeric,
}

impl Form {
    const ALL: [Form; 9] = [
        Form::Iso,
        Form::YearFirst,
        Form::MonthDayYear,
        Form::GluedMonthDayYear,
        Form::DayMonthYear,
        Form::DayMonthYearJoined,
        Form::GluedDayMonthYear,
        Form::Numeric,
        Form::GluedNumeric,
    ];

    fn pattern(self) -> String {
        match self {
            Form::Iso => ISO.to_owned(),
            Form::YearFirst => YEAR_FIRST.to_owned(),
            Form::MonthDayYear => MONTH_DAY_YEAR.clone(),
            Form::GluedMonthDayYear => GLUED_MONTH_DAY_YEAR.clone(),
            Form::DayMonthYear => DAY_MONTH_YEAR.clone(),
            Form::DayMonthYearJoined => DAY_MONTH_YEAR_JOINED.clone(),
            Form::GluedDayMonthYear => GLUED_DAY_MONTH_YEAR.clone(),
            Form::Numeric => NUMERIC.to_owned(),
            Form::GluedNumeric => GLUED_NUMERIC.to_owned(),
        }
    }
}

/// `FORMS` is built from `Form::ALL` and read at `form as usize`: each form must sit at its own index.
const _: () = {
    let mut i = 0;
    while i < Form::ALL.len() {
        assert!(Form::ALL[i] as usize == i, "Form::ALL lists the forms in declaration order");
        i += 1;
    }
};

fn form(form: Form) -> &'static Regex {
    &FORMS[form as usize]
}

/// Which number of a numeric date is the day: "03/10/2023" is 3 October in Britain and March 10
/// in the United States. A page settles it by how it writes its dates out in words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DayOrder {
    /// No evidence: slashes are read month first (the US form, the commonest on the English
    /// web; measured on wcxb-dev). Dots and hyphens are read day first in any order (the
    /// European forms).
    #[default]
    BySeparator,
    DayFirst,
    MonthFirst,
}

impl DayOrder {
    /// The order the page's written-out dates use: "31 January 2023" says day first, "January 31,
    /// 2023" month first; as many of each, or none, leave it to the separator.
    pub fn of_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut day_first, mut month_first) = (0, 0);
        for line in lines.into_iter().filter(|line| has_year(line) && WRITTEN_OUT.is_match(line)) {
            day_first += form(Form::DayMonthYear).find_iter(line).count();
            month_first += form(Form::MonthDayYear).find_iter(line).count();
        }
        match day_first.cmp(&month_first) {
            std::cmp::Ordering::Greater => DayOrder::DayFirst,
            std::cmp::Ordering::Less => DayOrder::MonthFirst,
            std::cmp::Ordering::Equal => DayOrder::BySeparator,
        }
    }
}

/// A page's `DayOrder`, or how to find it: a closure is called only when a numeric date needs the
/// order, that is, when it is written with slashes and both its numbers could be the month. Most
/// pages write none, and finding the order reads every line a page set aside.
pub trait OrderSource: Copy {
    fn day_order(self) -> DayOrder;
}

impl OrderSource for DayOrder {
    fn day_order(self) -> DayOrder {
        self
    }
}

impl<F: Fn() -> DayOrder + Copy> OrderSource for F {
    fn day_order(self) -> DayOrder {
        self()
    }
}

/// (day, month) of a numeric date's first two numbers; a number above 12 is the day whatever
/// the order.
fn day_and_month(first: u32, second: u32, separator: &str, order: impl OrderSource) -> (u32, u32) {
    // Dots and hyphens are European forms whatever else the page writes.
    let month_first = || separator == "/" && matches!(order.day_order(), DayOrder::MonthFirst | DayOrder::BySeparator);
    if first > 12 || (second <= 12 && !month_first()) { (first, second) } else { (second, first) }
}

/// Every written form carries a four-digit year: most lines have none, and the regexes cost far
/// more than this scan. Four digits in a row always cover a byte whose offset is a multiple of
/// four, so only those bytes are tested, and the digits around one that is a digit counted.
pub fn has_year(line: &str) -> bool {
    let bytes = line.as_bytes();
    (0..bytes.len()).step_by(4).filter(|&at| bytes[at].is_ascii_digit()).any(|at| {
        let before = bytes[..at].iter().rev().take(3).take_while(|b| b.is_ascii_digit()).count();
        let after = bytes[at + 1..].iter().take(3).take_while(|b| b.is_ascii_digit()).count();
        before + 1 + after >= 4
    })
}

/// A date found in a line, with the byte span it occupied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundDate {
    pub date: NaiveDate,
    pub start: usize,
    pub end: usize,
}

/// The first date written in `line`, if any, numeric dates read as `DayOrder::BySeparator`.
pub fn find_date(line: &str) -> Option<FoundDate> {
    find_date_in(line, DayOrder::default())
}

/// The first date written in `line`, if any, numeric dates read in the page's `order`.
pub fn find_date_in(line: &str, order: impl OrderSource) -> Option<FoundDate> {
    find_dates_in(line, order).into_iter().min_by_key(|f| f.start)
}

/// Every date written in `line` (one for each form that reads one, in no particular order).
pub fn find_dates_in(line: &str, order: impl OrderSource) -> Vec<FoundDate> {
    let mut found: Vec<FoundDate> = Vec::new();
    if !has_year(line) || !ANY_FORM.is_match(line) {
        return found;
    }
    for c in form(Form::Iso).captures_iter(line).filter(|c| !is_in_file_name(line, c)) {
        push(&mut found, line, &c, ymd(&c[1], &c[2], &c[3]), Ends::AtYear);
    }
    let year_first = form(Form::YearFirst).captures_iter(line);
    for c in year_first.filter(|c| c[2] == c[4] && !is_in_file_name(line, c)) {
        push(&mut found, line, &c, ymd(&c[1], &c[3], &c[5]), Ends::AtYear);
    }
    let month_first = form(Form::MonthDayYear).captures_iter(line);
    for c in month_first.chain(form(Form::GluedMonthDayYear).captures_iter(line)) {
        let date = month_number(&c[1]).and_then(|m| ymd(&c[3], &m.to_string(), &c[2]));
        push(&mut found, line, &c, date, Ends::BeforeGluedCount);
    }
    let day_first =
        form(Form::DayMonthYear).captures_iter(line).chain(form(Form::DayMonthYearJoined).captures_iter(line));
    for c in day_first.chain(form(Form::GluedDayMonthYear).captures_iter(line)) {
        let date = month_number(&c[2]).and_then(|m| ymd(&c[3], &m.to_string(), &c[1]));
        push(&mut found, line, &c, date, Ends::BeforeGluedCount);
    }
    for c in form(Form::Numeric).captures_iter(line).chain(form(Form::GluedNumeric).captures_iter(line)) {
        let (Ok(first), Ok(second)) = (c[1].parse::<u32>(), c[3].parse::<u32>()) else { continue };
        let (day, month) = day_and_month(first, second, &c[2], order);
        push(&mut found, line, &c, ymd(&c[4], &month.to_string(), &day.to_string()), Ends::AtYear);
    }
    found
}

/// What may follow a date's year.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// Anything but another digit: a date is never inside a longer number.
    AtYear,
    /// Also a count of one or two digits and a word, glued on by a crawler: a month written out
    /// leaves no doubt where the year ends ("Mar 27, 20255 mins", "January 14, 202620 Mins Read").
    BeforeGluedCount,
}

/// Written dates end at their year, even when a crawler glued the next word on ("2020November"),
/// but never inside a longer number (`Ends`).
fn push(found: &mut Vec<FoundDate>, line: &str, captures: &regex::Captures<'_>, date: Option<NaiveDate>, ends: Ends) {
    let whole = captures.get(0).expect("group 0 always matches");
    let after = &line[whole.end()..];
    if after.starts_with(|c: char| c.is_ascii_digit()) && !(ends == Ends::BeforeGluedCount && is_glued_count(after)) {
        return;
    }
    if let Some(date) = date {
        found.push(FoundDate { date, start: whole.start(), end: whole.end() });
    }
}

/// A numeric date joined by a hyphen, underscore or full stop to the rest of a name: an image's or a file's
/// ("[Captura-de-pantalla-2025-11-12-190329-768x436]"), which says when a screenshot was taken,
/// not when the page was published.
fn is_in_file_name(line: &str, captures: &regex::Captures<'_>) -> bool {
    let whole = captures.get(0).expect("group 0 always matches");
    joins_name(line[..whole.start()].chars().rev()) || joins_name(line[whole.end()..].chars())
}

/// Whether `chars`, read away from a date, are a hyphen, underscore or full stop and then a letter
/// or digit ("2025.05.19.NCHS_-30", a photo's name).
fn joins_name(mut chars: impl Iterator<Item = char>) -> bool {
    matches!(chars.next(), Some('-' | '_' | '.')) && chars.next().is_some_and(char::is_alphanumeric)
}

/// One or two digits, then a word: "5 mins", "20 Mins Read", "4Comments".
fn is_glued_count(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&digits) && text[digits..].trim_start_matches(' ').starts_with(char::is_alphabetic)
}

fn ymd(year: &str, month: &str, day: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// A month's number from its name, full or short, in any case ("Sept", "OCTOBER").
pub fn month_number(name: &str) -> Option<u32> {
    let prefix: String = name.to_lowercase().chars().take(3).collect();
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    months.iter().position(|m| *m == prefix).map(|i| i as u32 + 1)
}

const MAX_DATE_LINE_WORDS: usize = 10;

/// Words that introduce a publication date on a line of its own.
const DATE_LEAD_INS: [&str; 10] =
    ["published", "updated", "posted", "last updated", "date", "on", "first published", "modified", "by", "at"];

/// Weekday names, full and short, that may stand before a date ("Friday, December 19, 2025").
const WEEKDAYS: [&str; 14] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
];

/// A line that says nothing but a date ("September 30, 2016", "Published 29 September 2016",
/// "Updated: 30/09/2016 10:12 GMT").
pub fn is_date_line(line: &str) -> bool {
    // A date, a lead-in word and perhaps a time: never a long line.
    if !has_at_most_words(line, MAX_DATE_LINE_WORDS) {
        return false;
    }
    let Some(found) = find_date(line) else { return false };
    let lowered = line[..found.start].trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    let before = WEEKDAYS.iter().find_map(|day| lowered.strip_suffix(day)).unwrap_or(&lowered);
    let before = before.trim_end_matches(|c: char| !c.is_alphanumeric());
    let after = &line[found.end..];
    let lead_in_ok = before.is_empty() || DATE_LEAD_INS.contains(&before);
    let rest_words = after
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .filter(|w| {
            !matches!(
                w.to_lowercase().trim_matches(|c: char| !c.is_alphabetic()),
                "am" | "pm" | "gmt" | "utc" | "et" | "est" | "edt" | "bst" | "cet" | "at"
            )
        })
        .count();
    lead_in_ok && rest_words == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    proptest::proptest! {
        /// The strided scan finds a year exactly where four digits stand in a row.
        #[test]
        fn a_year_is_four_digits_in_a_row(line in "[0-9a ]{0,24}") {
            let in_a_row = line.as_bytes().windows(4).any(|w| w.iter().all(u8::is_ascii_digit));
            proptest::prop_assert_eq!(has_year(&line), in_a_row);
        }
    }

    #[test]
    fn a_pages_written_dates_settle_which_number_of_a_numeric_date_is_the_day() {
        assert_eq!(find_date("8/1/2025").unwrap().date, date(2025, 8, 1));
        assert_eq!(find_date("01.08.2025").unwrap().date, date(2025, 8, 1));
        let british = DayOrder::of_lines(["An introduction to the wines of Romania - 31 January 2023", "03/10/2023"]);
        assert_eq!(british, DayOrder::DayFirst);
        assert_eq!(find_date_in("03/10/2023", british).unwrap().date, date(2023, 10, 3));
        let american = DayOrder::of_lines(["Posted January 31, 2023"]);
        assert_eq!(find_date_in("03/10/2023", american).unwrap().date, date(2023, 3, 10));
        assert_eq!(find_date_in("03.10.2023", american).unwrap().date, date(2023, 10, 3));
        assert_eq!(find_date_in("13/10/2023", american).unwrap().date, date(2023, 10, 13));
    }

    #[test]
    fn the_written_forms_of_a_date_are_read() {
        assert_eq!(find_date(" date 2016-09-30 You are here").unwrap().date, date(2016, 9, 30));
        assert_eq!(find_date("September 30, 2016").unwrap().date, date(2016, 9, 30));
        assert_eq!(find_date("Published 29 September 2016").unwrap().date, date(2016, 9, 29));
        assert_eq!(find_date("30/09/2016").unwrap().date, date(2016, 9, 30));
        assert_eq!(find_date("02-12-2025").unwrap().date, date(2025, 12, 2));
        assert_eq!(find_date("25.06.2019").unwrap().date, date(2019, 6, 25));
        assert_eq!(find_date("2022-11-23T08:10+02:00").unwrap().date, date(2022, 11, 23));
        assert!(find_date("2022-11-23T0810").is_none());
        assert_eq!(find_date("09/30/2016").unwrap().date, date(2016, 9, 30));
        assert_eq!(find_date("Sept. 19, 2016").unwrap().date, date(2016, 9, 19));
        assert!(find_date("on Sept. 19, the ceasefire").is_none());
        assert!(find_date("2016-02-30").is_none());
        assert_eq!(find_date("Posted on June 29, 2020November 12, 2021").unwrap().date, date(2020, 6, 29));
        assert!(find_date("September 30, 20161").is_none());
        assert_eq!(find_date("By Kathryn GiuffridaMar 5, 2025 | 6 comments").unwrap().date, date(2025, 3, 5));
        assert!(find_date("the summer 5, 2025").is_none());
        assert_eq!(find_date("EcoFlow- 2025/4/29").unwrap().date, date(2025, 4, 29));
        assert_eq!(find_date("Published: 2025.12.17 | essays").unwrap().date, date(2025, 12, 17));
        assert!(find_date("2025/12.17").is_none());
        assert_eq!(find_date("Updated on 19-Dec-2025").unwrap().date, date(2025, 12, 19));
        assert_eq!(find_date("Published on 25.Jun.2019 in Vol 7").unwrap().date, date(2019, 6, 25));
        assert_eq!(find_date("📅Jul. 11. 2025").unwrap().date, date(2025, 7, 11));
        assert_eq!(
            find_date("Mental HealthDECEMBER 22, 2022Updated: JANUARY 02, 2026").unwrap().date,
            date(2022, 12, 22)
        );
    }

    #[test]
    fn a_date_in_a_file_name_is_not_a_date_the_page_states() {
        assert!(find_date("[Captura-de-pantalla-2025-11-12-190329-768x436]PhotoBrand").is_none());
        assert!(find_date("[screenshot_2025/11/12]").is_none());
        assert!(find_date("2025.05.19.NCHS_-30").is_none());
        assert_eq!(find_date("Published 2025-11-12 - updated").unwrap().date, date(2025, 11, 12));
        assert_eq!(find_date("Published 2025.11.12. Updated").unwrap().date, date(2025, 11, 12));
    }

    #[test]
    fn a_day_glued_to_the_lowercase_word_before_it_is_read() {
        assert_eq!(find_date("date12 Nov 2025").unwrap().date, date(2025, 11, 12));
        assert_eq!(find_date("Yucy3/4/2025").unwrap().date, date(2025, 3, 4));
        // A capital or a digit before it is another word's end: a model or a longer number.
        assert!(find_date("COVID19 Nov 2025").is_none());
        assert!(find_date("v113/4/2025").is_none());
    }

    #[test]
    fn a_count_glued_to_a_written_dates_year_is_not_part_of_it() {
        assert_eq!(find_date("Mar 27, 20255 mins").unwrap().date, date(2025, 3, 27));
        assert_eq!(find_date("By Conor AllisonJanuary 14, 202620 Mins Read").unwrap().date, date(2026, 1, 14));
        assert_eq!(find_date("May 2nd 202511 mins").unwrap().date, date(2025, 5, 2));
        assert!(find_date("September 30, 20161").is_none());
        assert!(find_date("September 30, 2016123 views").is_none());
        assert!(find_date("30/09/20165 mins").is_none());
    }

    #[test]
    fn date_lines_hold_a_date_and_nothing_else() {
        assert!(is_date_line("September 30, 2016"));
        assert!(is_date_line("Published 29 September 2016"));
        assert!(is_date_line("Updated: 30/09/2016 10:12 GMT"));
        assert!(is_date_line("• February 10, 2025"));
        assert!(is_date_line("Friday, December 19, 2025 at 13:01"));
        assert!(!is_date_line("Syrian forces are seen on September 28, 2016 in the Farafira district"));
    }
}
