//! The one font every plot uses, carried in the binary: a fresh machine may have no fonts at
//! all, and plotters without a registered font draws no text (or panics). DejaVu Sans's
//! licence (Bitstream Vera / public domain changes) allows redistribution.

use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

pub const FAMILY: &str = "sans-serif";

pub fn ensure_registered() {
    REGISTER.call_once(|| {
        plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans font is valid"));
    });
}
