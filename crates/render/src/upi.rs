//! Payment by UPI from a printed paper: the `upi://pay` link for the exact sum due, and the
//! link as a QR code drawn in inline SVG (squares of one path; no image, font or script), so
//! that any UPI app can scan it off the page.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use vasooli_domain::Money;

/// `upi://pay?pa=VPA&pn=NAME&am=AMOUNT&cu=INR&tn=ACCOUNT_NO`, with the payee's name and the
/// note percent-encoded. The address is written as it is: the policy admits only letters,
/// digits, `.`, `-`, `_` and the one `@`.
pub fn pay_link(vpa: &str, payee: &str, amount: Money, account_no: &str) -> String {
    format!(
        "upi://pay?pa={vpa}&pn={}&am={amount}&cu=INR&tn={}",
        percent_encode(payee),
        percent_encode(account_no)
    )
}

/// Every byte but the unreserved characters of RFC 3986 as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The link as a QR code: an `<svg>` element with a quiet zone, sized by the page's style
/// (class `upi-qr`). Error correction M, which survives a fold or a smudge on paper.
pub fn qr_svg(link: &str) -> String {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
        .expect("a UPI link is far shorter than a QR code's capacity");
    let image = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // Inline in HTML: no XML declaration; the page's style gives the size.
    let start = image.find("<svg").unwrap_or(0);
    image[start..].replacen("<svg ", "<svg class=\"upi-qr\" role=\"img\" ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_names_payee_amount_and_account() {
        let link = pay_link(
            "upcl.bill@sbi",
            "Uttarakhand Power Corporation Ltd.",
            Money::from_paise(203_125),
            "A1",
        );
        assert_eq!(
            link,
            "upi://pay?pa=upcl.bill@sbi&pn=Uttarakhand%20Power%20Corporation%20Ltd.\
             &am=2031.25&cu=INR&tn=A1"
        );
        assert_eq!(percent_encode("a&b=c d"), "a%26b%3Dc%20d");
        assert_eq!(percent_encode("ऊ"), "%E0%A4%8A");
    }

    #[test]
    fn the_code_is_an_inline_svg() {
        let svg = qr_svg("upi://pay?pa=a@b&pn=X&am=1.00&cu=INR&tn=A1");
        assert!(svg.starts_with("<svg class=\"upi-qr\""), "{svg}");
        assert!(!svg.contains("<?xml"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("viewBox"), "{svg}");
    }
}
