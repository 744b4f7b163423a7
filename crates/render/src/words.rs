//! Amounts as a court paper writes them: in figures with the rupee sign and Indian digit
//! grouping (`₹ 1,68,897.93`: thousands, then lakhs and crores in twos), and in words in
//! English and in Hindi, by the Indian system (crore, lakh, thousand, hundred), rupees and
//! paise, closing with "Only" / "मात्र". Dates as `DD-MM-YYYY`.

use chrono::NaiveDate;
use vasooli_domain::Money;

/// `₹ 1,68,897.93`.
pub fn rupees(amount: Money) -> String {
    format!("₹ {}", grouped(amount))
}

/// `1,68,897.93`: the last three digits of the rupees, then groups of two.
pub fn grouped(amount: Money) -> String {
    let sign = if amount.paise() < 0 { "-" } else { "" };
    let paise = amount.paise().unsigned_abs();
    let digits = (paise / 100).to_string();
    let mut out = String::new();
    let (head, last3) = digits.split_at(digits.len().saturating_sub(3));
    let head: Vec<char> = head.chars().collect();
    for (i, c) in head.iter().enumerate() {
        if i > 0 && (head.len() - i).is_multiple_of(2) {
            out.push(',');
        }
        out.push(*c);
    }
    if !head.is_empty() {
        out.push(',');
    }
    out.push_str(last3);
    format!("{sign}{out}.{:02}", paise % 100)
}

/// `DD-MM-YYYY`.
pub fn date(day: NaiveDate) -> String {
    day.format("%d-%m-%Y").to_string()
}

const ONES_EN: [&str; 20] = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
];
const TENS_EN: [&str; 10] = [
    "", "", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety",
];

