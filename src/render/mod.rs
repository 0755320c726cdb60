//! Turning summaries into files: figures (PNG, SVG), tables (CSV), manifests and the report.

pub mod figure;
pub mod font;
pub mod html;
pub mod report;
pub mod table;
