//! Indian mobile numbers: ten digits starting 6 to 9, optionally written with `+91`, `91` or
//! `0` in front and with spaces or dashes. The stored form is the bare ten digits.

pub fn normalize_mobile(text: &str) -> Result<String, String> {
    let compact: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let digits = if let Some(rest) = compact.strip_prefix("+91") {
        rest
    } else if compact.len() == 12 && compact.starts_with("91") {
        &compact[2..]
    } else if compact.len() == 11 && compact.starts_with('0') {
        &compact[1..]
    } else {
        compact.as_str()
    };
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` is not a 10-digit mobile number"));
    }
    if !matches!(digits.as_bytes()[0], b'6'..=b'9') {
        return Err(format!("`{text}` does not start with 6, 7, 8 or 9"));
    }
    Ok(digits.to_string())
}

/// A mobile number with all but its last two digits hidden, for logs and messages.
pub fn mask_mobile(mobile: &str) -> String {
    let visible = mobile.len().saturating_sub(2);
    format!("{}{}", "x".repeat(visible), &mobile[visible..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_spellings() {
        for text in [
            "9876543210",
            "+91 98765 43210",
            "919876543210",
            "09876543210",
            "98765-43210",
        ] {
            assert_eq!(normalize_mobile(text).unwrap(), "9876543210", "{text}");
        }
    }

    #[test]
    fn rejects_others_with_a_reason() {
        assert!(normalize_mobile("5876543210")
            .unwrap_err()
            .contains("6, 7, 8 or 9"));
        assert!(normalize_mobile("98765").unwrap_err().contains("10-digit"));
        assert!(normalize_mobile("+1 9876543210").is_err());
        assert!(normalize_mobile("98765432a0").is_err());
        assert_eq!(mask_mobile("9876543210"), "xxxxxxxx10");
    }
}
