//! The enrolment QR code, drawn on the server as inline SVG (the pages run no script): the
//! `qrcode` crate computes the modules, this file writes one `<path>` of unit squares.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone around the code (ISO/IEC 18004 asks for four).
const QUIET: usize = 4;

/// An `<svg>` element showing `text` as a QR code, or `None` if it does not fit one.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    let mut path = String::with_capacity(colors.len() * 4);
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    // `label` goes into an attribute: only the characters that cannot end it are kept.
    let label: String = label
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '&'))
        .collect();
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"220\" \
         height=\"220\" role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use super::*;

    #[test]
    fn a_key_uri_becomes_one_svg_of_unit_squares() {
        let uri = "otpauth://totp/Latch:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Latch";
        let svg = svg(uri, "QR code \"<x>\"").unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("aria-label=\"QR code x\""), "{svg}");
        assert_eq!(svg.matches('<').count(), 4, "svg, rect, path, /svg: {svg}");
        assert!(svg.contains("M4 4h1v1h-1z"), "the finder pattern's corner");
    }
}