/// 1 to 99 in English: `Sixty-Eight`.
fn below_hundred_en(n: u64) -> String {
    debug_assert!(n < 100);
    match n {
        0..=19 => ONES_EN[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS_EN[(n / 10) as usize].to_string(),
        _ => format!(
            "{}-{}",
            TENS_EN[(n / 10) as usize],
            ONES_EN[(n % 10) as usize]
        ),
    }
}

/// 0 to 99 in Hindi, each number its own word.
const HINDI_0_99: [&str; 100] = [
    "शून्य",
    "एक",
    "दो",
    "तीन",
    "चार",
    "पाँच",
    "छह",
    "सात",
    "आठ",
    "नौ",
    "दस",
    "ग्यारह",
    "बारह",
    "तेरह",
    "चौदह",
    "पंद्रह",
    "सोलह",
    "सत्रह",
    "अठारह",
    "उन्नीस",
    "बीस",
    "इक्कीस",
    "बाईस",
    "तेईस",
    "चौबीस",
    "पच्चीस",
    "छब्बीस",
    "सत्ताईस",
    "अट्ठाईस",
    "उनतीस",
    "तीस",
    "इकतीस",
    "बत्तीस",
    "तैंतीस",
    "चौंतीस",
    "पैंतीस",
    "छत्तीस",
    "सैंतीस",
    "अड़तीस",
    "उनतालीस",
    "चालीस",
    "इकतालीस",
    "बयालीस",
    "तैंतालीस",
    "चवालीस",
    "पैंतालीस",
    "छियालीस",
    "सैंतालीस",
    "अड़तालीस",
    "उनचास",
    "पचास",
    "इक्यावन",
    "बावन",
    "तिरेपन",
    "चौवन",
    "पचपन",
    "छप्पन",
    "सत्तावन",
    "अट्ठावन",
    "उनसठ",
    "साठ",
    "इकसठ",
    "बासठ",
    "तिरसठ",
    "चौंसठ",
    "पैंसठ",
    "छियासठ",
    "सड़सठ",
    "अड़सठ",
    "उनहत्तर",
    "सत्तर",
    "इकहत्तर",
    "बहत्तर",
    "तिहत्तर",
    "चौहत्तर",
    "पचहत्तर",
    "छिहत्तर",
    "सतहत्तर",
    "अठहत्तर",
    "उनासी",
    "अस्सी",
    "इक्यासी",
    "बयासी",
    "तिरासी",
    "चौरासी",
    "पचासी",
    "छियासी",
    "सत्तासी",
    "अट्ठासी",
    "नवासी",
    "नब्बे",
    "इक्यानवे",
    "बानवे",
    "तिरानवे",
    "चौरानवे",
    "पचानवे",
    "छियानवे",
    "सत्तानवे",
    "अट्ठानवे",
    "निन्यानवे",
];

/// The scale words of the Indian system, largest first: (size, English, Hindi).
const SCALES: [(u64, &str, &str); 4] = [
    (10_000_000, "Crore", "करोड़"),
    (100_000, "Lakh", "लाख"),
    (1_000, "Thousand", "हज़ार"),
    (100, "Hundred", "सौ"),
];

/// A whole number above zero in words, by the Indian system; a count of crores above 99 is
/// itself written in lakhs and thousands (`One Lakh Crore`).
fn number_words(n: u64, hindi: bool) -> String {
    debug_assert!(n > 0);
    let mut parts: Vec<String> = Vec::new();
    let mut rest = n;
    for (size, en, hi) in SCALES {
        let count = rest / size;
        if count == 0 {
            continue;
        }
        rest %= size;
        let count_words = if count >= 100 {
            number_words(count, hindi)
        } else if hindi {
            HINDI_0_99[count as usize].to_string()
        } else {
            below_hundred_en(count)
        };
        parts.push(format!("{count_words} {}", if hindi { hi } else { en }));
    }
    if rest > 0 {
        parts.push(if hindi {
            HINDI_0_99[rest as usize].to_string()
        } else {
            below_hundred_en(rest)
        });
    }
    parts.join(" ")
}

/// `Rupees One Lakh Sixty-Eight Thousand Eight Hundred Ninety-Seven and Ninety-Three Paise
/// Only`. Zero rupees with paise is `Rupees Zero and Fifty Paise Only`; no paise, `Rupees Ten
/// Only`.
pub fn in_words_en(amount: Money) -> String {
    let paise = amount.paise().unsigned_abs();
    let (rupees, paise) = (paise / 100, paise % 100);
    let minus = if amount.paise() < 0 { "Minus " } else { "" };
    let rupee_words = if rupees == 0 {
        "Zero".to_string()
    } else {
        number_words(rupees, false)
    };
    if paise == 0 {
        format!("{minus}Rupees {rupee_words} Only")
    } else {
        format!(
            "{minus}Rupees {rupee_words} and {} Paise Only",
            below_hundred_en(paise)
        )
    }
}

/// `एक लाख अड़सठ हज़ार आठ सौ सत्तानवे रुपये और तिरानवे पैसे मात्र`. One rupee is `एक रुपया`;
/// zero rupees with paise is just the paise (`पचास पैसे मात्र`); nothing is `शून्य रुपये मात्र`.
pub fn in_words_hi(amount: Money) -> String {
    let paise = amount.paise().unsigned_abs();
    let (rupees, paise) = (paise / 100, paise % 100);
    let minus = if amount.paise() < 0 { "ऋण " } else { "" };
    let rupee_part = match rupees {
        0 if paise > 0 => None,
        0 => Some("शून्य रुपये".to_string()),
        1 => Some("एक रुपया".to_string()),
        n => Some(format!("{} रुपये", number_words(n, true))),
    };
    let paise_part = (paise > 0).then(|| format!("{} पैसे", HINDI_0_99[paise as usize]));
    match (rupee_part, paise_part) {
        (Some(r), Some(p)) => format!("{minus}{r} और {p} मात्र"),
        (Some(r), None) => format!("{minus}{r} मात्र"),
        (None, Some(p)) => format!("{minus}{p} मात्र"),
        (None, None) => unreachable!("zero has its rupee part"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    #[test]
    fn figures_are_grouped_the_indian_way() {
        for (amount, want) in [
            ("0", "0.00"),
            ("7.5", "7.50"),
            ("999.99", "999.99"),
            ("1000", "1,000.00"),
            ("1500", "1,500.00"),
            ("12345.6", "12,345.60"),
            ("168897.93", "1,68,897.93"),
            ("1000000", "10,00,000.00"),
            ("12345678.9", "1,23,45,678.90"),
            ("123456789012.34", "1,23,45,67,89,012.34"),
            ("-2031.25", "-2,031.25"),
        ] {
            assert_eq!(grouped(m(amount)), want, "{amount}");
        }
        assert_eq!(rupees(m("168897.93")), "₹ 1,68,897.93");
    }

    #[test]
    fn dates_are_day_month_year() {
        let day = NaiveDate::from_ymd_opt(2026, 8, 5).unwrap();
        assert_eq!(date(day), "05-08-2026");
    }

    #[test]
    fn amounts_in_english_words() {
        for (amount, want) in [
            (
                "168897.93",
                "Rupees One Lakh Sixty-Eight Thousand Eight Hundred Ninety-Seven and \
                 Ninety-Three Paise Only",
            ),
            ("0", "Rupees Zero Only"),
            ("0.50", "Rupees Zero and Fifty Paise Only"),
            ("1", "Rupees One Only"),
            ("15", "Rupees Fifteen Only"),
            ("100", "Rupees One Hundred Only"),
            ("1500", "Rupees One Thousand Five Hundred Only"),
            (
                "2031.25",
                "Rupees Two Thousand Thirty-One and Twenty-Five Paise Only",
            ),
            ("100000", "Rupees One Lakh Only"),
            ("10000000", "Rupees One Crore Only"),
            (
                "12345678.09",
                "Rupees One Crore Twenty-Three Lakh Forty-Five Thousand Six Hundred \
                 Seventy-Eight and Nine Paise Only",
            ),
            ("1000000000000", "Rupees One Lakh Crore Only"),
            ("2500100000", "Rupees Two Hundred Fifty Crore One Lakh Only"),
            ("-20", "Minus Rupees Twenty Only"),
        ] {
            assert_eq!(in_words_en(m(amount)), want, "{amount}");
        }
    }

    #[test]
    fn amounts_in_hindi_words() {
        for (amount, want) in [
            (
                "168897.93",
                "एक लाख अड़सठ हज़ार आठ सौ सत्तानवे रुपये और तिरानवे पैसे मात्र",
            ),
            ("0", "शून्य रुपये मात्र"),
            ("0.50", "पचास पैसे मात्र"),
            ("1", "एक रुपया मात्र"),
            ("1.05", "एक रुपया और पाँच पैसे मात्र"),
            ("1500", "एक हज़ार पाँच सौ रुपये मात्र"),
            ("2031.25", "दो हज़ार इकतीस रुपये और पच्चीस पैसे मात्र"),
            (
                "99999.99",
                "निन्यानवे हज़ार नौ सौ निन्यानवे रुपये और निन्यानवे पैसे मात्र",
            ),
            ("10000000", "एक करोड़ रुपये मात्र"),
            ("3245000", "बत्तीस लाख पैंतालीस हज़ार रुपये मात्र"),
            (
                "12345678",
                "एक करोड़ तेईस लाख पैंतालीस हज़ार छह सौ अठहत्तर रुपये मात्र",
            ),
        ] {
            assert_eq!(in_words_hi(m(amount)), want, "{amount}");
        }
    }

    /// Every number from 1 to 99 has its own Hindi word, none repeated.
    #[test]
    fn the_hindi_numbers_are_all_distinct() {
        let mut words: Vec<&str> = HINDI_0_99.to_vec();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), 100);
    }
}
