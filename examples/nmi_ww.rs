use modrepro::analysis::multiinfo::{Normalisation, normalised_multiinformation};
use modrepro::data::what_where::*;
fn main() {
    let nmi = |d: WhatWhereData| normalised_multiinformation(&samples(&counts(9, d)), Normalisation::ByMaxAttainable);
    for c in 1..=9 {
        println!("corner {c}: {:.4}", nmi(WhatWhereData::Corner { cut: c }));
    }
    for e in [1, 2, 4, 8, 16] {
        println!("corr {e}: {:.4}", nmi(WhatWhereData::Corr { extra: e }));
    }
    for r in 0..4 {
        println!("diag {r}: {:.4}", nmi(WhatWhereData::Diag { radius: r }));
    }
}
