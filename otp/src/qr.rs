//! QR codes of key URIs for enrolment (feature `qr`).

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

use crate::{Error, KeyUri};

impl KeyUri {
    fn qr(&self) -> Result<QrCode, Error> {
        let text = zeroize::Zeroizing::new(self.to_uri_string());
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|_| Error::QrCapacity)
    }

    /// The URI as an SVG QR code, at least `size` pixels square, with a quiet zone.
    pub fn to_qr_svg(&self, size: u32) -> Result<String, Error> {
        Ok(self
            .qr()?
            .render::<svg::Color<'_>>()
            .min_dimensions(size, size)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build())
    }

    /// The URI as a QR code of Unicode half blocks, two modules a character, for a terminal
    /// with a dark background (light modules are drawn, dark ones left blank).
    pub fn to_qr_terminal(&self) -> Result<String, Error> {
        Ok(self
            .qr()?
            .render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use crate::{KeyUri, Secret};

    #[test]
    fn renders() {
        let uri = KeyUri::totp(Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap(), "alice")
            .unwrap()
            .with_issuer("Example");
        let svg = uri.to_qr_svg(200).unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("<svg"));
        let term = uri.to_qr_terminal().unwrap();
        assert!(term.lines().count() > 10);
        assert!(term.contains('▀') || term.contains('▄') || term.contains('█'));
        // Different secrets give different codes.
        let other = KeyUri::totp(Secret::from_base32("MZXW6YTBOI").unwrap(), "alice").unwrap();
        assert_ne!(other.to_qr_terminal().unwrap(), term);
    }

    #[test]
    fn too_long_for_a_qr_code() {
        let uri = KeyUri::totp(Secret::from_bytes(&[7; 20]).unwrap(), &"a".repeat(3000)).unwrap();
        assert_eq!(uri.to_qr_svg(100), Err(crate::Error::QrCapacity));
    }
}
